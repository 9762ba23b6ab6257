// Meta-training of a learner on one problem (REFERENCE.md sections 2, 4, 5): epochs of n_train
// optimizee steps in truncated-BPTT segments, Adam on phi, optional imitation epochs and curriculum
// stages, validation keeping the best model, a guard against non-finite segments, and a run
// directory that can be resumed.
#pragma once
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/run_spec.h"
#include "learners/learner.h"

namespace l2o {

struct TrainerOptions {
  std::string run_dir;
  bool resume = false;      // continue from run_dir/checkpoints/state.safetensors
  bool progress_tty = false;  // redraw one progress line (stderr is a terminal)
  int64_t stop_after_epochs = -1;  // testing aid: stop (as if killed) after this many epochs of this process
  // Nonzero (a signal handler sets it) asks the run to stop at the next epoch boundary, after the
  // epoch and validation in progress, with a checkpoint: nothing trained is lost to the stop.
  const volatile std::sig_atomic_t* stop_request = nullptr;
  Backend backend = Backend::cpu;  // where the learner and optimizee run (resolved from spec.backend)
  // Validation rollouts run this many at once, one thread each (CPU backend); the scores, and so the
  // run, are the same bit for bit (engine/evaluate.h), which is why it is an option and not a spec key.
  int validation_jobs = 1;
};

struct TrainSummary {
  int64_t epochs_done = 0, meta_steps = 0, skipped_segments = 0;
  double best_score = 0;
  int64_t best_epoch = -1;
  double median_ms_per_meta_step = 0;  // over this process's timed meta-steps (a resume times only its own)
  int64_t timed_meta_steps = 0;         // how many: 0 when a resumed run had nothing left to do
  bool stopped_by_curriculum = false;
  bool stopped_on_request = false;  // *stop_request ended it before the last epoch (resumable)
  std::vector<float> phi;   // final weights
};

// A training run in two steps: the constructor builds everything that can fail on input (learner,
// optimizee and its data, teachers, size checks) and writes nothing; run() then trains.
class Trainer {
 public:
  Trainer(const RunSpec& spec, const TrainerOptions& options);
  ~Trainer();
  TrainSummary run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Trainer(spec, options).run(): runs (or resumes) the run described by `spec`. A new run writes spec.resolved as spec.json
// only after the learner, the optimizee (and its data) and the teachers are built, so a spec that
// fails on them writes nothing. Throws InputError for a bad run directory or resume mismatch,
// Error when training cannot continue (too many consecutive failures).
TrainSummary train(const RunSpec& spec, const TrainerOptions& options);

// The instance seeds of validation number `index` (0-based, counted over the run): fresh instances
// per validation by default (as the authors' code draws them), the same ones every time with
// validation.instances = "fixed". Derived from the run seed only, so a resumed run sees the same.
std::vector<uint64_t> validation_seeds(const RunSpec& spec, int64_t index);

// Validation score of phi: sum over the `rollouts` instances of validation `index` of the loss
// after n_valid steps (a diverged rollout scores +inf). score_se, when given, gets the score's
// standard error from the rollouts' spread, sqrt(rollouts) x their sample sd: how far another
// draw of instances could move the score (NaN with one rollout or a divergence).
// Where output.keep_validated keeps validation number `index`'s weights, under the run's checkpoints/:
// in the folder kValidatedDir (engine/rescore.h reads them there).
constexpr const char* kValidatedDir = "validated";
std::string validated_name(int64_t index);

// jobs > 1 runs the rollouts in parallel (evaluate()), the extra workers on learners from `more_learners`.
double validation_score(const RunSpec& spec, LearnerT<float>& learner, const std::vector<float>& phi,
                        int64_t n_valid, int64_t index, Backend backend = Backend::cpu, double* score_se = nullptr,
                        int jobs = 1, const std::function<std::unique_ptr<LearnerT<float>>()>& more_learners = nullptr);

}  // namespace l2o
