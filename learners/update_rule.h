// Anything that turns optimizee gradients into additive parameter updates, coordinatewise:
// hand-designed optimizers and trained learners alike, so evaluation treats them the same.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;
  virtual std::string name() const = 0;
  // Start a new optimizee with n parameters: all per-coordinate state back to zero.
  virtual void reset(int64_t n) = 0;
  // The optimizee's tensor sizes (OptimizeeT::tensor_sizes), before reset(); for learned rules.
  virtual void set_tensor_sizes(const std::vector<int64_t>& /*sizes*/) {}
  // u = theta_{t+1} - theta_t for gradient g_t (both length n, as given to reset()).
  virtual void update(const float* grad, float* u) = 0;
  // A learned optimizer (it leaves the optimizee's learner_frozen() coordinates alone).
  virtual bool learned() const { return false; }
};

}  // namespace l2o
