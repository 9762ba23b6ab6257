#include "engine/curriculum.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "engine/spec_reader.h"
#include "kernels/common.h"

namespace l2o {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kStateVersion = 2;  // 2: adds the rule and num_eval

// Any non-finite score (NaN, -inf from a broken loss) counts as diverged, so it can never become
// a stage best and the comparison below stays a strict weak order.
double sanitize(double score) { return std::isfinite(score) ? score : kInf; }

std::string fmt(double v) {
  std::ostringstream os;
  os << v;  // 6 significant digits; "inf" for diverged
  return os.str();
}

std::string join(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

// JSON has no infinity (nlohmann writes it as null), so +inf is stored as the string "inf".
nlohmann::json score_to_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json("inf"); }

double score_from_json(const nlohmann::json& j) {
  if (j.is_number()) {
    double v = j.get<double>();
    if (std::isfinite(v)) return v;
  }
  if (j.is_null() || (j.is_string() && j.get<std::string>() == "inf")) return kInf;
  throw InputError("curriculum state: \"best\" must be a finite number or \"inf\", got " + dump_clipped(j));
}

}  // namespace

const char* to_string(CurriculumAction action) {
  switch (action) {
    case CurriculumAction::keep_training: return "keep_training";
    case CurriculumAction::advance: return "advance";
    case CurriculumAction::stop: return "stop";
  }
  return "?";
}

Curriculum::Curriculum(CurriculumConfig cfg) : cfg_(std::move(cfg)), best_(kInf) {
  if (cfg_.n_train.empty()) throw InputError("curriculum: n_train must list at least one stage");
  for (size_t i = 0; i < cfg_.n_train.size(); ++i)
    if (cfg_.n_train[i] <= 0)
      throw InputError("curriculum: n_train[" + std::to_string(i) + "] must be positive, got " +
                       std::to_string(cfg_.n_train[i]));
  for (size_t i = 1; i < cfg_.n_train.size(); ++i)
    if (cfg_.n_train[i] <= cfg_.n_train[i - 1])
      throw InputError("curriculum: n_train must increase from stage to stage, but n_train[" + std::to_string(i) +
                       "] = " + std::to_string(cfg_.n_train[i]) + " follows " + std::to_string(cfg_.n_train[i - 1]));
  if (!cfg_.n_valid.empty()) {
    if (cfg_.n_valid.size() != cfg_.n_train.size())
      throw InputError("curriculum: n_valid has " + std::to_string(cfg_.n_valid.size()) +
                       " entries but n_train has " + std::to_string(cfg_.n_train.size()) +
                       " (give one per stage, or leave n_valid empty)");
    for (size_t i = 0; i < cfg_.n_valid.size(); ++i)
      if (cfg_.n_valid[i] <= 0)
        throw InputError("curriculum: n_valid[" + std::to_string(i) + "] must be positive, got " +
                         std::to_string(cfg_.n_valid[i]));
    // Two sources for the last stage's horizon would be ambiguous.
    if (cfg_.last_n_valid > 0)
      throw InputError("curriculum: last_n_valid applies only when n_valid is empty (n_valid already gives the "
                       "last stage's horizon)");
  }
  if (cfg_.patience < 1)
    throw InputError("curriculum: patience must be >= 1, got " + std::to_string(cfg_.patience));
  if (cfg_.rule != "authors" && cfg_.rule != "consecutive")
    throw InputError("curriculum: rule must be \"authors\" or \"consecutive\", got \"" + cfg_.rule + "\"");
}

int64_t Curriculum::n_train_at(int64_t stage) const {
  L2O_CHECK(stage >= 0 && stage < num_stages(), "stage " << stage << " of " << num_stages());
  return cfg_.n_train[static_cast<size_t>(stage)];
}

int64_t Curriculum::n_valid_at(int64_t stage) const {
  L2O_CHECK(stage >= 0 && stage < num_stages(), "stage " << stage << " of " << num_stages());
  const size_t s = static_cast<size_t>(stage);
  if (!cfg_.n_valid.empty()) return cfg_.n_valid[s];
  // Validate at the next stage's horizon; the last stage has no next one (the authors' IndexError).
  if (s + 1 < cfg_.n_train.size()) return cfg_.n_train[s + 1];
  return cfg_.last_n_valid > 0 ? cfg_.last_n_valid : cfg_.n_train[s];
}

