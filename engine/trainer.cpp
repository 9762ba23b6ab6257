#include "engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/evaluate.h"
#include "engine/learner_io.h"
#include "engine/meta_step.h"
#include "engine/numerics.h"
#include "engine/progress.h"
#include "engine/random_scale.h"
#include "engine/run_lock.h"
#include "engine/train_state.h"
#include "learners/hand_optimizers.h"

namespace l2o {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kValidationSalt = 0x76616c6964ull;  // "valid": validation instances differ from training ones
constexpr uint64_t kImitationSalt = 0x696d6974ull;     // "imit": the per-epoch imitation coin
constexpr double kMaxActivationBytes = 8.0 * (1 << 30);  // docs/reliability.md

// The learner as a plain optimizer with fixed weights (validation).
class FixedPhiRule : public UpdateRule {
 public:
  FixedPhiRule(LearnerT<float>& l, const std::vector<float>& phi) : l_(l), phi_(phi) {}
  // Owning its learner (a parallel validation's extra workers).
  FixedPhiRule(std::unique_ptr<LearnerT<float>> l, const std::vector<float>& phi)
      : owned_(std::move(l)), l_(*owned_), phi_(phi) {}
  std::string name() const override { return "learner"; }
  void reset(int64_t n) override { l_.reset(n, 0); }
  void set_tensor_sizes(const std::vector<int64_t>& sizes) override { l_.set_tensor_sizes(sizes); }
  void update(const float* g, float* u) override { l_.step(phi_.data(), g, u, false); }
  bool learned() const override { return true; }

 private:
  std::unique_ptr<LearnerT<float>> owned_;
  LearnerT<float>& l_;
  const std::vector<float>& phi_;
};

nlohmann::json score_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json("inf"); }

}  // namespace

std::string validated_name(int64_t index) {
  return std::string(kValidatedDir) + "/" + std::to_string(index) + ".safetensors";
}

std::vector<uint64_t> validation_seeds(const RunSpec& spec, int64_t index) {
  // Fixed instances keep the seeds of earlier engines; fresh ones mix in the validation index.
  const uint64_t base = spec.fresh_validation ? mix_seed(spec.seed ^ kValidationSalt, ~static_cast<uint64_t>(index))
                                              : spec.seed ^ kValidationSalt;
  std::vector<uint64_t> seeds;
  for (int64_t r = 0; r < spec.rollouts; ++r) seeds.push_back(mix_seed(base, r));
  return seeds;
}

double validation_score(const RunSpec& spec, LearnerT<float>& learner, const std::vector<float>& phi,
                        int64_t n_valid, int64_t index, Backend backend, double* score_se, int jobs,
                        const std::function<std::unique_ptr<LearnerT<float>>()>& more_learners) {
  const std::vector<uint64_t> seeds = validation_seeds(spec, index);
  FixedPhiRule rule(learner, phi);
  RuleFactory more_rules;
  if (more_learners)
    more_rules = [&] { return std::unique_ptr<UpdateRule>(new FixedPhiRule(more_learners(), phi)); };
  EvalResult res = evaluate(rule, "learner", spec.problem_name, spec.problem, n_valid, seeds, backend, nullptr,
                            nullptr, jobs, more_rules);
  if (score_se) *score_se = NAN;
  if (res.diverged > 0) return INFINITY;
  double score = 0;
  for (const auto& c : res.losses) score += c.back();
  const double r = static_cast<double>(res.losses.size());
  if (score_se && r > 1) {
    double ss = 0;
    for (const auto& c : res.losses) ss += (c.back() - score / r) * (c.back() - score / r);
    *score_se = std::sqrt(r * ss / (r - 1));
  }
  return score;
}

// One training run: its state, the run directory it writes, and the epoch loop. train() below
// reads as the story: start or resume, then epochs, each followed (every period) by validation
// and model selection, with checkpoints along the way.
class Trainer::Impl {
 public:
  Impl(const RunSpec& spec, const TrainerOptions& opt);
  TrainSummary train();

 private:
  void start_or_resume();
  void epoch();                            // one epoch of meta-steps, logged
  std::string validate_and_select();       // a validation and what it decides; returns the progress note
  double validate(int64_t n_valid, double* se);  // every validation draws the run's next instances
  void save_weights(const std::string& name, std::map<std::string, std::string> extra);
  void checkpoint();
  void log_line(const nlohmann::json& j) {
    append_line(metrics_, j.dump());
    ++st_.metrics_lines;
  }

