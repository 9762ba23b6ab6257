// CPU twins of the ConvNet task-batch ops (conv.h, "K tasks at once"): each task's slice goes
// through the one-task CPU ops, with the task layout (K, c, n, h, w) moved to and from NCHW around
// them. They are the reference the CUDA twins (conv.cu, batchnorm.cu) are tested against.
#include <vector>

#include "kernels/conv.h"

namespace l2o {

template <typename T>
void swap_axes_cpu(int64_t outer, int64_t a, int64_t b, int64_t inner, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j) {
        const T* src = x + ((o * a + i) * b + j) * inner;
        T* dst = y + ((o * b + j) * a + i) * inner;
        for (int64_t q = 0; q < inner; ++q) dst[q] = src[q];
      }
}

namespace {

// Task k's images as NCHW (n, c, hw): x_nchw inputs are already so; task-layout ones are (c, n, hw).
template <typename T>
const T* task_images(const T* x, int64_t k, int64_t n, int64_t c, int64_t hw, bool nchw, std::vector<T>& buf) {
  const T* xk = x + k * n * c * hw;
  if (nchw) return xk;
  buf.resize(n * c * hw);
  swap_axes_cpu<T>(1, c, n, hw, xk, buf.data());
  return buf.data();
}

}  // namespace

template <typename T>
void conv2d_forward_tasks_cpu(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                              const T* w, const T* b, T* y, T* col) {
  std::vector<T> xbuf, ybuf(s.out_size());
  const int64_t ohw = s.col_cols();
  for (int64_t k = 0; k < tasks; ++k) {
    const T* xk = task_images(x, k, s.n, s.c_in, s.h * s.w, x_nchw, xbuf);
    conv2d_forward_cpu(s, xk, w + k * p_stride, b ? b + k * p_stride : nullptr, ybuf.data(), col);
    swap_axes_cpu<T>(1, s.n, s.c_out, ohw, ybuf.data(), y + k * s.out_size());  // NCHW -> (c, n, hw)
  }
}

template <typename T>
void conv2d_backward_tasks_cpu(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                               const T* w, const T* dy, T* dx, T* dw, T* db, T* col, T* dcol) {
  std::vector<T> xbuf, dybuf(s.out_size()), dxbuf(dx ? s.in_size() : 0);
  const int64_t ohw = s.col_cols();
  for (int64_t k = 0; k < tasks; ++k) {
    const T* xk = task_images(x, k, s.n, s.c_in, s.h * s.w, x_nchw, xbuf);
    swap_axes_cpu<T>(1, s.c_out, s.n, ohw, dy + k * s.out_size(), dybuf.data());  // (c, n, hw) -> NCHW
    conv2d_backward_cpu(s, xk, w + k * p_stride, dybuf.data(), dx ? dxbuf.data() : nullptr, dw + k * p_stride,
                        db ? db + k * p_stride : nullptr, col, dcol);
    if (dx) swap_axes_cpu<T>(1, s.n, s.c_in, s.h * s.w, dxbuf.data(), dx + k * s.in_size());
  }
}

// One task's (c, len) block is a batch of one image of c channels and len pixels: the one-task
// batch norm over (1, c, len) sums each channel's values in the same order as over (n, c, hw).
template <typename T>
void batchnorm_forward_tasks_cpu(int64_t tasks, int64_t c, int64_t len, const T* x, const T* gamma, const T* beta,
                                 int64_t p_stride, T eps, T* y, T* xhat, T* inv_std) {
  for (int64_t k = 0; k < tasks; ++k) {
    const int64_t o = k * c * len;
    batchnorm_forward_cpu<T>(1, c, len, x + o, gamma + k * p_stride, beta + k * p_stride, eps, y + o, xhat + o,
                             inv_std + k * c);
  }
}

template <typename T>
void batchnorm_backward_tasks_cpu(int64_t tasks, int64_t c, int64_t len, const T* dy, const T* xhat, const T* gamma,
                                  const T* inv_std, int64_t p_stride, T* dx, T* dgamma, T* dbeta) {
  for (int64_t k = 0; k < tasks; ++k) {
    const int64_t o = k * c * len;
    batchnorm_backward_cpu<T>(1, c, len, dy + o, xhat + o, gamma + k * p_stride, inv_std + k * c, dx + o,
                              dgamma + k * p_stride, dbeta + k * p_stride);
  }
}

#define L2O_INSTANTIATE_CONV_TASKS(T)                                                                            \
  template void swap_axes_cpu<T>(int64_t, int64_t, int64_t, int64_t, const T*, T*);                             \
  template void conv2d_forward_tasks_cpu<T>(const ConvShape&, int64_t, int64_t, bool, const T*, const T*,       \
                                            const T*, T*, T*);                                                  \
  template void conv2d_backward_tasks_cpu<T>(const ConvShape&, int64_t, int64_t, bool, const T*, const T*,      \
                                             const T*, T*, T*, T*, T*, T*);                                     \
  template void batchnorm_forward_tasks_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, int64_t, \
                                               T, T*, T*, T*);                                                   \
  template void batchnorm_backward_tasks_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,         \
                                                const T*, int64_t, T*, T*, T*);
L2O_INSTANTIATE_CONV_TASKS(float)
L2O_INSTANTIATE_CONV_TASKS(double)
#undef L2O_INSTANTIATE_CONV_TASKS

}  // namespace l2o
