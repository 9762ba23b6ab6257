// A run's kept validation weights (output.keep_validated) scored again at another horizon. For a run
// without a curriculum, training never depends on its validations (they draw their own instances),
// so the best of these scores is the model a run of the same spec validating at that horizon would
// have picked, without training again: Figure A1's settings with one N_train share their training.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/run_spec.h"

namespace l2o {

struct RescoredValidation {
  int64_t index = 0, epoch = 0;  // the validation's number in the run (its instances) and epoch
  std::string path;              // the kept weights
  double logged_score = 0;       // what the run scored them at its own horizon
  double score = 0, score_se = 0;  // at the new horizon (+inf: a rollout diverged; se NaN then)
  bool improved = false;         // a new best by the trainer's rule (strictly lower than all before)
};

struct Rescore {
  std::vector<RescoredValidation> validations;  // in validation order
  int64_t best = -1;                            // the picked one's position; -1: every score was +inf
};

// Scores every kept validation of the run in run_dir (spec: its spec.json) after n_valid steps, on the
// instances the run drew for that validation, `rollouts` of them (0: the spec's). jobs: rollouts at
// once (engine/evaluate.h). Throws InputError for a curriculum run, a run without kept weights, or a
// kept file that is damaged or does not match its name.
// `progress` (optional) hears of each validation scored, with how many are done of how many.
using RescoreProgress = std::function<void(const RescoredValidation&, size_t done, size_t total)>;
Rescore rescore_validated(const std::string& run_dir, const RunSpec& spec, int64_t n_valid, int64_t rollouts = 0,
                          int jobs = 1, const RescoreProgress& progress = nullptr);

}  // namespace l2o
