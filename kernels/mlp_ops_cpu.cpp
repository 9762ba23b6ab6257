// CPU twins of the MLP elementwise/row ops; the math is shared with the CUDA kernels.
#include <cstddef>
#include <cstring>

#include "kernels/common.h"
#include "kernels/mlp_ops.h"
#include "kernels/softmax_xent_math.h"

namespace l2o {

void gather_rows_cpu(int64_t rows, int64_t dim, const float* images, const int32_t* labels, const int32_t* idx,
                     float* x, int32_t* y) {
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(x + r * dim, images + static_cast<int64_t>(idx[r]) * dim, dim * sizeof(float));
    y[r] = labels[idx[r]];
  }
}

void bias_act_forward_cpu(int64_t rows, int64_t cols, const float* b, Activation act, float* z) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) z[r * cols + c] = activate(act, z[r * cols + c] + b[c]);
}

void bias_add_cpu(int64_t rows, int64_t cols, const float* b, float* z) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) z[r * cols + c] += b[c];
}

void bias_act_forward_tasks_cpu(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride,
                                Activation act, float* z) {
  for (int64_t k = 0; k < tasks; ++k) bias_act_forward_cpu(rows, cols, b + k * b_stride, act, z + k * rows * cols);
}

void bias_add_tasks_cpu(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride, float* z) {
  for (int64_t k = 0; k < tasks; ++k) bias_add_cpu(rows, cols, b + k * b_stride, z + k * rows * cols);
}

void act_backward_cpu(int64_t count, Activation act, const float* a, float* delta) {
  for (int64_t i = 0; i < count; ++i) delta[i] *= activate_grad_from_output(act, a[i]);
}

void softmax_xent_cpu(int64_t rows, int64_t classes, const float* logits, const int32_t* y, float scale,
                      float* loss_rows, float* dlogits) {
  for (int64_t r = 0; r < rows; ++r)
    loss_rows[r] = softmax_xent_row(logits + r * classes, classes, y[r], dlogits + r * classes, scale);
}

void scale_cpu(int64_t count, float a, float* x) {
  for (int64_t i = 0; i < count; ++i) x[i] *= a;
}

void segment_sums_cpu(int64_t segments, int64_t len, const float* x, float a, float* out) {
  for (int64_t k = 0; k < segments; ++k) {
    float s = 0;
    for (int64_t i = 0; i < len; ++i) s += x[k * len + i];
    out[k] = a * s;
  }
}

void sum_cpu(int64_t count, const float* x, float* out, void* ws, size_t* ws_bytes) {
  if (!ws) {
    *ws_bytes = 1;  // nothing needed; a non-zero size keeps the calling pattern uniform
    return;
  }
  float s = 0;
  for (int64_t i = 0; i < count; ++i) s += x[i];
  out[0] = s;
}

}  // namespace l2o
