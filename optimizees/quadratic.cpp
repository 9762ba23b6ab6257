#include "optimizees/quadratic.h"

namespace l2o {

template <typename T>
Quadratic<T>::Quadratic(int64_t count, int64_t dims, double init_std)
    : count_(count), dims_(dims), init_std_(init_std), w_(count * dims * dims), y_(count * dims) {}

template <typename T>
void Quadratic<T>::init(uint64_t seed, T* theta) {
  Rng problem(seed, kStreamProblem);
  for (auto& w : w_) w = static_cast<T>(problem.uniform());
  for (auto& y : y_) y = static_cast<T>(problem.uniform());
  Rng init(seed, kStreamInit);
  for (int64_t i = 0; i < num_params(); ++i) theta[i] = static_cast<T>(init.normal() * init_std_);
}

template <typename T>
T Quadratic<T>::loss_and_grad(const T* theta, const Batch&, T* grad) {
  const int64_t d = dims_;
  T total = 0;
  std::vector<T> r(d);
  for (int64_t k = 0; k < count_; ++k) {
    const T* w = &w_[k * d * d];
    const T* x = theta + k * d;
    for (int64_t i = 0; i < d; ++i) {
      T s = -y_[k * d + i];
      for (int64_t j = 0; j < d; ++j) s += w[i * d + j] * x[j];
      r[i] = s;
      total += s * s;
    }
    if (grad) {  // d/dx (1/count) ||W x - y||^2 = (2/count) W^T r
      T* gx = grad + k * d;
      for (int64_t j = 0; j < d; ++j) {
        T s = 0;
        for (int64_t i = 0; i < d; ++i) s += w[i * d + j] * r[i];
        gx[j] = T(2) * s / T(count_);
      }
    }
  }
  return total / T(count_);
}

template class Quadratic<float>;
template class Quadratic<double>;

}  // namespace l2o
