#include "engine/rescore.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "engine/learner_io.h"
#include "engine/trainer.h"

namespace l2o {

namespace {

// A whole decimal integer in [0, 2^62), else -1.
int64_t whole(const std::string& s) {
  if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(s);
}

}  // namespace

Rescore rescore_validated(const std::string& run_dir, const RunSpec& spec, int64_t n_valid, int64_t rollouts,
                          int jobs, const RescoreProgress& progress) {
  namespace fs = std::filesystem;
  if (spec.curriculum.enabled)
    throw InputError(run_dir + " trains with a curriculum, whose stages follow its validations: scores at another "
                     "horizon do not say what it would have picked");
  if (n_valid < 1) throw InputError("--n-valid: must be >= 1, got " + std::to_string(n_valid));
  const std::string dir = run_dir + "/checkpoints/" + kValidatedDir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(run_dir + ": no kept validation weights in checkpoints/validated/ (train with "
                     "output.keep_validated true)");
  Rescore r;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) continue;  // a write in progress, or one a kill interrupted
    const std::string stem = e.path().stem().string();
    const int64_t index = e.path().extension() == ".safetensors" ? whole(stem) : -1;
    if (index < 0) throw InputError(e.path().string() + ": not a kept validation (expected <index>.safetensors)");
    RescoredValidation v;
    v.index = index;
    v.path = e.path().string();
    r.validations.push_back(v);
  }
  if (r.validations.empty()) throw InputError(dir + " holds no kept validation weights");
  std::sort(r.validations.begin(), r.validations.end(),
            [](const RescoredValidation& a, const RescoredValidation& b) { return a.index < b.index; });
  RunSpec s = spec;
  s.n_valid = n_valid;
  if (rollouts > 0) s.rollouts = rollouts;
  double best = INFINITY;
  for (size_t k = 0; k < r.validations.size(); ++k) {
    RescoredValidation& v = r.validations[k];
    LoadedLearner l = load_learner(v.path);
    const auto meta = [&](const char* key) {
      const auto it = l.metadata.find(key);
      if (it == l.metadata.end() || !it->is_string())
        throw InputError(v.path + ": metadata \"" + key + "\" missing (not written by output.keep_validated)");
      return it->get<std::string>();
    };
    if (whole(meta("validation_index")) != v.index)
      throw InputError(v.path + ": holds validation " + meta("validation_index") + ", its name says " +
                       std::to_string(v.index));
    v.epoch = whole(meta("epoch"));
    if (v.epoch < 0) throw InputError(v.path + ": metadata \"epoch\" is not a whole number");
    const std::string logged = meta("validation_score");
    char* end = nullptr;
    v.logged_score = std::strtod(logged.c_str(), &end);
    if (logged.empty() || *end != '\0' || std::isnan(v.logged_score))
      throw InputError(v.path + ": metadata \"validation_score\" is not a number: \"" + logged + "\"");
    nlohmann::json cfg = l.config;
    v.score = validation_score(s, *l.learner, l.phi, n_valid, v.index, Backend::cpu, &v.score_se, jobs, [cfg] {
      nlohmann::json c = cfg;
      return make_learner<float>(SpecNode(c, "$.learner"));
    });
    v.improved = v.score < best;
    if (v.improved) {
      best = v.score;
      r.best = static_cast<int64_t>(k);
    }
    if (progress) progress(v, k + 1, r.validations.size());
  }
  return r;
}

}  // namespace l2o
