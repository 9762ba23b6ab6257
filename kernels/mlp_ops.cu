// CUDA twins of the MLP elementwise/row ops (mlp_ops.h): one thread per element or per row, the
// math shared with the CPU (activation_math.h, softmax_xent_math.h); the loss sum is CUB's
// device-wide reduction, deterministic for a given size and device.
#include <cub/device/device_reduce.cuh>

#include "kernels/cuda_context.cuh"
#include "kernels/mlp_ops.h"
#include "kernels/softmax_xent_math.h"

namespace l2o {

namespace {

constexpr int kThreads = 256;

__global__ void gather_rows_kernel(int64_t rows, int64_t dim, const float* images, const int32_t* labels,
                                   const int32_t* idx, float* x, int32_t* y) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= rows * dim) return;
  const int64_t r = e / dim, c = e - r * dim;
  const int64_t src = static_cast<int64_t>(idx[r]);
  x[e] = images[src * dim + c];
  if (c == 0) y[r] = labels[src];
}

// z (tasks * rows, cols) += the bias of the row's task (b + task * b_stride), then the activation.
__global__ void bias_act_kernel(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride,
                                Activation act, bool apply_act, float* z) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= tasks * rows * cols) return;
  const int64_t r = e / cols, task = r / rows;
  const float v = z[e] + b[task * b_stride + (e - r * cols)];
  z[e] = apply_act ? activate(act, v) : v;
}

// out[k] = a * sum of segment k, in index order (as the CPU twin).
__global__ void segment_sums_kernel(int64_t segments, int64_t len, const float* x, float a, float* out) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= segments) return;
  float s = 0;
  for (int64_t i = 0; i < len; ++i) s += x[k * len + i];
  out[k] = a * s;
}

__global__ void act_backward_kernel(int64_t count, Activation act, const float* a, float* delta) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) delta[i] *= activate_grad_from_output(act, a[i]);
}

__global__ void scale_kernel(int64_t count, float a, float* x) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] *= a;
}

__global__ void softmax_xent_kernel(int64_t rows, int64_t classes, const float* logits, const int32_t* y,
                                    float scale, float* loss_rows, float* dlogits) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  loss_rows[r] = softmax_xent_row(logits + r * classes, classes, y[r], dlogits + r * classes, scale);
}

}  // namespace

void gather_rows_cuda(int64_t rows, int64_t dim, const float* images, const int32_t* labels, const int32_t* idx,
                      float* x, int32_t* y) {
  if (rows * dim == 0) return;
  gather_rows_kernel<<<grid_for(rows * dim, kThreads), kThreads, 0, cuda_stream()>>>(rows, dim, images, labels, idx,
                                                                                     x, y);
  CUDA_CHECK_LAUNCH();
}

void bias_act_forward_tasks_cuda(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride,
                                 Activation act, float* z) {
  const int64_t count = tasks * rows * cols;
  if (count == 0) return;
  bias_act_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(tasks, rows, cols, b, b_stride, act,
                                                                             true, z);
  CUDA_CHECK_LAUNCH();
}

void bias_add_tasks_cuda(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride, float* z) {
  const int64_t count = tasks * rows * cols;
  if (count == 0) return;
  bias_act_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(tasks, rows, cols, b, b_stride,
                                                                             Activation::sigmoid, false, z);
  CUDA_CHECK_LAUNCH();
}

void bias_act_forward_cuda(int64_t rows, int64_t cols, const float* b, Activation act, float* z) {
  bias_act_forward_tasks_cuda(1, rows, cols, b, 0, act, z);
}

void bias_add_cuda(int64_t rows, int64_t cols, const float* b, float* z) { bias_add_tasks_cuda(1, rows, cols, b, 0, z); }

void segment_sums_cuda(int64_t segments, int64_t len, const float* x, float a, float* out) {
  if (segments == 0) return;
  segment_sums_kernel<<<grid_for(segments, kThreads), kThreads, 0, cuda_stream()>>>(segments, len, x, a, out);
  CUDA_CHECK_LAUNCH();
}

void act_backward_cuda(int64_t count, Activation act, const float* a, float* delta) {
  if (count == 0) return;
  act_backward_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(count, act, a, delta);
  CUDA_CHECK_LAUNCH();
}

void softmax_xent_cuda(int64_t rows, int64_t classes, const float* logits, const int32_t* y, float scale,
                       float* loss_rows, float* dlogits) {
  if (rows == 0) return;
  softmax_xent_kernel<<<grid_for(rows, kThreads), kThreads, 0, cuda_stream()>>>(rows, classes, logits, y, scale,
                                                                                loss_rows, dlogits);
  CUDA_CHECK_LAUNCH();
}

void scale_cuda(int64_t count, float a, float* x) {
  if (count == 0) return;
  scale_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(count, a, x);
  CUDA_CHECK_LAUNCH();
}

void sum_cuda(int64_t count, const float* x, float* out, void* ws, size_t* ws_bytes) {
  L2O_CHECK(count <= INT32_MAX, "sum_cuda: " << count << " values");
  CUDA_CHECK(cub::DeviceReduce::Sum(ws, *ws_bytes, x, out, static_cast<int>(count), cuda_stream()));
}

}  // namespace l2o
