#include "engine/learner_io.h"

#include <cmath>
#include <cstdint>

#include "engine/safetensors.h"
#include "kernels/common.h"
#include "kernels/l2o_dm_fused_math.h"
#include "learners/learner_factory.h"

namespace l2o {

namespace {

// Limits (docs/reliability.md): the CUDA kernels take at most 32 units, the CPU L2O-DM 256.
std::vector<int64_t> parse_hidden(SpecNode& node, int64_t max_layers) {
  std::vector<int64_t> h = node.int_list("hidden", {20, 20}, 1, 256);
  if (h.empty()) throw InputError(node.path() + ".hidden: needs at least one layer");
  if (static_cast<int64_t>(h.size()) > max_layers)
    throw InputError(node.path() + ".hidden: at most " + std::to_string(max_layers) + " layers, got " +
                     std::to_string(h.size()));
  return h;
}

L2oDmConfig parse_l2o_dm(SpecNode& node) {
  L2oDmConfig c;
  c.hidden = parse_hidden(node, 4);
  const std::string pre = node.choice("preprocess", "log_and_sign", {"log_and_sign", "identity"});
  c.log_k = node.number("log_k", 5.0, 1e-6, 100.0);
  if (pre == "identity") c.log_k = 0;
  c.output_scale = node.number("output_scale", 0.01, 1e-9, 1e3);
  c.forget_bias = node.number("forget_bias", 1.0, -100.0, 100.0);
  c.output_bias_zero = node.choice("output_bias_init", "zero", {"zero", "truncated_normal"}) == "zero";
  return c;
}

// The authors' RNNprop (train_rnnprop.py, util.py get_config "RNNprop"; docs/fidelity.md).
RnnpropConfig parse_rnnprop(SpecNode& node) {
  RnnpropConfig c;
  c.hidden = parse_hidden(node, 2);
  if (c.hidden.size() != 2) throw InputError(node.path() + ".hidden: RNNprop takes exactly 2 LSTM layers");
  for (int64_t h : c.hidden)
    if (h > kFusedMaxHidden)
      throw InputError(node.path() + ".hidden: RNNprop layers take at most " + std::to_string(kFusedMaxHidden) +
                       " units, got " + std::to_string(h));
  c.projection = node.integer("projection", 20, 1, kFusedMaxHidden);
  c.beta1 = node.number("beta1", 0.95, 0.0, 0.999999);
  c.beta2 = node.number("beta2", 0.95, 0.0, 0.999999);
  c.eps = node.number("eps", 1e-8, 1e-30, 1.0);
  c.output_scale = node.number("output_scale", 0.01, 1e-9, 1e3);
  c.forget_bias = node.number("forget_bias", 1.0, -100.0, 100.0);
  return c;
}

// The authors' L2O-Scale (hierarchical_rnn.py with metarun.py's flags; docs/l2o_scale.md). The
// initialiser keys keep the authors' flag names.
L2oScaleConfig parse_l2o_scale(SpecNode& node) {
  L2oScaleConfig c;
  c.hidden = node.int_list("hidden", {10, 20, 20}, 1, L2oScale<float>::kMaxHidden);
  if (c.hidden.size() != 3)
    throw InputError(node.path() + ".hidden: L2O-Scale takes exactly 3 levels (per parameter, per tensor, global)");
  c.min_lr = node.number("min_lr", 1e-6, 1e-30, 1e3);
  c.max_lr = node.number("max_lr", 1e-2, 1e-30, 1e3);
  if (c.min_lr > c.max_lr) throw InputError(node.path() + ".min_lr: greater than max_lr");
  c.max_log_lr = node.number("max_log_lr", 33.0, -33.0, 88.0);
  c.lr_init_seed = static_cast<uint64_t>(node.integer("lr_init_seed", 0, 0, INT64_MAX));
  c.biasgrucell_scale = node.number("biasgrucell_scale", 0.5, 0.0, 100.0);
  c.biasgrucell_gate_bias_init = node.number("biasgrucell_gate_bias_init", 2.2, -100.0, 100.0);
  c.hrnn_rnn_readout_scale = node.number("hrnn_rnn_readout_scale", 0.5, 0.0, 100.0);
  c.hrnn_default_decay_var_init = node.number("hrnn_default_decay_var_init", 2.2, -100.0, 100.0);
  c.scale_decay_bias_init = node.number("scale_decay_bias_init", 3.2, -100.0, 100.0);
  c.learning_rate_momentum_logit_init = node.number("learning_rate_momentum_logit_init", 3.2, -100.0, 100.0);
  c.hrnn_affine_scale = node.number("hrnn_affine_scale", 0.5, 0.0, 100.0);
  c.param_stepsize_offset_init = node.number("param_stepsize_offset_init", -1.0, -100.0, 100.0);
  return c;
}

}  // namespace

LearnerConfig parse_learner_config(SpecNode node) {
  LearnerConfig c;
  c.type = node.choice("type", "l2o_dm", {"l2o_dm", "rnnprop", "l2o_scale"});
  if (c.type == "l2o_dm")
    c.l2o_dm = parse_l2o_dm(node);
  else if (c.type == "l2o_scale")
    c.l2o_scale = parse_l2o_scale(node);
  else
    c.rnnprop = parse_rnnprop(node);
  node.finish();
  return c;
}

template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(SpecNode node, Backend backend) {
  return make_learner<T>(parse_learner_config(node), backend);
}

template std::unique_ptr<LearnerT<float>> make_learner<float>(SpecNode, Backend);
template std::unique_ptr<LearnerT<double>> make_learner<double>(SpecNode, Backend);

void save_learner(const std::string& path, const LearnerT<float>& learner, const std::vector<float>& phi,
                  const nlohmann::json& config, const std::map<std::string, std::string>& extra) {
  for (float x : phi)  // the last line of defence: a diverged learner is never written as a checkpoint
    if (!std::isfinite(x)) throw Error(path + ": refusing to write a learner checkpoint holding NaN or Inf");
  SafetensorsFile f;
  f.metadata = extra;
  f.metadata["format"] = "l2o-engine learner";
  f.metadata["learner"] = config.dump();
  for (const auto& b : learner.param_blocks()) {
    NamedTensor t{b.name, b.shape, std::vector<float>(phi.begin() + b.offset, phi.begin() + b.offset + b.size())};
    f.tensors.push_back(std::move(t));
  }
  save_safetensors(path, f);
}

LoadedLearner load_learner(const std::string& path, Backend backend) {
  SafetensorsFile f = load_safetensors(path);
  auto it = f.metadata.find("learner");
  if (f.metadata.count("format") == 0 || f.metadata.at("format") != "l2o-engine learner" || it == f.metadata.end())
    throw InputError(path + ": not an l2o-engine learner checkpoint (metadata \"format\"/\"learner\" missing)");
  LoadedLearner out;
  out.config = parse_json_text(it->second, path + " metadata \"learner\"");
  out.learner = make_learner<float>(SpecNode(out.config, "$.learner"), backend);
  for (const auto& kv : f.metadata) out.metadata[kv.first] = kv.second;
  out.phi.assign(out.learner->num_params(), 0.0f);
  for (const auto& b : out.learner->param_blocks()) {
    const NamedTensor* tp = nullptr;
    try {
      tp = &f.get(b.name);
    } catch (const InputError& e) {
      throw InputError(path + ": " + e.what() + ", which a " + out.learner->type() + " learner needs");
    }
    const NamedTensor& t = *tp;
    if (t.shape != b.shape) throw InputError(path + ": tensor \"" + b.name + "\" has the wrong shape for this learner");
    for (int64_t i = 0; i < b.size(); ++i) {
      if (!std::isfinite(t.data[i])) throw InputError(path + ": tensor \"" + b.name + "\" holds NaN or Inf");
      out.phi[b.offset + i] = t.data[i];
    }
  }
  if (f.tensors.size() != out.learner->param_blocks().size())
    throw InputError(path + ": unexpected extra tensors for a " + out.learner->type() + " learner");
  return out;
}

}  // namespace l2o