  const RunSpec& spec_;
  const TrainerOptions& opt_;
  const std::string ck_, metrics_, state_path_;
  std::unique_ptr<LearnerT<float>> learner_, valid_learner_;
  std::unique_ptr<OptimizeeT<float>> optimizee_;
  std::vector<std::unique_ptr<UpdateRule>> teachers_;
  std::unique_ptr<RunDirLock> lock_;  // held for the life of the run
  TrainState st_;
  std::unique_ptr<Curriculum> cur_;
  std::unique_ptr<RandomlyScaled> scaled_;  // training.random_scale
  std::unique_ptr<MetaStep> meta_step_;
  std::vector<double> step_ms_;
  // The last epoch's figures, for the progress line.
  double epoch_loss_ = NAN, epoch_final_loss_ = NAN;
};

Trainer::Impl::Impl(const RunSpec& spec, const TrainerOptions& opt)
    : spec_(spec),
      opt_(opt),
      ck_(opt.run_dir + "/checkpoints"),
      metrics_(opt.run_dir + "/metrics.jsonl"),
      state_path_(ck_ + "/state.safetensors") {
  nlohmann::json learner_cfg = spec.learner;
  learner_ = make_learner<float>(SpecNode(learner_cfg, "$.learner"), opt.backend);
  valid_learner_ = make_learner<float>(SpecNode(learner_cfg, "$.learner"), opt.backend);
  optimizee_ = make_optimizee<float>(spec.problem, opt.backend);
  // The saved activations of a segment are the big allocation: check them before making them.
  const double bytes = 4.0 * static_cast<double>(spec.unroll) * static_cast<double>(optimizee_->num_params()) *
                       static_cast<double>(learner_->saved_floats_per_coordinate_step());
  if (bytes > kMaxActivationBytes)
    throw InputError("$.training.unroll: " + std::to_string(spec.unroll) + " steps x " +
                     std::to_string(optimizee_->num_params()) + " coordinates would keep " +
                     std::to_string(static_cast<int64_t>(bytes / (1 << 20))) + " MiB of activations (limit " +
                     std::to_string(static_cast<int64_t>(kMaxActivationBytes / (1 << 20))) + " MiB): lower the unroll");
  for (const auto& t : spec.imitation.teachers) teachers_.push_back(make_hand_optimizer(t));
  // Before anything is written (meta_segment refuses it too).
  if (spec.meta_loss != "sum" && segment_on_device(*learner_, *optimizee_)) throw InputError(kMeanLogRatioNotOnDevice);
  if (spec.carry_learner_state && !learner_->can_carry_state())
    throw InputError("$.training.carry_learner_state: the " + learner_->type() + " learner on backend " +
                     backend_name(opt.backend) + " cannot carry its state across epochs (l2o_scale can)");
}

