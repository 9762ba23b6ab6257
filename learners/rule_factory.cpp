#include "learners/rule_factory.h"

#include "kernels/common.h"
#include "learners/hand_optimizers.h"

namespace l2o {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

NamedRule make_update_rule(const std::string& name_or_path, double lr) {
  NamedRule r;
  if (ends_with(name_or_path, ".safetensors")) {
    throw InputError("learned optimizers are not available yet: " + name_or_path);
  }
  HandOptimizerConfig cfg;
  cfg.type = name_or_path;
  cfg.lr = lr > 0 ? lr : default_lr(name_or_path);
  r.rule = make_hand_optimizer(cfg);
  r.label = r.rule->name();
  return r;
}

}  // namespace l2o
