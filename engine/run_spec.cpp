#include "engine/run_spec.h"

#include <cstdio>

#include "engine/fnv.h"
#include "engine/spec_reader.h"
#include "kernels/common.h"
#include "engine/learner_io.h"

namespace l2o {

// Limits on sizes (docs/reliability.md): allocations follow from them.
constexpr int64_t kMaxQuadraticValues = 100000000;  // W entries: 400 MB in float
constexpr int64_t kMaxBatch = 65536;
constexpr int64_t kMaxUnroll = 1000;
constexpr int64_t kMaxHorizon = 10000000;  // optimizee steps per epoch or rollout (a curve is kept per rollout)

ProblemConfig parse_problem(SpecNode node, std::string* name) {
  std::vector<std::string> types = problem_names();
  types.push_back("mlp");
  const std::string type = node.choice("type", "mlp_orig", types);
  *name = type;
  ProblemConfig c = type == "mlp" ? ProblemConfig{} : problem_config_by_name(type);
  if (c.kind == "quadratic") {
    c.quad_count = node.integer("count", c.quad_count, 1, 1 << 20);
    c.quad_dims = node.integer("dims", c.quad_dims, 1, 4096);
    if (c.quad_count * c.quad_dims * c.quad_dims > kMaxQuadraticValues)
      throw InputError(node.path() + ": count x dims x dims = " +
                       std::to_string(c.quad_count * c.quad_dims * c.quad_dims) + " matrix entries, more than the limit of " +
                       std::to_string(kMaxQuadraticValues));
  } else {
    if (type == "mlp") {  // a custom MLP: the named ones fix their architecture
      c.hidden = node.int_list("hidden", c.hidden, 1, 1 << 16);
      c.activation = node.choice("activation", c.activation, {"sigmoid", "relu", "tanh"});
      c.dataset = node.choice("dataset", c.dataset, {"mnist", "fashion_mnist"});
    }
    if (c.kind == "conv") {
      c.relu_logits = node.boolean("relu_logits", c.relu_logits);  // the authors' ReLU on logits
      c.learned_trains_bn = node.boolean("learned_trains_bn", c.learned_trains_bn);
    }
    c.batch_size = node.integer("batch_size", c.batch_size, 1, kMaxBatch);
    c.data_dir = node.string("data_dir", c.data_dir);
    c.split = node.choice("split", c.split, {"train", "test"});
  }
  c.init_std = node.number("init_std", c.init_std, 0.0, 10.0);
  node.finish();
  return c;
}

std::string spec_digest(const nlohmann::json& resolved) {
  nlohmann::json j = resolved;
  if (j.is_object()) {
    j.erase("git_commit");
    j.erase("ran_on");
  }
  return fnv1a_hex(j.dump());
}

static MetaOptimizerSpec parse_meta_optimizer(SpecNode m) {
  MetaOptimizerSpec s;
  const std::string type = m.choice("type", "adam", {"adam", "adam_torch", "rmsprop"});
  s.tf_form = type != "adam_torch";
  s.rmsprop = type == "rmsprop";
  s.lr = m.number("lr", s.lr, 1e-12, 1.0);
  if (s.rmsprop) {  // TF1's defaults; Adam's keys are unknown here (and these are for Adam)
    s.decay = m.number("decay", s.decay, 0.0, 0.999999);
    s.momentum = m.number("momentum", s.momentum, 0.0, 0.999999);
    s.eps = m.number("eps", 1e-10, 1e-30, 1.0);
  } else {
    s.beta1 = m.number("beta1", s.beta1, 0.0, 0.999999);
    s.beta2 = m.number("beta2", s.beta2, 0.0, 0.999999999);
    s.eps = m.number("eps", s.eps, 1e-30, 1.0);
  }
  m.finish();
  return s;
}

static HandOptimizerConfig parse_teacher(SpecNode t) {
  HandOptimizerConfig c;
  c.type = t.choice("type", "adam", hand_optimizer_names());
  c.lr = t.number("lr", 0.01, 1e-12, 1e3);
  c.momentum = t.number("momentum", c.momentum, 0.0, 0.999999);
  c.beta1 = t.number("beta1", c.beta1, 0.0, 0.999999);
  c.beta2 = t.number("beta2", c.beta2, 0.0, 0.999999999);
  c.eps = t.number("eps", c.eps, -1.0, 1.0);
  c.alpha = t.number("alpha", c.alpha, -1.0, 0.999999);  // -1: the rule's default
  t.finish();
  make_hand_optimizer(c);  // validates the combination now
  return c;
}

static void require_multiple(const SpecNode& node, const std::string& key, int64_t value, int64_t unroll) {
  if (value % unroll != 0)
    throw InputError(node.path() + "." + key + ": " + std::to_string(value) + " is not a multiple of unroll (" +
                     std::to_string(unroll) + ")");
}

RunSpec parse_run_spec(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides) {
  RunSpec s;
  s.resolved = parse_json_text(text, origin);
  if (!s.resolved.is_object()) throw InputError(origin + ": the spec must be a JSON object");
  for (const auto& o : overrides) apply_override(s.resolved, o);
  s.given = s.resolved;
  SpecNode root(s.resolved);
  s.seed = static_cast<uint64_t>(root.integer("seed", 0, 0, INT64_MAX));
  s.backend = root.choice("backend", "cpu", {"cpu", "cuda", "auto"});
  root.string("git_commit", "");  // informational: the commit that wrote a resolved spec
  root.string("ran_on", "");      // informational: the backend and device a resolved spec ran on
  s.problem = parse_problem(root.child("problem"), &s.problem_name);
  {
    SpecNode learner = root.child("learner");
    make_learner<float>(learner);  // validates now, so a bad learner fails before any output
    s.learner = learner.raw();
  }
  {
    SpecNode t = root.child("training");
    s.epochs = t.integer("epochs", s.epochs, 1, INT64_MAX);
    s.unroll = t.integer("unroll", s.unroll, 1, kMaxUnroll);
    s.n_train = t.integer("n_train", s.n_train, 1, kMaxHorizon);
    require_multiple(t, "n_train", s.n_train, s.unroll);
    s.meta_loss = t.choice("meta_loss", s.meta_loss, {"sum", "mean_log_ratio"});
    s.meta = parse_meta_optimizer(t.child("meta_optimizer"));
    s.clip_grad_norm = t.number("clip_grad_norm", s.clip_grad_norm, 0.0, 1e30);
    s.max_consecutive_failures = t.integer("max_consecutive_failures", s.max_consecutive_failures, 1, 1000000);
    s.random_scale = t.number("random_scale", s.random_scale, 0.0, 20.0);
    s.carry_learner_state = t.boolean("carry_learner_state", false);
    t.finish();
  }
  {
    SpecNode v = root.child("validation");
    s.valid_period = v.integer("period", s.valid_period, 1, INT64_MAX);
    s.n_valid = v.integer("n_valid", s.n_valid, 1, kMaxHorizon);
    s.rollouts = v.integer("rollouts", s.rollouts, 1, 100000);
    s.fresh_validation = v.choice("instances", "fresh", {"fresh", "fixed"}) == "fresh";
    v.finish();
  }
  {
    SpecNode im = root.child("imitation");
    ImitationSpec& i = s.imitation;
    i.enabled = im.boolean("enabled", false);
    i.ratio = im.number("ratio", i.ratio, 0.0, 1.0);
    i.ratio_per_stage = im.number_list("ratio_per_stage", i.ratio_per_stage, 0.0, 1.0);
    if (im.has("teachers")) {
      for (auto& t : im.children_array("teachers")) i.teachers.push_back(parse_teacher(t));
      if (i.teachers.empty()) throw InputError(im.path() + ".teachers: needs at least one teacher");
    } else {
      for (const char* type : {"adam", "sgd", "adagrad"}) {  // the supplement's ensemble, lr 0.01 each
        nlohmann::json t = {{"type", type}, {"lr", 0.01}};
        im.raw()["teachers"].push_back(t);
      }
      for (auto& t : im.children_array("teachers")) i.teachers.push_back(parse_teacher(t));
    }
    i.selection = im.choice("selection", i.selection, {"round_robin", "random"});
    i.omega = im.number("omega", i.omega, 0.0, 1e6);
    i.meta = parse_meta_optimizer(im.child("meta_optimizer"));
    i.share_meta_optimizer = im.boolean("share_meta_optimizer", false);
    im.finish();
  }
  {
    SpecNode c = root.child("curriculum");
    CurriculumSpec& cs = s.curriculum;
    cs.enabled = c.boolean("enabled", false);
    cs.config.n_train = c.int_list("n_train", cs.config.n_train, 1, kMaxHorizon);
    cs.config.n_valid = c.int_list("n_valid", cs.config.n_valid, 1, kMaxHorizon);
    cs.config.last_n_valid = c.integer("last_n_valid", cs.config.last_n_valid, 0, kMaxHorizon);
    cs.config.patience = c.integer("patience", cs.config.patience, 1, 1000000);
    cs.config.rule = c.choice("rule", cs.config.rule, {"authors", "consecutive"});
    cs.period = c.integer("period", cs.period, 1, INT64_MAX);
    if (cs.enabled) {  // a disabled curriculum's defaults constrain nothing
      for (int64_t v : cs.config.n_train) require_multiple(c, "n_train", v, s.unroll);
      Curriculum check(cs.config);  // validates lengths and values now
    }
    c.finish();
  }
  {
    SpecNode o = root.child("output");
    s.log_every = o.integer("log_every", s.log_every, 1, INT64_MAX);
    s.checkpoint_every = o.integer("checkpoint_every", s.checkpoint_every, 1, INT64_MAX);
    s.keep_validated = o.boolean("keep_validated", s.keep_validated);
    o.finish();
  }
  root.finish();
  return s;
}

}  // namespace l2o
