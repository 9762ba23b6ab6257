#include "engine/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/evaluate.h"
#include "engine/numerics.h"
#include "engine/progress.h"
#include "engine/safetensors.h"
#include "engine/segment.h"
#include "kernels/optim.h"
#include "learners/learner_factory.h"

namespace l2o {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kValidationSalt = 0x76616c6964ull;  // "valid": validation instances differ from training ones

// Everything needed to continue a run exactly where it stopped (at an epoch boundary).
struct TrainState {
  std::vector<float> phi, adam_m, adam_v;
  int64_t epoch = 0, adam_step = 0, meta_steps = 0, skipped = 0, consecutive_failures = 0, metrics_lines = 0;
  double best_score = INFINITY;
  int64_t best_epoch = -1;
};

std::string fmt_double(double v) {  // exact round trip through text
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void save_state(const std::string& path, const TrainState& s) {
  SafetensorsFile f;
  const int64_t n = static_cast<int64_t>(s.phi.size());
  f.tensors = {{"phi", {n}, s.phi}, {"adam_m", {n}, s.adam_m}, {"adam_v", {n}, s.adam_v}};
  f.metadata = {{"format", "l2o-engine training state"},
                {"epoch", std::to_string(s.epoch)},
                {"adam_step", std::to_string(s.adam_step)},
                {"meta_steps", std::to_string(s.meta_steps)},
                {"skipped", std::to_string(s.skipped)},
                {"consecutive_failures", std::to_string(s.consecutive_failures)},
                {"metrics_lines", std::to_string(s.metrics_lines)},
                {"best_score", fmt_double(s.best_score)},
                {"best_epoch", std::to_string(s.best_epoch)}};
  save_safetensors(path, f);
}

TrainState load_state(const std::string& path, int64_t n) {
  SafetensorsFile f = load_safetensors(path);
  auto meta = [&](const std::string& k) -> const std::string& {
    auto it = f.metadata.find(k);
    if (it == f.metadata.end()) throw InputError(path + ": training state lacks \"" + k + "\"");
    return it->second;
  };
  if (meta("format") != "l2o-engine training state") throw InputError(path + ": not an l2o-engine training state");
  TrainState s;
  auto vec = [&](const char* name) {
    const NamedTensor& t = f.get(name);
    if (static_cast<int64_t>(t.data.size()) != n)
      throw InputError(path + ": tensor \"" + name + "\" has " + std::to_string(t.data.size()) +
                       " values, the spec's learner has " + std::to_string(n));
    return t.data;
  };
  s.phi = vec("phi");
  s.adam_m = vec("adam_m");
  s.adam_v = vec("adam_v");
  try {
    s.epoch = std::stoll(meta("epoch"));
    s.adam_step = std::stoll(meta("adam_step"));
    s.meta_steps = std::stoll(meta("meta_steps"));
    s.skipped = std::stoll(meta("skipped"));
    s.consecutive_failures = std::stoll(meta("consecutive_failures"));
    s.metrics_lines = std::stoll(meta("metrics_lines"));
    s.best_score = std::stod(meta("best_score"));
    s.best_epoch = std::stoll(meta("best_epoch"));
  } catch (const std::logic_error&) {
    throw InputError(path + ": training state has a malformed number in its metadata");
  }
  return s;
}

// Keeps the first `lines` lines of metrics.jsonl: what a resumed run logged past its last
// checkpoint is logged again.
void truncate_metrics(const std::string& path, int64_t lines) {
  std::string text = std::filesystem::exists(path) ? read_file(path) : "";
  size_t pos = 0;
  for (int64_t i = 0; i < lines && pos < text.size(); ++i) {
    size_t nl = text.find('\n', pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  write_file_atomic(path, text.substr(0, pos));
}

// The learner as a plain optimizer with fixed weights (validation).
class FixedPhiRule : public UpdateRule {
 public:
  FixedPhiRule(LearnerT<float>& l, const std::vector<float>& phi) : l_(l), phi_(phi) {}
  std::string name() const override { return "learner"; }
  void reset(int64_t n) override { l_.reset(n, 0); }
  void update(const float* g, float* u) override { l_.step(phi_.data(), g, u, false); }

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

double validation_score(const RunSpec& spec, LearnerT<float>& learner, const std::vector<float>& phi) {
  std::vector<uint64_t> seeds;
  for (int64_t r = 0; r < spec.rollouts; ++r) seeds.push_back(mix_seed(spec.seed ^ kValidationSalt, r));
  FixedPhiRule rule(learner, phi);
  EvalResult res = evaluate(rule, "learner", spec.problem_name, spec.problem, spec.n_valid, seeds);
  if (res.diverged > 0) return INFINITY;
  double score = 0;
  for (const auto& c : res.losses) score += c.back();
  return score;
}

TrainSummary train(const RunSpec& spec, const TrainerOptions& opt) {
  namespace fs = std::filesystem;
  const std::string dir = opt.run_dir, ck = dir + "/checkpoints", metrics = dir + "/metrics.jsonl";
  const std::string state_path = ck + "/state.safetensors";
  nlohmann::json learner_cfg = spec.learner;
  auto learner = make_learner<float>(SpecNode(learner_cfg, "$.learner"));
  auto valid_learner = make_learner<float>(SpecNode(learner_cfg, "$.learner"));
  auto optimizee = make_optimizee<float>(spec.problem);
  const int64_t p = learner->num_params(), n = optimizee->num_params();

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
    write_file_atomic(metrics, "");
    save_learner(ck + "/init.safetensors", *learner, st.phi, spec.learner, {{"epoch", "0"}});
  }
  const std::map<std::string, std::string> ck_meta = {{"problem", spec.problem_name},
                                                      {"seed", std::to_string(spec.seed)}};
  auto log_line = [&](const nlohmann::json& j) {
    append_line(metrics, j.dump());
    ++st.metrics_lines;
  };
  auto checkpoint = [&]() {
    auto meta = ck_meta;
    meta["epoch"] = std::to_string(st.epoch);
    save_learner(ck + "/latest.safetensors", *learner, st.phi, spec.learner, meta);
    save_state(state_path, st);  // last: a state never points past the weights written
  };

  enable_flush_to_zero();
  learner->reset(n, spec.unroll);
  std::vector<float> theta(n), dl_du, u, dphi(p);
  std::vector<double> step_ms;
  Progress progress(opt.progress_tty, spec.epochs, st.epoch);
  const int64_t segments = spec.n_train / spec.unroll;
  int64_t epochs_this_process = 0;

  while (st.epoch < spec.epochs) {
    if (opt.stop_after_epochs >= 0 && epochs_this_process >= opt.stop_after_epochs) break;
    const auto t_epoch = Clock::now();
    const uint64_t epoch_seed = mix_seed(spec.seed, static_cast<uint64_t>(st.epoch));
    optimizee->init(epoch_seed, theta.data());
    learner->zero_state();
    Rng batches(epoch_seed, kStreamBatch);
    double meta_loss_sum = 0, grad_norm_sum = 0, final_loss = NAN;
    int64_t done = 0, skipped_now = 0;
    for (int64_t s = 0; s < segments; ++s) {
      const auto t0 = Clock::now();
      auto r = meta_segment<float>(*learner, st.phi.data(), *optimizee, theta.data(), batches, spec.unroll, dl_du, u,
                                   dphi.data());
      if (!r.finite) {  // skip this meta-step, start a fresh epoch; a NaN never reaches phi
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
      const double norm = global_norm(dphi);
      if (spec.clip_grad_norm > 0 && norm > spec.clip_grad_norm) {
        const float k = static_cast<float>(spec.clip_grad_norm / norm);
        for (auto& g : dphi) g *= k;
      }
      ++st.adam_step;
      adam_apply_cpu(p, st.phi.data(), dphi.data(), st.adam_m.data(), st.adam_v.data(),
                     static_cast<float>(spec.meta.lr), static_cast<float>(spec.meta.beta1),
                     static_cast<float>(spec.meta.beta2), static_cast<float>(spec.meta.eps), st.adam_step);
      st.consecutive_failures = 0;
      ++st.meta_steps;
      ++done;
      meta_loss_sum += r.meta_loss;
      grad_norm_sum += norm;
      final_loss = r.final_loss;
      step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t_epoch).count();
    nlohmann::json line = {{"kind", "epoch"},       {"epoch", st.epoch},   {"segments", done},
                           {"skipped", skipped_now}, {"seconds", secs}};
    if (done > 0) {
      line["meta_loss"] = meta_loss_sum / done;
      line["final_loss"] = final_loss;
      line["grad_norm"] = grad_norm_sum / done;
    }
    log_line(line);
    ++st.epoch;
    ++epochs_this_process;

    std::string valid_note;
    if (st.epoch % spec.valid_period == 0 || st.epoch == spec.epochs) {
      const double score = validation_score(spec, *valid_learner, st.phi);
      const bool improved = score < st.best_score;
      if (improved) {
        st.best_score = score;
        st.best_epoch = st.epoch;
        auto meta = ck_meta;
        meta["epoch"] = std::to_string(st.epoch);
        meta["validation_score"] = fmt_double(score);
        save_learner(ck + "/best.safetensors", *learner, st.phi, spec.learner, meta);
      }
      nlohmann::json v = {{"kind", "validation"}, {"epoch", st.epoch}, {"n_valid", spec.n_valid},
                          {"rollouts", spec.rollouts}, {"improved", improved}, {"best_epoch", st.best_epoch}};
      v["score"] = std::isfinite(score) ? nlohmann::json(score) : nlohmann::json("inf");
      v["best"] = std::isfinite(st.best_score) ? nlohmann::json(st.best_score) : nlohmann::json("inf");
      log_line(v);
      char buf[96];
      std::snprintf(buf, sizeof buf, " | valid %.4g (best %.4g @%lld)", score, st.best_score,
                    static_cast<long long>(st.best_epoch));
      valid_note = buf;
    }
    if (st.epoch % spec.checkpoint_every == 0 || st.epoch == spec.epochs || !valid_note.empty()) checkpoint();
    progress.update(st.epoch, done > 0 ? meta_loss_sum / done : NAN, final_loss, st.skipped, valid_note,
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
  out.phi = st.phi;
  if (!step_ms.empty()) {
    std::nth_element(step_ms.begin(), step_ms.begin() + step_ms.size() / 2, step_ms.end());
    out.median_ms_per_meta_step = step_ms[step_ms.size() / 2];
  }
  return out;
}

}  // namespace l2o
