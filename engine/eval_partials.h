// Partial results of a long evaluation: each finished seed's loss curve in a file of its own, so
// that an evaluation cut short (a kill, a session or machine going away) runs again from its next
// seed and ends with the bytes an uninterrupted run writes (every seed's rollout depends on its
// seed alone: engine/evaluate.h). A file records the build that made it; evaluate() adopts files
// of another build only after replaying one of their seeds to the same bits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

class EvalPartials {
 public:
  // dir: where the files go (created on the first save). setting: everything a curve depends on
  // besides its seed and the build (the caller's job: the optimizer and its weights, the problem,
  // the data, the step count); files made under another setting are never read. build: the binary
  // (commit, instruction set), recorded in each file.
  EvalPartials(std::string dir, const std::string& setting, std::string build);

  enum class Found { none, this_build, other_build };
  // The seed's curve, if a file holds one made under this setting with at most steps + 1 losses (a
  // shorter curve is a diverged seed); *made_by (optional) gets the build that made it. An
  // unreadable or damaged file is not an error: a warning on stderr names it and the problem, and
  // the seed runs again (Found::none).
  Found load(uint64_t seed, int64_t steps, std::vector<float>* curve, std::string* made_by = nullptr) const;
  // Writes the seed's curve atomically, as made by this build.
  void save(uint64_t seed, const std::vector<float>& curve) const;
  const std::string& build() const { return build_; }

 private:
  std::string path(uint64_t seed) const;
  std::string dir_, key_, build_;
};

}  // namespace l2o