void Trainer::Impl::start_or_resume() {
  namespace fs = std::filesystem;
  const int64_t p = learner_->num_params();
  const std::string digest = spec_digest(opt_.resume ? spec_.given : spec_.resolved);  // what spec.json holds
  if (opt_.resume) {
    if (!fs::exists(state_path_))
      throw InputError(opt_.run_dir + ": no training state to resume (" + state_path_ + " missing)");
    lock_ = std::make_unique<RunDirLock>(opt_.run_dir);
    st_ = load_state(state_path_, p, digest);
  } else {
    // The first write: the learner, the optimizee (its data) and the teachers are built by now.
    std::error_code ec;
    fs::create_directories(ck_, ec);
    if (ec) throw InputError("cannot create the run directory " + opt_.run_dir + ": " + ec.message());
    lock_ = std::make_unique<RunDirLock>(opt_.run_dir);
    if (fs::exists(state_path_))  // another process finished its first checkpoint before we got the lock
      throw InputError(opt_.run_dir + " already holds a run: continue it with --resume " + opt_.run_dir);
    st_.spec_digest = digest;
    write_file_atomic(opt_.run_dir + "/spec.json", spec_.resolved.dump(2) + "\n");
    st_.phi.resize(p);
    learner_->init_params(spec_.seed, st_.phi.data());
    st_.adam_m.assign(p, 0.0f);
    st_.adam_v.assign(p, 0.0f);
    st_.il_m.assign(p, 0.0f);
    st_.il_v.assign(p, 0.0f);
    write_file_atomic(metrics_, "");
    save_learner(ck_ + "/init.safetensors", *learner_, st_.phi, spec_.learner, {{"epoch", "0"}});
  }
  // Writes a kill interrupted left behind (nobody else writes here while we hold the lock).
  remove_stale_temp_files(opt_.run_dir);
  remove_stale_temp_files(ck_);
  if (spec_.keep_validated) {
    const std::string kept = ck_ + "/" + kValidatedDir;
    fs::create_directories(kept);
    remove_stale_temp_files(kept);
  }
  if (spec_.curriculum.enabled)
    cur_ = std::make_unique<Curriculum>(st_.curriculum.is_null()
                                            ? Curriculum(spec_.curriculum.config)
                                            : Curriculum::from_json(spec_.curriculum.config, st_.curriculum));
  if (opt_.resume) {
    // The curriculum and the state must tell one story; only then is metrics.jsonl trimmed to it.
    const auto bad = [&](const std::string& why) { return InputError(state_path_ + ": inconsistent state: " + why); };
    if (cur_ && cur_->awaiting_baseline()) throw bad("the curriculum waits for a baseline, which is never checkpointed");
    if (cur_ && cur_->stopped() != st_.stopped) throw bad("\"stopped\" disagrees with the curriculum's");
    if (!cur_ && st_.stopped) throw bad("stopped without a curriculum");
    if (cur_ && cur_->stage_improved() && st_.stage_best_phi.empty())
      throw bad("the curriculum stage improved but stage_best_phi is missing");
    if (!cur_ && !st_.curriculum.is_null()) throw bad("curriculum state in a run without a curriculum");
    if (!spec_.carry_learner_state && !st_.learner_state.empty())
      throw bad("a carried learner state in a run without training.carry_learner_state");
    truncate_metrics(metrics_, st_.metrics_lines);
  }
  OptimizeeT<float>* trained = optimizee_.get();
  if (spec_.random_scale > 0) {  // training epochs only; validation runs on optimizee_ itself
    scaled_ = std::make_unique<RandomlyScaled>(*optimizee_, spec_.random_scale);
    trained = scaled_.get();
  }
  meta_step_ = std::make_unique<MetaStep>(
      *learner_, *trained, spec_.unroll,
      spec_.meta_loss == "mean_log_ratio" ? MetaLossKind::mean_log_ratio : MetaLossKind::sum);
  if (spec_.carry_learner_state) learner_->set_carried_state(st_.learner_state, state_path_);  // empty: fresh
}

void Trainer::Impl::save_weights(const std::string& name, std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> meta = {{"problem", spec_.problem_name}, {"seed", std::to_string(spec_.seed)}};
  meta.insert(extra.begin(), extra.end());
  meta["epoch"] = std::to_string(st_.epoch);
  save_learner(ck_ + "/" + name, *learner_, st_.phi, spec_.learner, meta);
}

void Trainer::Impl::checkpoint() {
  if (cur_) st_.curriculum = cur_->to_json();
  if (spec_.carry_learner_state) st_.learner_state = learner_->carried_state();
  save_weights("latest.safetensors", {});
  save_state(state_path_, st_);  // last: a state never points past the weights written
}

