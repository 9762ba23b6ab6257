// The authors' random scaling of the optimizee (`--if_scale`, `rd_scale_bound`: util.py run_epoch,
// data_generator.py get_data; docs/fidelity.md). Each training instance draws r_i =
// exp(U(-bound, bound)) per coordinate and the optimizer works on x with theta = r * x, starting
// at x_0 = theta_0 / r: the loss is f(r * x), its gradient r * grad f. Meta-training and
// imitation epochs both see it; validation and evaluation do not.
#pragma once
#include <vector>

#include "optimizees/optimizee.h"

namespace l2o {

class RandomlyScaled : public OptimizeeT<float> {
 public:
  RandomlyScaled(OptimizeeT<float>& inner, double bound);
  std::string name() const override { return inner_.name(); }
  int64_t num_params() const override { return inner_.num_params(); }
  // The inner instance for `seed`, and a new r from the seed's own stream (resumable).
  void init(uint64_t seed, float* x) override;
  void sample_batch(Rng& rng, Batch& batch) const override { inner_.sample_batch(rng, batch); }
  float loss_and_grad(const float* x, const Batch& batch, float* grad) override;
  CoordRanges learner_frozen() const override { return inner_.learner_frozen(); }
  std::vector<int64_t> tensor_sizes() const override { return inner_.tensor_sizes(); }
  const std::vector<float>& scale() const { return r_; }

 private:
  OptimizeeT<float>& inner_;
  double bound_;
  std::vector<float> r_, theta_;
};

}  // namespace l2o