std::string Curriculum::stage_label(int64_t stage) const {
  std::ostringstream os;
  os << "stage " << stage << " (n_train " << n_train_at(stage) << ")";
  return os.str();
}

CurriculumOutcome Curriculum::on_validation(double score, int64_t epoch) {
  if (stopped_) throw Error("curriculum: on_validation called after the curriculum stopped");
  if (awaiting_baseline_)
    throw Error("curriculum: stage " + std::to_string(stage_) +
                " needs set_baseline() (the restored model's score) before its first validation");
  const double s = sanitize(score);
  ++num_eval_;
  CurriculumOutcome out;
  std::ostringstream why;
  why << stage_label(stage_) << ": ";

  if (s < best_) {  // strictly lower: ties with the best (or the baseline) are not progress
    const double previous = best_;
    best_ = s;
    best_epoch_ = epoch;
    improved_ = true;
    since_improvement_ = 0;
    out.improved = true;
    why << "new stage best " << fmt(s) << " at epoch " << epoch << " (n_valid " << n_valid() << ", previous "
        << fmt(previous) << ")";
    out.reason = why.str();
    return out;
  }

  ++since_improvement_;
  const bool authors = cfg_.rule == "authors";
  const int64_t count = authors ? num_eval_ : since_improvement_;
  if (count < cfg_.patience) {
    why << "no improvement (score " << fmt(s) << " at epoch " << epoch << ", best " << fmt(best_);
    if (best_epoch_ >= 0) why << " at epoch " << best_epoch_;
    why << "); " << count << "/" << cfg_.patience
        << (authors ? " validations in this stage" : " validations without improvement");
    out.reason = why.str();
    return out;
  }

  if (authors)
    why << "no improvement at validation " << num_eval_ << " of the stage (patience " << cfg_.patience << ")";
  else
    why << since_improvement_ << (since_improvement_ == 1 ? " validation" : " validations") << " without improvement";
  if (!improved_) {
    // The supplement's stop criterion: training on this stage did not beat its starting point.
    stopped_ = true;
    out.action = CurriculumAction::stop;
    if (!std::isfinite(best_))
      why << " and no finite score; stopping (the stage never improved)";
    else
      why << " over its baseline " << fmt(best_) << " (epoch " << best_epoch_
          << "); stopping (the stage brought no improvement, the learner is saturated)";
    out.reason = why.str();
    return out;
  }
  if (stage_ + 1 >= num_stages()) {
    stopped_ = true;
    out.action = CurriculumAction::stop;
    why << "; curriculum complete (last stage of " << num_stages() << "), its best is score " << fmt(best_)
        << " at epoch " << best_epoch_;
    out.reason = why.str();
    return out;
  }

  why << "; restoring its best (score " << fmt(best_) << " at epoch " << best_epoch_ << ") and advancing to "
      << "stage " << (stage_ + 1) << " (n_train " << n_train_at(stage_ + 1) << ", n_valid "
      << n_valid_at(stage_ + 1) << ")";
  ++stage_;
  best_ = kInf;
  best_epoch_ = -1;
  improved_ = false;
  since_improvement_ = 0;
  num_eval_ = 0;
  awaiting_baseline_ = true;
  out.action = CurriculumAction::advance;
  out.reason = why.str();
  return out;
}

void Curriculum::set_baseline(double score, int64_t epoch) {
  if (stopped_) throw Error("curriculum: set_baseline called after the curriculum stopped");
  // The baseline is a starting point, not progress: improved_ and the counter stay as they are.
  best_ = sanitize(score);
  best_epoch_ = epoch;
  awaiting_baseline_ = false;
}

