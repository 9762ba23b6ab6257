// One meta-iteration (DESIGN.md section 1), written once for the trainer, the benches and the
// GPU tests: a truncated-BPTT segment of the optimizee, on the meta-loss or imitating a teacher,
// then one meta-update of phi. An epoch is begin_epoch() and then n_train / unroll steps.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/run_spec.h"
#include "engine/segment.h"
#include "kernels/rng.h"
#include "learners/learner.h"
#include "learners/update_rule.h"
#include "optimizees/optimizee.h"

namespace l2o {

// Adam on the learner's weights (training.meta_optimizer: TensorFlow's or PyTorch's form) or TF1's
// RMSProp, with optional clipping by global norm. The two per-weight slots (Adam m, v; RMSProp mom,
// ms) and the step count live in the caller's state (TrainState keeps them for resume); RMSProp's
// ms starts at 1 (TF1's slot initialiser), set at the first step.
class MetaOptimizer {
 public:
  MetaOptimizer(const MetaOptimizerSpec& spec, double clip_grad_norm, std::vector<float>& m, std::vector<float>& v,
                int64_t& step);
  // phi -= Adam(g) or RMSProp(g) from a finite g (clipped in place first); returns g's norm before clipping.
  double apply(std::vector<float>& phi, std::vector<float>& g);

 private:
  MetaOptimizerSpec spec_;
  double clip_;
  std::vector<float>&m_, &v_;
  int64_t& step_;
};

struct MetaStepResult {
  bool finite = true;     // false: a loss, update or meta-gradient was NaN/Inf; phi was not touched
  double loss = 0;        // the segment's meta-loss (training.meta_loss) or imitation loss
  double final_loss = 0;  // the optimizee loss at the segment's last step
  double grad_norm = 0;   // the meta-gradient's norm before clipping (when finite)
};

class MetaStep {
 public:
  // `unroll` optimizee steps per segment; the learner is reset for the optimizee's size.
  MetaStep(LearnerT<float>& learner, OptimizeeT<float>& optimizee, int64_t unroll,
           MetaLossKind loss = MetaLossKind::sum);

  // A fresh optimizee instance and minibatch stream from `seed`, no f_init; the learner's state is
  // zeroed unless `keep_learner_state` (training.carry_learner_state).
  void begin_epoch(uint64_t seed, bool keep_learner_state = false);
  // One segment from the current theta and learner state (both carried on), then, if everything
  // was finite, meta.apply(phi, dphi). teacher null: the meta-loss; else the imitation loss
  // (omega/(2n) per step) of imitating `teacher`, which the caller resets at each epoch.
  MetaStepResult step(std::vector<float>& phi, MetaOptimizer& meta, UpdateRule* teacher = nullptr,
                      double omega = 1.0);

  int64_t unroll() const { return unroll_; }
  const std::vector<float>& theta() const { return theta_; }
  const std::vector<float>& dphi() const { return dphi_; }  // the last segment's meta-gradient

 private:
  LearnerT<float>& learner_;
  OptimizeeT<float>& opt_;
  int64_t unroll_;
  Rng batches_;
  MetaObjective objective_;  // f_init lives for an epoch
  std::vector<float> theta_, dphi_, dl_du_, u_, delta_, gbuf_;  // workspaces sized once
};

}  // namespace l2o
