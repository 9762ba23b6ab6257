// Builds an UpdateRule from what a user names on the command line: a hand-designed optimizer
// ("adam") or a trained learner checkpoint ("runs/x/checkpoints/best.safetensors").
#pragma once
#include <memory>
#include <string>

#include "kernels/backend.h"
#include "learners/update_rule.h"

namespace l2o {

struct NamedRule {
  std::string label;  // for curves.csv and plots, e.g. "adam(lr=0.01)" or "l2o:best"
  std::unique_ptr<UpdateRule> rule;
};

// lr <= 0 means the optimizer's default learning rate (ignored for checkpoints). Learned and
// hand-designed optimizers alike run on `backend`.
NamedRule make_update_rule(const std::string& name_or_path, double lr, Backend backend = Backend::cpu);

}  // namespace l2o
