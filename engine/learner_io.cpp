#include "engine/learner_io.h"

#include <cmath>

#include "engine/safetensors.h"
#include "kernels/common.h"
#include "learners/learner_factory.h"

namespace l2o {

L2oDmConfig parse_learner_config(SpecNode node) {
  node.choice("type", "l2o_dm", {"l2o_dm"});
  L2oDmConfig c;
  // Limits (docs/reliability.md): the CUDA kernels take at most 32 units, the CPU learner 256.
  c.hidden = node.int_list("hidden", {20, 20}, 1, 256);
  if (c.hidden.empty()) throw InputError(node.path() + ".hidden: needs at least one layer");
  if (c.hidden.size() > 4) throw InputError(node.path() + ".hidden: at most 4 layers, got " + std::to_string(c.hidden.size()));
  const std::string pre = node.choice("preprocess", "log_and_sign", {"log_and_sign", "identity"});
  c.log_k = node.number("log_k", 5.0, 1e-6, 100.0);
  if (pre == "identity") c.log_k = 0;
  c.output_scale = node.number("output_scale", 0.01, 1e-9, 1e3);
  c.forget_bias = node.number("forget_bias", 1.0, -100.0, 100.0);
  c.output_bias_zero = node.choice("output_bias_init", "zero", {"zero", "truncated_normal"}) == "zero";
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
    const NamedTensor& t = f.get(b.name);
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
