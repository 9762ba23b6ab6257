#include "engine/train_state.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "engine/atomic_file.h"
#include "engine/safetensors.h"
#include "engine/spec_reader.h"
#include "kernels/common.h"

namespace l2o {

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void save_state(const std::string& path, const TrainState& s) {
  SafetensorsFile f;
  const int64_t n = static_cast<int64_t>(s.phi.size());
  f.tensors = {{"phi", {n}, s.phi},   {"adam_m", {n}, s.adam_m}, {"adam_v", {n}, s.adam_v},
               {"il_m", {n}, s.il_m}, {"il_v", {n}, s.il_v}};
  if (!s.stage_best_phi.empty()) f.tensors.push_back({"stage_best_phi", {n}, s.stage_best_phi});
  if (!s.learner_state.empty())
    f.tensors.push_back({"learner_state", {static_cast<int64_t>(s.learner_state.size())}, s.learner_state});
  f.metadata = {{"format", "l2o-engine training state"},
                {"epoch", std::to_string(s.epoch)},
                {"adam_step", std::to_string(s.adam_step)},
                {"il_step", std::to_string(s.il_step)},
                {"il_epochs", std::to_string(s.il_epochs)},
                {"curriculum", s.curriculum.dump()},
                {"stopped", s.stopped ? "1" : "0"},
                {"meta_steps", std::to_string(s.meta_steps)},
                {"skipped", std::to_string(s.skipped)},
                {"consecutive_failures", std::to_string(s.consecutive_failures)},
                {"metrics_lines", std::to_string(s.metrics_lines)},
                {"validations", std::to_string(s.validations)},
                {"best_score", fmt_double(s.best_score)},
                {"best_epoch", std::to_string(s.best_epoch)},
                {"spec_digest", s.spec_digest}};
  save_safetensors(path, f);
}

namespace {

// The whole string must be a decimal integer in [lo, hi] ("2junk", "", "1e3" are refused).
int64_t strict_int(const std::string& path, const std::string& key, const std::string& v, int64_t lo, int64_t hi) {
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < lo || x > hi)
    throw InputError(path + ": training state has a bad \"" + key + "\" (" + v.substr(0, 40) + "); expected an integer in [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

}  // namespace

TrainState load_state(const std::string& path, int64_t n, const std::string& spec_digest) {
  SafetensorsFile f = load_safetensors(path);
  auto meta = [&](const std::string& k) -> const std::string& {
    auto it = f.metadata.find(k);
    if (it == f.metadata.end()) throw InputError(path + ": training state lacks \"" + k + "\"");
    return it->second;
  };
  if (meta("format") != "l2o-engine training state") throw InputError(path + ": not an l2o-engine training state");
  TrainState s;
  auto it = f.metadata.find("spec_digest");
  if (it == f.metadata.end()) {
    std::fprintf(stderr, "warning: %s has no spec digest (an older engine wrote it): it cannot be checked against "
                         "spec.json\n", path.c_str());
  } else if (it->second != spec_digest) {
    throw InputError(path + ": written for a different spec (digest " + it->second.substr(0, 40) +
                     ", spec.json gives " + spec_digest +
                     "): spec.json was edited, or the state comes from another run; restore that spec or start anew");
  }
  s.spec_digest = spec_digest;
  auto vec = [&](const char* name) {
    const NamedTensor& t = f.get(name);
    if (static_cast<int64_t>(t.data.size()) != n)
      throw InputError(path + ": tensor \"" + name + "\" has " + std::to_string(t.data.size()) +
                       " values, the spec's learner has " + std::to_string(n));
    for (float x : t.data)
      if (!std::isfinite(x)) throw InputError(path + ": tensor \"" + name + "\" holds NaN or Inf");
    return t.data;
  };
  s.phi = vec("phi");
  s.adam_m = vec("adam_m");
  s.adam_v = vec("adam_v");
  s.il_m = vec("il_m");
  s.il_v = vec("il_v");
  // Adam's moments as Adam leaves them: second moments >= 0, nothing near float's overflow.
  constexpr float kMaxMagnitude = 1e30f;
  for (const auto* t : {&s.phi, &s.adam_m, &s.adam_v, &s.il_m, &s.il_v})
    for (float x : *t)
      if (std::fabs(x) > kMaxMagnitude)
        throw InputError(path + ": training state holds a value of magnitude " + std::to_string(std::fabs(x)) +
                         " (over 1e30): not a state training writes");
  for (const auto* t : {&s.adam_v, &s.il_v})
    for (float x : *t)
      if (x < 0) throw InputError(path + ": training state holds a negative Adam second moment");
  for (const auto& t : f.tensors) {
    if (t.name == "stage_best_phi") s.stage_best_phi = vec("stage_best_phi");
    if (t.name == "learner_state") s.learner_state = t.data;  // the learner checks it (set_carried_state)
  }
  constexpr int64_t kMax = INT64_MAX / 2;
  s.epoch = strict_int(path, "epoch", meta("epoch"), 0, kMax);
  s.adam_step = strict_int(path, "adam_step", meta("adam_step"), 0, kMax);
  s.il_step = strict_int(path, "il_step", meta("il_step"), 0, kMax);
  s.il_epochs = strict_int(path, "il_epochs", meta("il_epochs"), 0, s.epoch);
  s.stopped = strict_int(path, "stopped", meta("stopped"), 0, 1) == 1;
  s.meta_steps = strict_int(path, "meta_steps", meta("meta_steps"), 0, kMax);
  s.skipped = strict_int(path, "skipped", meta("skipped"), 0, kMax);
  s.consecutive_failures = strict_int(path, "consecutive_failures", meta("consecutive_failures"), 0, kMax);
  s.metrics_lines = strict_int(path, "metrics_lines", meta("metrics_lines"), 0, kMax);
  s.validations = strict_int(path, "validations", meta("validations"), 0, kMax);
  s.best_epoch = strict_int(path, "best_epoch", meta("best_epoch"), -1, s.epoch);
  const std::string& best = meta("best_score");
  char* end = nullptr;
  s.best_score = std::strtod(best.c_str(), &end);
  // "inf" before any finite validation; never NaN, never -inf.
  if (best.empty() || *end != '\0' || std::isnan(s.best_score) || s.best_score == -INFINITY ||
      (s.best_epoch < 0) != std::isinf(s.best_score))
    throw InputError(path + ": training state has a bad \"best_score\" (" + best.substr(0, 40) +
                     ") for best_epoch " + std::to_string(s.best_epoch));
  s.curriculum = parse_json_text(meta("curriculum"), path + " metadata \"curriculum\"");
  return s;
}

void truncate_metrics(const std::string& path, int64_t lines) {
  std::string text = std::filesystem::exists(path) ? read_file(path) : "";
  size_t pos = 0;
  for (int64_t i = 0; i < lines; ++i) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos)
      throw InputError(path + " has " + std::to_string(i) + " complete lines but the training state counts " +
                       std::to_string(lines) + ": the run directory is inconsistent");
    pos = nl + 1;
  }
  write_file_atomic(path, text.substr(0, pos));
}

}  // namespace l2o
