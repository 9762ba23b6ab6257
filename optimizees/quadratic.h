// DM's quadratic: `count` independent least-squares problems in `dims` dimensions,
// f(x) = mean_k ||W_k x_k - y_k||^2 with W ~ U[0,1)^(d x d), y ~ U[0,1)^d, x_0 ~ N(0, std^2).
#pragma once
#include "optimizees/optimizee.h"

namespace l2o {

template <typename T>
class Quadratic : public OptimizeeT<T> {
 public:
  Quadratic(int64_t count, int64_t dims, double init_std);
  std::string name() const override { return "quadratic"; }
  int64_t num_params() const override { return count_ * dims_; }
  void init(uint64_t seed, T* theta) override;
  void sample_batch(Rng&, Batch& batch) const override { batch.idx.clear(); }  // data-free
  T loss_and_grad(const T* theta, const Batch& batch, T* grad) override;
  // One tensor, as DM's quadratic has one variable x of shape (count, dims).
  std::vector<int64_t> tensor_sizes() const override { return {count_ * dims_}; }

 private:
  int64_t count_, dims_;
  double init_std_;
  std::vector<T> w_;  // (count, dims, dims)
  std::vector<T> y_;  // (count, dims)
};

}  // namespace l2o
