// The run spec of `l2o_train` (docs/spec.md documents every key): parsed strictly, with defaults
// written back so the run directory's spec.json is the complete, resolved configuration.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include "engine/curriculum.h"
#include "learners/hand_optimizers.h"
#include "optimizees/optimizee.h"

namespace l2o {

struct MetaOptimizerSpec {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool tf_form = true;  // "adam": TensorFlow's form, as the authors train; "adam_torch": PyTorch's
  // "rmsprop": TF1's RMSPropOptimizer, as the authors train L2O-Scale (ms from 1, eps inside the root).
  bool rmsprop = false;
  double decay = 0.9, momentum = 0.0;
};

// Imitation learning (REFERENCE.md section 5).
struct ImitationSpec {
  bool enabled = false;
  double ratio = 0.3;                             // probability that an epoch imitates (no curriculum)
  std::vector<double> ratio_per_stage = {0.0, 0.1, 0.3};  // under curriculum; the last value repeats
  std::vector<HandOptimizerConfig> teachers;      // default: adam, sgd, adagrad at lr 0.01
  std::string selection = "round_robin";          // round_robin | random
  double omega = 1.0;
  MetaOptimizerSpec meta;                         // its own Adam state
  bool share_meta_optimizer = false;              // step training.meta_optimizer and its state instead
  double ratio_for_stage(int64_t stage) const {
    if (ratio_per_stage.empty()) return ratio;
    return ratio_per_stage[std::min<size_t>(static_cast<size_t>(stage), ratio_per_stage.size() - 1)];
  }
};

struct CurriculumSpec {
  bool enabled = false;
  CurriculumConfig config;
  int64_t period = 100;  // T_period: epochs between validations
};

struct RunSpec {
  nlohmann::json resolved;     // the whole spec with every default filled in
  nlohmann::json given;        // the spec as read (after --set), before defaults: for a resumed run, spec.json
  uint64_t seed = 0;
  std::string backend = "cpu";
  ProblemConfig problem;
  std::string problem_name;    // as written in the spec, for logs and curves
  nlohmann::json learner;      // learner config (validated by make_learner)
  // training
  int64_t epochs = 5000, n_train = 100, unroll = 20;
  std::string meta_loss = "sum";  // "sum" | "mean_log_ratio" (engine/segment.h MetaObjective)
  MetaOptimizerSpec meta;
  double clip_grad_norm = 0;   // 0 = off
  int64_t max_consecutive_failures = 20;
  double random_scale = 0;     // the authors' rd_scale_bound when > 0 (engine/random_scale.h); 0 = off
  // Keep the learner's recurrent state from one epoch to the next while the optimizee is
  // re-initialised (the authors' L2O-Scale, metaopt.py:58, 489-492); false: zero it every epoch.
  bool carry_learner_state = false;
  ImitationSpec imitation;
  CurriculumSpec curriculum;
  // validation
  int64_t valid_period = 100, n_valid = 100, rollouts = 20;
  bool fresh_validation = true;  // validation.instances: "fresh" (new instances each time) | "fixed"
  // output
  int64_t log_every = 10, checkpoint_every = 10;
  // Keep the weights of every validation (checkpoints/validated/), so that they can be scored again at
  // another horizon afterwards (engine/rescore.h) instead of training again.
  bool keep_validated = false;
};

// Parses spec text (origin = file name for messages) after applying `--set` overrides.
// Throws InputError naming the JSON path of any problem.
RunSpec parse_run_spec(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides);

// A digest (64-bit FNV-1a, hex) of a spec's JSON without its informational keys (git_commit,
// ran_on). The training state records the digest of what spec.json holds (a new run's `resolved`,
// a resumed run's `given`), so a resume refuses an edited spec.json or another run's state, while
// defaults added by later engines do not change it.
std::string spec_digest(const nlohmann::json& resolved);

// The problem object of a spec: {"type": "mlp_orig"} or a full description.
ProblemConfig parse_problem(class SpecNode node, std::string* name);

}  // namespace l2o
