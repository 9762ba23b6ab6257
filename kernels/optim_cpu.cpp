// CPU loops for the hand-designed optimizers; the per-coordinate math lives in optim_math.h.
#include "kernels/optim.h"

#include <cmath>

#include "kernels/common.h"
#include "kernels/optim_math.h"

namespace l2o {

void adam_bias_corrections(float b1, float b2, int64_t t, float* bc1, float* bc2) {
  L2O_CHECK(t >= 1, "adam step t is 1-based, got " << t);
  *bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(b1), static_cast<double>(t)));
  *bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(b2), static_cast<double>(t)));
}

float adam_tf_lr(float lr, float b1, float b2, int64_t t) {
  L2O_CHECK(t >= 1, "adam step t is 1-based, got " << t);
  const double td = static_cast<double>(t);
  return static_cast<float>(lr * std::sqrt(1.0 - std::pow(static_cast<double>(b2), td)) /
                            (1.0 - std::pow(static_cast<double>(b1), td)));
}

void sgd_update_cpu(int64_t n, const float* g, float* u, float lr) {
  for (int64_t i = 0; i < n; ++i) u[i] = sgd_coord(g[i], lr);
}

void momentum_update_cpu(int64_t n, const float* g, float* vel, float* u, float lr, float mu, bool nesterov) {
  if (nesterov) {
    for (int64_t i = 0; i < n; ++i) u[i] = nag_coord(g[i], vel[i], lr, mu);
  } else {
    for (int64_t i = 0; i < n; ++i) u[i] = momentum_coord(g[i], vel[i], lr, mu);
  }
}

void adam_update_cpu(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                     float eps, int64_t t) {
  float bc1, bc2;
  adam_bias_corrections(b1, b2, t, &bc1, &bc2);
  for (int64_t i = 0; i < n; ++i) u[i] = adam_coord(g[i], m[i], v[i], lr, b1, b2, eps, bc1, bc2);
}

void adagrad_update_cpu(int64_t n, const float* g, float* s, float* u, float lr, float eps) {
  for (int64_t i = 0; i < n; ++i) u[i] = adagrad_coord(g[i], s[i], lr, eps);
}

void rmsprop_update_cpu(int64_t n, const float* g, float* s, float* u, float lr, float alpha, float eps) {
  for (int64_t i = 0; i < n; ++i) u[i] = rmsprop_coord(g[i], s[i], lr, alpha, eps);
}

void adam_apply_cpu(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                    float eps, int64_t t) {
  float bc1, bc2;
  adam_bias_corrections(b1, b2, t, &bc1, &bc2);
  for (int64_t i = 0; i < n; ++i) param[i] += adam_coord(g[i], m[i], v[i], lr, b1, b2, eps, bc1, bc2);
}

void adam_tf_update_cpu(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                        float eps, int64_t t) {
  const float lr_t = adam_tf_lr(lr, b1, b2, t);
  for (int64_t i = 0; i < n; ++i) u[i] = adam_tf_coord(g[i], m[i], v[i], lr_t, b1, b2, eps);
}

void adagrad_tf_update_cpu(int64_t n, const float* g, float* acc, float* u, float lr) {
  for (int64_t i = 0; i < n; ++i) u[i] = adagrad_tf_coord(g[i], acc[i], lr);
}

void rmsprop_tf_update_cpu(int64_t n, const float* g, float* ms, float* u, float lr, float decay, float eps) {
  for (int64_t i = 0; i < n; ++i) u[i] = rmsprop_tf_coord(g[i], ms[i], lr, decay, eps);
}

void adam_tf_apply_cpu(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                       float eps, int64_t t) {
  const float lr_t = adam_tf_lr(lr, b1, b2, t);
  for (int64_t i = 0; i < n; ++i) param[i] += adam_tf_coord(g[i], m[i], v[i], lr_t, b1, b2, eps);
}

}  // namespace l2o