nlohmann::json Curriculum::to_json() const {
  nlohmann::json n_valid = nlohmann::json::array();
  for (int64_t c = 0; c < num_stages(); ++c) n_valid.push_back(n_valid_at(c));
  return nlohmann::json{{"version", kStateVersion},
                        {"n_train", cfg_.n_train},
                        {"n_valid", n_valid},  // effective horizons, so a changed config is detected
                        {"patience", cfg_.patience},
                        {"rule", cfg_.rule},
                        {"num_eval", num_eval_},
                        {"stage", stage_},
                        {"stopped", stopped_},
                        {"awaiting_baseline", awaiting_baseline_},
                        {"best", score_to_json(best_)},
                        {"best_epoch", best_epoch_},
                        {"improved", improved_},
                        {"since_improvement", since_improvement_}};
}

Curriculum Curriculum::from_json(const CurriculumConfig& cfg, const nlohmann::json& j) {
  Curriculum c(cfg);
  if (!j.is_object()) throw InputError("curriculum state must be a JSON object, got " + dump_clipped(j));
  try {
    // Version 1 states were written by the consecutive-miss rule and hold no num_eval.
    const int version = j.at("version").get<int>();
    if (version != kStateVersion && !(version == 1 && cfg.rule == "consecutive"))
      throw InputError("curriculum state: unsupported version " + dump_clipped(j.at("version")) +
                       (version == 1 ? " (written with the consecutive-miss rule: resume with curriculum.rule "
                                       "\"consecutive\")"
                                     : ""));
    const std::string rule = version == 1 ? "consecutive" : j.at("rule").get<std::string>();
    if (rule != cfg.rule)
      throw InputError("curriculum state was saved with rule \"" + rule + "\" but the config has \"" + cfg.rule +
                       "\"");
    // Resuming with a different schedule would silently change the run; refuse instead.
    const auto n_train = j.at("n_train").get<std::vector<int64_t>>();
    const auto n_valid = j.at("n_valid").get<std::vector<int64_t>>();
    std::vector<int64_t> want_valid;
    for (int64_t s = 0; s < c.num_stages(); ++s) want_valid.push_back(c.n_valid_at(s));
    if (n_train != cfg.n_train)
      throw InputError("curriculum state was saved with n_train " + join(n_train) + " but the config has " +
                       join(cfg.n_train));
    if (n_valid != want_valid)
      throw InputError("curriculum state was saved with n_valid " + join(n_valid) + " but the config gives " +
                       join(want_valid));
    const int64_t patience = j.at("patience").get<int64_t>();
    if (patience != cfg.patience)
      throw InputError("curriculum state was saved with patience " + std::to_string(patience) +
                       " but the config has " + std::to_string(cfg.patience));

    c.stage_ = j.at("stage").get<int64_t>();
    if (c.stage_ < 0 || c.stage_ >= c.num_stages())
      throw InputError("curriculum state: stage " + std::to_string(c.stage_) + " is out of range [0, " +
                       std::to_string(c.num_stages()) + ")");
    c.stopped_ = j.at("stopped").get<bool>();
    c.awaiting_baseline_ = j.at("awaiting_baseline").get<bool>();
    c.best_ = score_from_json(j.at("best"));
    c.best_epoch_ = j.at("best_epoch").get<int64_t>();
    c.improved_ = j.at("improved").get<bool>();
    c.since_improvement_ = j.at("since_improvement").get<int64_t>();
    c.num_eval_ = version == 1 ? c.since_improvement_ : j.at("num_eval").get<int64_t>();
    // A live stage has fewer than `patience` counted validations, or (rule "authors") has just improved.
    const int64_t count = c.cfg_.rule == "authors" ? c.num_eval_ : c.since_improvement_;
    const bool live_ok = count < c.cfg_.patience || (c.cfg_.rule == "authors" && c.since_improvement_ == 0);
    const bool counter_ok = c.since_improvement_ >= 0 && c.num_eval_ >= c.since_improvement_ &&
                            (c.stopped_ || live_ok);
    if (!counter_ok)
      throw InputError("curriculum state: since_improvement " + std::to_string(c.since_improvement_) +
                       " and num_eval " + std::to_string(c.num_eval_) + " are inconsistent with patience " +
                       std::to_string(c.cfg_.patience) + " (rule " + c.cfg_.rule + ")");
    if (c.improved_ && !std::isfinite(c.best_))
      throw InputError("curriculum state: an improved stage must have a finite best");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("curriculum state is malformed: ") + e.what());
  }
  return c;
}

}  // namespace l2o
