// Partial results of a long evaluation: each finished seed's loss curve in a file of its own, so
// that an evaluation cut short (a kill, a session or machine going away) runs again from its next
// seed and ends with the bytes an uninterrupted run writes (every seed's rollout depends on its
// seed alone: engine/evaluate.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

class EvalPartials {
 public:
  // dir: where the files go (created on the first save). identity: everything a curve depends on
  // besides its seed (the caller's job: the binary, the optimizer and its weights, the problem, the
  // data, the step count); files made under another identity are never read.
  EvalPartials(std::string dir, const std::string& identity);

  // The seed's curve, if a file holds one made under this identity with at most steps + 1 losses (a
  // shorter curve is a diverged seed). An unreadable or damaged file is not an error: a warning on
  // stderr names it and the problem, and the seed runs again.
  bool load(uint64_t seed, int64_t steps, std::vector<float>* curve) const;
  // Writes the seed's curve atomically.
  void save(uint64_t seed, const std::vector<float>& curve) const;

 private:
  std::string path(uint64_t seed) const;
  std::string dir_, key_;
};

}  // namespace l2o
