#include "engine/rule_factory.h"

#include "kernels/common.h"
#include "learners/hand_optimizers.h"
#include "learners/learned_rule.h"
#include "engine/learner_io.h"

namespace l2o {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

NamedRule make_update_rule(const std::string& name_or_path, double lr, Backend backend) {
  NamedRule r;
  if (ends_with(name_or_path, ".safetensors")) {
    LoadedLearner l = load_learner(name_or_path, backend);
    // Label: "l2o:<run dir name>/<file stem>" so curves from several runs stay apart.
    std::string stem = name_or_path.substr(0, name_or_path.size() - 12);
    const auto slash = stem.find_last_of('/');
    std::string file = slash == std::string::npos ? stem : stem.substr(slash + 1);
    std::string dir = slash == std::string::npos ? "" : stem.substr(0, slash);
    if (dir.size() >= 12 && dir.compare(dir.size() - 12, 12, "/checkpoints") == 0) dir.resize(dir.size() - 12);
    const auto dslash = dir.find_last_of('/');
    if (dslash != std::string::npos) dir = dir.substr(dslash + 1);
    r.label = "l2o:" + (dir.empty() ? file : dir + "/" + file);
    r.rule = std::make_unique<LearnedRule>(std::move(l.learner), std::move(l.phi), r.label);
    return r;
  }
  HandOptimizerConfig cfg;
  cfg.type = name_or_path;
  cfg.lr = lr > 0 ? lr : default_lr(name_or_path);
  r.rule = make_hand_optimizer(cfg, backend);
  r.label = r.rule->name();
  return r;
}

}  // namespace l2o
