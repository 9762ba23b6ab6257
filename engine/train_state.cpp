#include "engine/train_state.h"

#include <cstdio>
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
  s.il_m = vec("il_m");
  s.il_v = vec("il_v");
  for (const auto& t : f.tensors)
    if (t.name == "stage_best_phi") s.stage_best_phi = vec("stage_best_phi");
  try {
    s.epoch = std::stoll(meta("epoch"));
    s.adam_step = std::stoll(meta("adam_step"));
    s.il_step = std::stoll(meta("il_step"));
    s.il_epochs = std::stoll(meta("il_epochs"));
    s.stopped = meta("stopped") == "1";
    s.meta_steps = std::stoll(meta("meta_steps"));
    s.skipped = std::stoll(meta("skipped"));
    s.consecutive_failures = std::stoll(meta("consecutive_failures"));
    s.metrics_lines = std::stoll(meta("metrics_lines"));
    s.validations = std::stoll(meta("validations"));
    s.best_score = std::stod(meta("best_score"));
    s.best_epoch = std::stoll(meta("best_epoch"));
  } catch (const std::logic_error&) {
    throw InputError(path + ": training state has a malformed number in its metadata");
  }
  s.curriculum = parse_json_text(meta("curriculum"), path + " metadata \"curriculum\"");
  return s;
}

void truncate_metrics(const std::string& path, int64_t lines) {
  std::string text = std::filesystem::exists(path) ? read_file(path) : "";
  size_t pos = 0;
  for (int64_t i = 0; i < lines && pos < text.size(); ++i) {
    size_t nl = text.find('\n', pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  write_file_atomic(path, text.substr(0, pos));
}

}  // namespace l2o
