// Hand-designed optimizers (SGD, momentum, NAG, Adam, Adagrad, RMSprop) as UpdateRules: the
// baselines every learned optimizer is compared against and the teachers for imitation.
// "adam", "adagrad" and "rmsprop" are TensorFlow 1's forms, as the authors' code runs them
// (docs/fidelity.md); "adam_torch", "adagrad_torch" and "rmsprop_torch" are PyTorch's.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "learners/update_rule.h"

namespace l2o {

struct HandOptimizerConfig {
  std::string type;     // one of hand_optimizer_names()
  double lr = -1;       // must be > 0; callers wanting the default use default_lr(type)
  double momentum = 0.9;  // momentum, nag: in [0, 1)
  double beta1 = 0.9, beta2 = 0.999;  // adam: in [0, 1)
  // adam*, adagrad_torch, rmsprop*: > 0, or -1 for the rule's default (adam 1e-8, adagrad_torch 1e-10,
  // rmsprop 1e-10, rmsprop_torch 1e-8); TF's adagrad has no epsilon.
  double eps = -1;
  double alpha = -1;    // rmsprop smoothing (TF's decay): in [0, 1), or -1 for the default (0.9; torch 0.99)
};

// A config with its defaults filled in and its ranges checked: what the CPU rules and their CUDA
// twins run. Throws l2o::InputError for an unknown type or an out-of-range hyperparameter.
struct HandOptimizerParams {
  std::string type;
  float lr = 0, momentum = 0, beta1 = 0, beta2 = 0, eps = 0, alpha = 0;
};
HandOptimizerParams resolve_hand_optimizer(const HandOptimizerConfig& cfg);

// The per-coordinate state a rule starts from: TF's Adagrad accumulator 0.1, TF's RMSProp ms 1.0,
// 0 otherwise (Adam's moments, momentum buffers, PyTorch's accumulators).
float hand_optimizer_initial_state(const std::string& type);

// Throws l2o::InputError for an unknown type or an out-of-range hyperparameter.
std::unique_ptr<UpdateRule> make_hand_optimizer(const HandOptimizerConfig& cfg);
// On the CUDA backend the rule's state and arithmetic live on the device (the _cuda twins of
// kernels/optim.h); g and u cross to it each step. Without CUDA that is an InputError.
std::unique_ptr<UpdateRule> make_hand_optimizer(const HandOptimizerConfig& cfg, Backend backend);
std::unique_ptr<UpdateRule> make_hand_optimizer_cuda(const HandOptimizerConfig& cfg);

// {"sgd", "momentum", "nag", "adam", "adagrad", "rmsprop", "adam_torch", "adagrad_torch", "rmsprop_torch"}
const std::vector<std::string>& hand_optimizer_names();

// A reasonable starting learning rate per type; throws l2o::InputError for an unknown type.
double default_lr(const std::string& type);

}  // namespace l2o
