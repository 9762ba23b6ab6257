#include "engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/evaluate.h"
#include "engine/imitation.h"
#include "engine/numerics.h"
#include "engine/progress.h"
#include "engine/safetensors.h"
#include "engine/segment.h"
#include "engine/train_state.h"
#include "kernels/optim.h"
#include "learners/hand_optimizers.h"
#include "engine/learner_io.h"

namespace l2o {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kValidationSalt = 0x76616c6964ull;  // "valid": validation instances differ from training ones
constexpr uint64_t kImitationSalt = 0x696d6974ull;     // "imit": the per-epoch imitation coin

// The learner as a plain optimizer with fixed weights (validation).
class FixedPhiRule : public UpdateRule {
 public:
  FixedPhiRule(LearnerT<float>& l, const std::vector<float>& phi) : l_(l), phi_(phi) {}
  std::string name() const override { return "learner"; }
  void reset(int64_t n) override { l_.reset(n, 0); }
  void update(const float* g, float* u) override { l_.step(phi_.data(), g, u, false); }
  bool learned() const override { return true; }

 private:
  LearnerT<float>& l_;
  const std::vector<float>& phi_;
};

double global_norm(const std::vector<float>& g) {
  double s = 0;
  for (float x : g) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

}  // namespace

std::vector<uint64_t> validation_seeds(const RunSpec& spec, int64_t index) {
  // Fixed instances keep the seeds of earlier engines; fresh ones mix in the validation index.
  const uint64_t base = spec.fresh_validation ? mix_seed(spec.seed ^ kValidationSalt, ~static_cast<uint64_t>(index))
                                              : spec.seed ^ kValidationSalt;
  std::vector<uint64_t> seeds;
  for (int64_t r = 0; r < spec.rollouts; ++r) seeds.push_back(mix_seed(base, r));
  return seeds;
}

double validation_score(const RunSpec& spec, LearnerT<float>& learner, const std::vector<float>& phi,
                        int64_t n_valid, int64_t index, Backend backend) {
  const std::vector<uint64_t> seeds = validation_seeds(spec, index);
  FixedPhiRule rule(learner, phi);
  EvalResult res = evaluate(rule, "learner", spec.problem_name, spec.problem, n_valid, seeds, backend);
  if (res.diverged > 0) return INFINITY;
  double score = 0;
  for (const auto& c : res.losses) score += c.back();
  return score;
}

namespace {

nlohmann::json score_json(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json("inf"); }

// One Adam step on phi from a finite gradient, with optional clipping; returns the pre-clip norm.
double apply_meta_step(const MetaOptimizerSpec& m, double clip, std::vector<float>& phi, std::vector<float>& g,
                       std::vector<float>& mom, std::vector<float>& var, int64_t& step) {
  const double norm = global_norm(g);
  if (clip > 0 && norm > clip) {
    const float k = static_cast<float>(clip / norm);
    for (auto& x : g) x *= k;
  }
  ++step;
  auto apply = m.tf_form ? adam_tf_apply_cpu : adam_apply_cpu;
  apply(static_cast<int64_t>(phi.size()), phi.data(), g.data(), mom.data(), var.data(), static_cast<float>(m.lr),
        static_cast<float>(m.beta1), static_cast<float>(m.beta2), static_cast<float>(m.eps), step);
  return norm;
}

}  // namespace

TrainSummary train(const RunSpec& spec, const TrainerOptions& opt) {
  namespace fs = std::filesystem;
  const std::string dir = opt.run_dir, ck = dir + "/checkpoints", metrics = dir + "/metrics.jsonl";
  const std::string state_path = ck + "/state.safetensors";
  nlohmann::json learner_cfg = spec.learner;
  auto learner = make_learner<float>(SpecNode(learner_cfg, "$.learner"), opt.backend);
  auto valid_learner = make_learner<float>(SpecNode(learner_cfg, "$.learner"), opt.backend);
  auto optimizee = make_optimizee<float>(spec.problem, opt.backend);
  const int64_t p = learner->num_params(), n = optimizee->num_params();
  std::vector<std::unique_ptr<UpdateRule>> teachers;
  for (const auto& t : spec.imitation.teachers) teachers.push_back(make_hand_optimizer(t));

  TrainState st;
  if (opt.resume) {
    if (!fs::exists(state_path)) throw InputError(dir + ": no training state to resume (" + state_path + " missing)");
    st = load_state(state_path, p);
    truncate_metrics(metrics, st.metrics_lines);
  } else {
    fs::create_directories(ck);
    st.phi.resize(p);
    learner->init_params(spec.seed, st.phi.data());
    st.adam_m.assign(p, 0.0f);
    st.adam_v.assign(p, 0.0f);
    st.il_m.assign(p, 0.0f);
    st.il_v.assign(p, 0.0f);
    write_file_atomic(metrics, "");
    save_learner(ck + "/init.safetensors", *learner, st.phi, spec.learner, {{"epoch", "0"}});
  }
  std::unique_ptr<Curriculum> cur;
  if (spec.curriculum.enabled) {
    cur = std::make_unique<Curriculum>(st.curriculum.is_null()
                                           ? Curriculum(spec.curriculum.config)
                                           : Curriculum::from_json(spec.curriculum.config, st.curriculum));
  }
  const std::map<std::string, std::string> ck_meta = {{"problem", spec.problem_name},
                                                      {"seed", std::to_string(spec.seed)}};
  auto log_line = [&](const nlohmann::json& j) {
    append_line(metrics, j.dump());
    ++st.metrics_lines;
  };
  auto save_weights = [&](const std::string& name, const std::vector<float>& phi,
                          std::map<std::string, std::string> extra) {
    auto meta = ck_meta;
    meta.insert(extra.begin(), extra.end());
    meta["epoch"] = std::to_string(st.epoch);
    save_learner(ck + "/" + name, *learner, phi, spec.learner, meta);
  };
  auto checkpoint = [&]() {
    if (cur) st.curriculum = cur->to_json();
    save_weights("latest.safetensors", st.phi, {});
    save_state(state_path, st);  // last: a state never points past the weights written
  };

  enable_flush_to_zero();
  learner->reset(n, spec.unroll);
  std::vector<float> theta(n), dl_du, u, dphi(p), delta, gbuf;
  std::vector<double> step_ms;
  Progress progress(opt.progress_tty, spec.epochs, st.epoch);
  int64_t epochs_this_process = 0;

  while (st.epoch < spec.epochs && !st.stopped) {
    if (opt.stop_after_epochs >= 0 && epochs_this_process >= opt.stop_after_epochs) break;
    const auto t_epoch = Clock::now();
    const int64_t n_train = cur ? cur->n_train() : spec.n_train;
    const int64_t segments = n_train / spec.unroll;
    const uint64_t epoch_seed = mix_seed(spec.seed, static_cast<uint64_t>(st.epoch));
    optimizee->init(epoch_seed, theta.data());
    learner->zero_state();
    Rng batches(epoch_seed, kStreamBatch);
    // Imitation or meta-loss for this epoch: a coin from the epoch's own stream (resumable).
    Rng coin(mix_seed(spec.seed ^ kImitationSalt, static_cast<uint64_t>(st.epoch)), kStreamTrainer);
    const double ratio = !spec.imitation.enabled ? 0.0
                         : cur                   ? spec.imitation.ratio_for_stage(cur->stage())
                                                 : spec.imitation.ratio;
    const bool imitate = ratio > 0 && coin.uniform() < ratio;
    UpdateRule* teacher = nullptr;
    if (imitate) {
      const size_t k = spec.imitation.selection == "random"
                           ? coin.below(static_cast<uint32_t>(teachers.size()))
                           : static_cast<size_t>(st.il_epochs % static_cast<int64_t>(teachers.size()));
      teacher = teachers[k].get();
      teacher->reset(n);
      ++st.il_epochs;
    }
    double loss_sum = 0, grad_norm_sum = 0, final_loss = NAN;
    int64_t done = 0, skipped_now = 0;
    for (int64_t s = 0; s < segments; ++s) {
      const auto t0 = Clock::now();
      bool finite;
      double loss;
      if (imitate) {
        auto r = imitation_segment<float>(*learner, st.phi.data(), *optimizee, *teacher, theta.data(), batches,
                                          spec.unroll, spec.imitation.omega, dl_du, u, delta, gbuf, dphi.data());
        finite = r.finite;
        loss = r.loss;
        final_loss = r.final_loss;
      } else {
        auto r = meta_segment<float>(*learner, st.phi.data(), *optimizee, theta.data(), batches, spec.unroll, dl_du,
                                     u, dphi.data());
        finite = r.finite;
        loss = r.meta_loss;
        final_loss = r.final_loss;
      }
      if (!finite) {  // skip this meta-step, start a fresh epoch; a NaN never reaches phi
        ++st.skipped;
        ++skipped_now;
        if (++st.consecutive_failures >= spec.max_consecutive_failures) {
          checkpoint();
          throw Error("training stopped at epoch " + std::to_string(st.epoch) + ": " +
                      std::to_string(st.consecutive_failures) +
                      " consecutive segments had non-finite losses or meta-gradients (the last finite weights are "
                      "in " + ck + "/latest.safetensors)");
        }
        break;
      }
      grad_norm_sum += imitate ? apply_meta_step(spec.imitation.meta, spec.clip_grad_norm, st.phi, dphi, st.il_m,
                                                 st.il_v, st.il_step)
                               : apply_meta_step(spec.meta, spec.clip_grad_norm, st.phi, dphi, st.adam_m,
                                                 st.adam_v, st.adam_step);
      st.consecutive_failures = 0;
      ++st.meta_steps;
      ++done;
      loss_sum += loss;
      step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t_epoch).count();
    nlohmann::json line = {{"kind", "epoch"},       {"epoch", st.epoch},   {"segments", done},
                           {"skipped", skipped_now}, {"seconds", secs},     {"n_train", n_train},
                           {"mode", imitate ? "imitation" : "meta"}};
    if (cur) line["stage"] = cur->stage();
    if (imitate) line["teacher"] = teacher->name();
    if (done > 0) {
      line[imitate ? "imitation_loss" : "meta_loss"] = loss_sum / done;
      line["final_loss"] = final_loss;
      line["grad_norm"] = grad_norm_sum / done;
    }
    log_line(line);
    ++st.epoch;
    ++epochs_this_process;

    std::string valid_note;
    const int64_t period = cur ? spec.curriculum.period : spec.valid_period;
    if (st.epoch % period == 0 || st.epoch == spec.epochs) {
      const int64_t n_valid = cur ? cur->n_valid() : spec.n_valid;
      const double score = validation_score(spec, *valid_learner, st.phi, n_valid, st.validations++, opt.backend);
      nlohmann::json v = {{"kind", "validation"}, {"epoch", st.epoch}, {"n_valid", n_valid},
                          {"rollouts", spec.rollouts}, {"score", score_json(score)}};
      bool improved;
      if (cur) {
        v["stage"] = cur->stage();
        const CurriculumOutcome out = cur->on_validation(score, st.epoch);
        improved = out.improved;
        if (improved) {  // the supplement's rule: the best of the latest improving stage is the model kept
          st.stage_best_phi = st.phi;
          st.best_score = score;
          st.best_epoch = st.epoch;
          save_weights("best.safetensors", st.phi,
                       {{"validation_score", fmt_double(score)}, {"stage", std::to_string(cur->stage())}});
        }
        v["improved"] = improved;
        v["best"] = score_json(st.best_score);
        v["best_epoch"] = st.best_epoch;
        log_line(v);
        if (out.action == CurriculumAction::advance) {
          st.phi = st.stage_best_phi;  // restore the finished stage's best, then set the new stage's baseline
          const double base =
              validation_score(spec, *valid_learner, st.phi, cur->n_valid(), st.validations++, opt.backend);
          cur->set_baseline(base, st.epoch);
          log_line({{"kind", "stage"}, {"epoch", st.epoch}, {"stage", cur->stage()}, {"n_train", cur->n_train()},
                    {"n_valid", cur->n_valid()}, {"baseline", score_json(base)}, {"reason", out.reason}});
        } else if (out.action == CurriculumAction::stop) {
          st.stopped = true;
          log_line({{"kind", "stop"}, {"epoch", st.epoch}, {"reason", out.reason}});
        }
      } else {
        improved = score < st.best_score;
        if (improved) {
          st.best_score = score;
          st.best_epoch = st.epoch;
          save_weights("best.safetensors", st.phi, {{"validation_score", fmt_double(score)}});
        }
        v["improved"] = improved;
        v["best"] = score_json(st.best_score);
        v["best_epoch"] = st.best_epoch;
        log_line(v);
      }
      char buf[128];
      std::snprintf(buf, sizeof buf, " | valid@%lld %.4g (best %.4g @%lld)%s", static_cast<long long>(n_valid),
                    score, st.best_score, static_cast<long long>(st.best_epoch), st.stopped ? " | stop" : "");
      valid_note = buf;
    }
    if (st.epoch % spec.checkpoint_every == 0 || st.epoch == spec.epochs || !valid_note.empty()) checkpoint();
    progress.update(st.epoch, done > 0 ? loss_sum / done : NAN, final_loss, st.skipped, valid_note,
                    st.epoch % spec.log_every == 0 || !valid_note.empty());
  }
  checkpoint();
  progress.finish();

  TrainSummary out;
  out.epochs_done = st.epoch;
  out.meta_steps = st.meta_steps;
  out.skipped_segments = st.skipped;
  out.best_score = st.best_score;
  out.best_epoch = st.best_epoch;
  out.stopped_by_curriculum = st.stopped;
  out.phi = st.phi;
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    out.median_ms_per_meta_step = step_ms[step_ms.size() / 2];
  }
  return out;
}

}  // namespace l2o
