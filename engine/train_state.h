// The resumable state of a training run (checkpoints/state.safetensors) and the metrics-log
// truncation that goes with resuming.
#pragma once
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace l2o {

// Everything needed to continue a run exactly where it stopped (at an epoch boundary).
struct TrainState {
  // The meta-optimizer's per-weight slots, named after Adam's m, v (RMSProp keeps mom in adam_m,
  // ms in adam_v) and its step count adam_step; il_* the imitation loss's own.
  std::vector<float> phi, adam_m, adam_v;
  std::vector<float> il_m, il_v;       // the imitation loss's own Adam moments (or RMSProp mom, ms)
  std::vector<float> stage_best_phi;   // curriculum: the current stage's best weights
  std::vector<float> learner_state;    // training.carry_learner_state: LearnerT::carried_state()
  int64_t epoch = 0, adam_step = 0, il_step = 0, il_epochs = 0, meta_steps = 0, skipped = 0,
          consecutive_failures = 0, metrics_lines = 0;
  int64_t validations = 0;             // validations run so far (each draws its own instances)
  double best_score = INFINITY;
  int64_t best_epoch = -1;
  nlohmann::json curriculum;           // Curriculum::to_json(), or null
  bool stopped = false;                // the curriculum's stop criterion fired
  std::string spec_digest;             // spec_digest() of the run's resolved spec ("" in older states)
};

// Exact round trip of a double through text (metadata values are strings).
std::string fmt_double(double v);

void save_state(const std::string& path, const TrainState& s);
// Throws InputError naming the file for a missing, malformed or mismatched state: n parameters,
// a metadata number that does not parse whole or is out of range, non-finite weights, or a spec
// digest other than `spec_digest` (spec.json edited, or the state copied from another run). A
// state without a digest (older engines) is accepted with a warning on stderr.
TrainState load_state(const std::string& path, int64_t n, const std::string& spec_digest);

// Keeps the first `lines` lines of metrics.jsonl: what a resumed run logged past its last
// checkpoint is logged again. Throws InputError if the file has fewer lines than that.
void truncate_metrics(const std::string& path, int64_t lines);

}  // namespace l2o
