// Hand-designed optimizers (SGD, momentum, NAG, Adam, Adagrad, RMSprop) as UpdateRules: the
// baselines every learned optimizer is compared against and the teachers for imitation.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "learners/update_rule.h"

namespace l2o {

struct HandOptimizerConfig {
  std::string type;     // one of hand_optimizer_names()
  double lr = -1;       // must be > 0; callers wanting the default use default_lr(type)
  double momentum = 0.9;  // momentum, nag: in [0, 1)
  double beta1 = 0.9, beta2 = 0.999;  // adam: in [0, 1)
  double eps = -1;      // adam, adagrad, rmsprop: > 0, or -1 for the rule's default (1e-8, 1e-10, 1e-8)
  double alpha = 0.99;  // rmsprop smoothing: in [0, 1)
};

// Throws l2o::InputError for an unknown type or an out-of-range hyperparameter.
std::unique_ptr<UpdateRule> make_hand_optimizer(const HandOptimizerConfig& cfg);

// {"sgd", "momentum", "nag", "adam", "adagrad", "rmsprop"}
const std::vector<std::string>& hand_optimizer_names();

// A reasonable starting learning rate per type; throws l2o::InputError for an unknown type.
double default_lr(const std::string& type);

}  // namespace l2o
