// Curriculum learning (REFERENCE.md section 4, supplement A1.2): a pure state machine the trainer
// drives with validation scores. Training happens in stages of growing n_train; each stage keeps
// its best score and ends at a validation without a new best once the stage has had `patience`
// validations (rule "authors", as train_dm.py counts them; rule "consecutive": after `patience`
// validations in a row without a new best). An ending stage either advances (restoring the
// stage-best weights) or, if it never improved, stops training. Unlike the
// authors' code, the end of the n_train list is handled: the last stage validates at last_n_valid
// (or its own n_train) and finishing it completes the curriculum.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace l2o {

struct CurriculumConfig {
  std::vector<int64_t> n_train = {100, 200, 500, 1000, 1500, 2000, 2500, 3000};
  // Empty: stage c validates at n_train[c+1]; the last stage at last_n_valid (or its own n_train if
  // last_n_valid <= 0). If given, same length as n_train (and last_n_valid must stay <= 0).
  std::vector<int64_t> n_valid;
  int64_t last_n_valid = 0;
  int64_t patience = 3;  // N_period (the authors' min_num_eval)
  // "authors": every validation since the stage began counts toward patience; the first one without
  // a new best once the count reaches it ends the stage (docs/fidelity.md). "consecutive": only
  // validations without a new best count, and an improvement resets the count.
  std::string rule = "authors";
};

enum class CurriculumAction { keep_training, advance, stop };

// "keep_training", "advance" or "stop" (for logs).
const char* to_string(CurriculumAction action);

struct CurriculumOutcome {
  bool improved = false;  // this score is a new best for the stage: save the stage best (and best.safetensors)
  CurriculumAction action = CurriculumAction::keep_training;
  // advance: the trainer restores the stage-best weights, moves to stage() (already incremented),
  // and must call set_baseline() with the restored weights' score at the new n_valid() before
  // training on (on_validation throws until it does).
  std::string reason;  // one human-readable line for metrics.jsonl
};

class Curriculum {
 public:
  // Validates the config: non-empty n_train, all horizons positive, patience >= 1, n_valid length.
  // Throws InputError with a message naming the offending field.
  explicit Curriculum(CurriculumConfig cfg);

  int64_t stage() const { return stage_; }
  int64_t num_stages() const { return static_cast<int64_t>(cfg_.n_train.size()); }
  int64_t n_train() const { return n_train_at(stage_); }  // of the current stage
  int64_t n_valid() const { return n_valid_at(stage_); }  // of the current stage
  int64_t n_train_at(int64_t stage) const;
  int64_t n_valid_at(int64_t stage) const;
  bool stopped() const { return stopped_; }
  // True between an `advance` and the set_baseline() call for the new stage.
  bool awaiting_baseline() const { return awaiting_baseline_; }
  double stage_best() const { return best_; }              // +inf before any finite score
  int64_t stage_best_epoch() const { return best_epoch_; }  // -1 before any
  bool stage_improved() const { return improved_; }
  int64_t validations_without_improvement() const { return since_improvement_; }
  int64_t validations_in_stage() const { return num_eval_; }  // the baseline does not count
  const CurriculumConfig& config() const { return cfg_; }

  // A validation score (lower is better; +inf or NaN for diverged, never an improvement) for the
  // current stage at `epoch`. Throws Error after stopped() or while awaiting a baseline.
  CurriculumOutcome on_validation(double score, int64_t epoch);

  // After advancing: the restored model's score at the new horizon becomes the stage's starting
  // best (not counted as an improvement). Throws Error after stopped().
  void set_baseline(double score, int64_t epoch);

  // Everything needed to resume exactly (also the config, checked by from_json).
  nlohmann::json to_json() const;
  // Throws InputError if `j` is malformed or was saved with a different config.
  static Curriculum from_json(const CurriculumConfig& cfg, const nlohmann::json& j);

 private:
  std::string stage_label(int64_t stage) const;

  CurriculumConfig cfg_;
  int64_t stage_ = 0;
  bool stopped_ = false;
  bool awaiting_baseline_ = false;
  double best_;              // +inf: stage 0's first finite validation is an improvement
  int64_t best_epoch_ = -1;
  bool improved_ = false;    // some validation in this stage set a new best (the baseline does not count)
  int64_t since_improvement_ = 0;  // validations since the last improvement or the stage start
  int64_t num_eval_ = 0;           // validations since the stage start (the authors' num_eval)
};

}  // namespace l2o