void Trainer::Impl::epoch() {
  const auto t_epoch = Clock::now();
  const int64_t n_train = cur_ ? cur_->n_train() : spec_.n_train;
  const int64_t segments = n_train / spec_.unroll;
  meta_step_->begin_epoch(mix_seed(spec_.seed, static_cast<uint64_t>(st_.epoch)), spec_.carry_learner_state);
  // Imitation or meta-loss for this epoch: a coin from the epoch's own stream (resumable).
  Rng coin(mix_seed(spec_.seed ^ kImitationSalt, static_cast<uint64_t>(st_.epoch)), kStreamTrainer);
  const double ratio = !spec_.imitation.enabled ? 0.0
                       : cur_                   ? spec_.imitation.ratio_for_stage(cur_->stage())
                                                : spec_.imitation.ratio;
  UpdateRule* teacher = nullptr;
  if (ratio > 0 && coin.uniform() < ratio) {
    const size_t k = spec_.imitation.selection == "random"
                         ? coin.below(static_cast<uint32_t>(teachers_.size()))
                         : static_cast<size_t>(st_.il_epochs % static_cast<int64_t>(teachers_.size()));
    teacher = teachers_[k].get();
    teacher->reset(optimizee_->num_params());
    ++st_.il_epochs;
  }
  // Each loss has its own Adam state (REFERENCE.md section 5), unless imitation shares the main
  // one (the authors' L2O-Scale: one RMSProp applies both losses' gradients, metaopt.py:255-293).
  MetaOptimizer meta = teacher && !spec_.imitation.share_meta_optimizer ? MetaOptimizer(spec_.imitation.meta, spec_.clip_grad_norm, st_.il_m, st_.il_v,
                                               st_.il_step)
                               : MetaOptimizer(spec_.meta, spec_.clip_grad_norm, st_.adam_m, st_.adam_v,
                                               st_.adam_step);
  double loss_sum = 0, grad_norm_sum = 0, final_loss = NAN;
  int64_t done = 0, skipped_now = 0;
  for (int64_t s = 0; s < segments; ++s) {
    const auto t0 = Clock::now();
    const MetaStepResult r = meta_step_->step(st_.phi, meta, teacher, spec_.imitation.omega);
    final_loss = r.final_loss;
    if (!r.finite) {  // no meta-step; the next epoch starts fresh, the learner's state too
      learner_->zero_state();
      ++st_.skipped;
      ++skipped_now;
      if (++st_.consecutive_failures >= spec_.max_consecutive_failures) {
        checkpoint();
        throw Error("training stopped at epoch " + std::to_string(st_.epoch) + ": " +
                    std::to_string(st_.consecutive_failures) +
                    " consecutive segments had non-finite losses or meta-gradients (the last finite weights are "
                    "in " + ck_ + "/latest.safetensors)");
      }
      break;
    }
    grad_norm_sum += r.grad_norm;
    st_.consecutive_failures = 0;
    ++st_.meta_steps;
    ++done;
    loss_sum += r.loss;
    step_ms_.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t_epoch).count();
  nlohmann::json line = {{"kind", "epoch"},       {"epoch", st_.epoch},  {"segments", done},
                         {"skipped", skipped_now}, {"seconds", secs},     {"n_train", n_train},
                         {"mode", teacher ? "imitation" : "meta"}};
  if (cur_) line["stage"] = cur_->stage();
  if (teacher) line["teacher"] = teacher->name();
  if (done > 0) {
    line[teacher ? "imitation_loss" : "meta_loss"] = loss_sum / done;
    line["final_loss"] = final_loss;
    line["grad_norm"] = grad_norm_sum / done;
  }
  log_line(line);
  ++st_.epoch;
  epoch_loss_ = done > 0 ? loss_sum / done : NAN;
  epoch_final_loss_ = final_loss;
}

double Trainer::Impl::validate(int64_t n_valid, double* se) {
  const int64_t index = st_.validations++;
  const double score = validation_score(spec_, *valid_learner_, st_.phi, n_valid, index, opt_.backend, se,
                                        opt_.validation_jobs, [this] {
                                          nlohmann::json cfg = spec_.learner;
                                          return make_learner<float>(SpecNode(cfg, "$.learner"), opt_.backend);
                                        });
  if (spec_.keep_validated)  // what engine/rescore.h reads: the weights and the instances' index
    save_weights(validated_name(index), {{"validation_index", std::to_string(index)},
                                         {"n_valid", std::to_string(n_valid)},
                                         {"validation_score", fmt_double(score)}});
  return score;
}

