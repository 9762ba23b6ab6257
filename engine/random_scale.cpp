#include "engine/random_scale.h"

#include <cmath>

#include "kernels/common.h"

namespace l2o {

RandomlyScaled::RandomlyScaled(OptimizeeT<float>& inner, double bound)
    : inner_(inner), bound_(bound), r_(inner.num_params(), 1.0f), theta_(inner.num_params()) {
  L2O_CHECK(bound > 0, "random scaling needs a positive bound, got " << bound);
}

void RandomlyScaled::init(uint64_t seed, float* x) {
  inner_.init(seed, theta_.data());
  Rng rng(seed, kStreamScale);
  for (size_t i = 0; i < r_.size(); ++i) {
    r_[i] = static_cast<float>(std::exp(bound_ * (2.0 * rng.uniform() - 1.0)));
    x[i] = theta_[i] / r_[i];
  }
}

float RandomlyScaled::loss_and_grad(const float* x, const Batch& batch, float* grad) {
  for (size_t i = 0; i < r_.size(); ++i) theta_[i] = r_[i] * x[i];
  const float loss = inner_.loss_and_grad(theta_.data(), batch, grad);
  if (grad)
    for (size_t i = 0; i < r_.size(); ++i) grad[i] *= r_[i];
  return loss;
}

}  // namespace l2o
