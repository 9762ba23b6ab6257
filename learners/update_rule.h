// Anything that turns optimizee gradients into additive parameter updates, coordinatewise:
// hand-designed optimizers and trained learners alike, so evaluation treats them the same.
#pragma once
#include <cstdint>
#include <string>

namespace l2o {

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;
  virtual std::string name() const = 0;
  // Start a new optimizee with n parameters: all per-coordinate state back to zero.
  virtual void reset(int64_t n) = 0;
  // u = theta_{t+1} - theta_t for gradient g_t (both length n, as given to reset()).
  virtual void update(const float* grad, float* u) = 0;
  // A learned optimizer (it leaves the optimizee's learner_frozen() coordinates alone).
  virtual bool learned() const { return false; }
};

}  // namespace l2o
