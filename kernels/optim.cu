// CUDA twins of the hand-designed optimizer ops: one thread per coordinate running the shared
// per-coordinate math (optim_math.h); Adam's bias corrections are computed once on the host,
// exactly as the CPU twin does.
#include "kernels/cuda_context.cuh"
#include "kernels/optim.h"
#include "kernels/optim_math.h"

namespace l2o {

namespace {

constexpr int kThreads = 256;

__global__ void sgd_kernel(int64_t n, const float* g, float* u, float lr) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = sgd_coord(g[i], lr);
}

__global__ void momentum_kernel(int64_t n, const float* g, float* vel, float* u, float lr, float mu, bool nesterov) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = nesterov ? nag_coord(g[i], vel[i], lr, mu) : momentum_coord(g[i], vel[i], lr, mu);
}

// With param non-null the update is applied in place (the meta-optimizer); else written to u.
__global__ void adam_kernel(int64_t n, const float* g, float* m, float* v, float* u, float* param, float lr, float b1,
                            float b2, float eps, float bc1, float bc2) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float step = adam_coord(g[i], m[i], v[i], lr, b1, b2, eps, bc1, bc2);
  if (param) {
    param[i] += step;
  } else {
    u[i] = step;
  }
}

__global__ void adagrad_kernel(int64_t n, const float* g, float* s, float* u, float lr, float eps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = adagrad_coord(g[i], s[i], lr, eps);
}

__global__ void rmsprop_kernel(int64_t n, const float* g, float* s, float* u, float lr, float alpha, float eps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = rmsprop_coord(g[i], s[i], lr, alpha, eps);
}

// TF forms (optim_math.h); with param non-null Adam is applied in place.
__global__ void adam_tf_kernel(int64_t n, const float* g, float* m, float* v, float* u, float* param, float lr_t,
                               float b1, float b2, float eps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float step = adam_tf_coord(g[i], m[i], v[i], lr_t, b1, b2, eps);
  if (param) {
    param[i] += step;
  } else {
    u[i] = step;
  }
}

__global__ void adagrad_tf_kernel(int64_t n, const float* g, float* acc, float* u, float lr) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = adagrad_tf_coord(g[i], acc[i], lr);
}

__global__ void rmsprop_tf_kernel(int64_t n, const float* g, float* ms, float* u, float lr, float decay, float eps) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) u[i] = rmsprop_tf_coord(g[i], ms[i], lr, decay, eps);
}

}  // namespace

void sgd_update_cuda(int64_t n, const float* g, float* u, float lr) {
  if (n == 0) return;
  sgd_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, u, lr);
  CUDA_CHECK_LAUNCH();
}

void momentum_update_cuda(int64_t n, const float* g, float* vel, float* u, float lr, float mu, bool nesterov) {
  if (n == 0) return;
  momentum_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, vel, u, lr, mu, nesterov);
  CUDA_CHECK_LAUNCH();
}

void adam_update_cuda(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                      float eps, int64_t t) {
  float bc1, bc2;
  adam_bias_corrections(b1, b2, t, &bc1, &bc2);
  if (n == 0) return;
  adam_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, m, v, u, nullptr, lr, b1, b2, eps, bc1,
                                                                     bc2);
  CUDA_CHECK_LAUNCH();
}

void adagrad_update_cuda(int64_t n, const float* g, float* s, float* u, float lr, float eps) {
  if (n == 0) return;
  adagrad_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, s, u, lr, eps);
  CUDA_CHECK_LAUNCH();
}

void rmsprop_update_cuda(int64_t n, const float* g, float* s, float* u, float lr, float alpha, float eps) {
  if (n == 0) return;
  rmsprop_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, s, u, lr, alpha, eps);
  CUDA_CHECK_LAUNCH();
}

void adam_apply_cuda(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                     float eps, int64_t t) {
  float bc1, bc2;
  adam_bias_corrections(b1, b2, t, &bc1, &bc2);
  if (n == 0) return;
  adam_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, m, v, nullptr, param, lr, b1, b2, eps,
                                                                     bc1, bc2);
  CUDA_CHECK_LAUNCH();
}

void adam_tf_update_cuda(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                         float eps, int64_t t) {
  const float lr_t = adam_tf_lr(lr, b1, b2, t);
  if (n == 0) return;
  adam_tf_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, m, v, u, nullptr, lr_t, b1, b2, eps);
  CUDA_CHECK_LAUNCH();
}

void adagrad_tf_update_cuda(int64_t n, const float* g, float* acc, float* u, float lr) {
  if (n == 0) return;
  adagrad_tf_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, acc, u, lr);
  CUDA_CHECK_LAUNCH();
}

void rmsprop_tf_update_cuda(int64_t n, const float* g, float* ms, float* u, float lr, float decay, float eps) {
  if (n == 0) return;
  rmsprop_tf_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, ms, u, lr, decay, eps);
  CUDA_CHECK_LAUNCH();
}

void adam_tf_apply_cuda(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                        float eps, int64_t t) {
  const float lr_t = adam_tf_lr(lr, b1, b2, t);
  if (n == 0) return;
  adam_tf_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(n, g, m, v, nullptr, param, lr_t, b1, b2,
                                                                        eps);
  CUDA_CHECK_LAUNCH();
}

}  // namespace l2o