std::string Trainer::Impl::validate_and_select() {
  const int64_t n_valid = cur_ ? cur_->n_valid() : spec_.n_valid;
  double se = NAN;
  const double score = validate(n_valid, &se);
  nlohmann::json v = {{"kind", "validation"}, {"epoch", st_.epoch}, {"n_valid", n_valid},
                      {"rollouts", spec_.rollouts}, {"score", score_json(score)}};
  if (std::isfinite(se)) v["score_se"] = se;
  CurriculumOutcome out;
  if (cur_) {
    v["stage"] = cur_->stage();
    out = cur_->on_validation(score, st_.epoch);
    if (out.improved) st_.stage_best_phi = st_.phi;  // the supplement's rule: the latest improving stage's best
  } else {
    out.improved = score < st_.best_score;
  }
  if (out.improved) {
    st_.best_score = score;
    st_.best_epoch = st_.epoch;
    std::map<std::string, std::string> extra = {{"validation_score", fmt_double(score)}};
    if (cur_) extra["stage"] = std::to_string(cur_->stage());
    save_weights("best.safetensors", extra);
  }
  v["improved"] = out.improved;
  v["best"] = score_json(st_.best_score);
  v["best_epoch"] = st_.best_epoch;
  log_line(v);
  if (out.action == CurriculumAction::advance) {
    st_.phi = st_.stage_best_phi;  // restore the finished stage's best, then set the new stage's baseline
    double base_se = NAN;
    const double base = validate(cur_->n_valid(), &base_se);
    cur_->set_baseline(base, st_.epoch);
    nlohmann::json stage = {{"kind", "stage"}, {"epoch", st_.epoch}, {"stage", cur_->stage()},
                            {"n_train", cur_->n_train()}, {"n_valid", cur_->n_valid()},
                            {"baseline", score_json(base)}, {"reason", out.reason}};
    if (std::isfinite(base_se)) stage["baseline_se"] = base_se;
    log_line(stage);
  } else if (out.action == CurriculumAction::stop) {
    st_.stopped = true;
    log_line({{"kind", "stop"}, {"epoch", st_.epoch}, {"reason", out.reason}});
  }
  char se_text[32] = "";
  if (std::isfinite(se)) std::snprintf(se_text, sizeof se_text, " +/- %.2g", se);
  char buf[160];
  std::snprintf(buf, sizeof buf, " | valid@%lld %.4g%s (best %.4g @%lld)%s", static_cast<long long>(n_valid), score,
                se_text, st_.best_score, static_cast<long long>(st_.best_epoch), st_.stopped ? " | stop" : "");
  return buf;
}

TrainSummary Trainer::Impl::train() {
  start_or_resume();
  enable_flush_to_zero();
  Progress progress(opt_.progress_tty, spec_.epochs, st_.epoch);
  int64_t epochs_this_process = 0;
  bool stopped_on_request = false;
  while (st_.epoch < spec_.epochs && !st_.stopped) {
    if (opt_.stop_after_epochs >= 0 && epochs_this_process >= opt_.stop_after_epochs) break;
    if (opt_.stop_request && *opt_.stop_request) {
      stopped_on_request = true;
      break;
    }
    epoch();
    ++epochs_this_process;
    const int64_t period = cur_ ? spec_.curriculum.period : spec_.valid_period;
    const bool validating = st_.epoch % period == 0 || st_.epoch == spec_.epochs;
    const std::string note = validating ? validate_and_select() : "";
    if (st_.epoch % spec_.checkpoint_every == 0 || st_.epoch == spec_.epochs || validating) checkpoint();
    progress.update(st_.epoch, epoch_loss_, epoch_final_loss_, st_.skipped, note,
                    st_.epoch % spec_.log_every == 0 || validating);
  }
  checkpoint();
  progress.finish();

  TrainSummary out;
  out.epochs_done = st_.epoch;
  out.meta_steps = st_.meta_steps;
  out.skipped_segments = st_.skipped;
  out.best_score = st_.best_score;
  out.best_epoch = st_.best_epoch;
  out.stopped_by_curriculum = st_.stopped;
  out.stopped_on_request = stopped_on_request;
  out.phi = st_.phi;
  out.timed_meta_steps = static_cast<int64_t>(step_ms_.size());
  if (!step_ms_.empty()) {
    std::nth_element(step_ms_.begin(), step_ms_.begin() + step_ms_.size() / 2, step_ms_.end());
    out.median_ms_per_meta_step = step_ms_[step_ms_.size() / 2];
  }
  return out;
}

Trainer::Trainer(const RunSpec& spec, const TrainerOptions& options) : impl_(std::make_unique<Impl>(spec, options)) {}
Trainer::~Trainer() = default;
TrainSummary Trainer::run() { return impl_->train(); }

TrainSummary train(const RunSpec& spec, const TrainerOptions& opt) { return Trainer(spec, opt).run(); }

}  // namespace l2o
