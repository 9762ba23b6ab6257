// Ops of the convolutional optimizees (REFERENCE.md section 3, Conv-MNIST / Conv-CIFAR). The CPU twins
// (conv_cpu.cpp) are the reference for the CUDA twins (conv.cu, batchnorm.cu), which take the same
// arguments on device pointers (workspaces included), run on cuda_stream() and are instantiated for
// float and double like the CPU twins. The CUDA reductions are deterministic (fixed order, no atomics).
//
// Layout: NCHW, contiguous. Activations x (n, c, h, w); conv weights (c_out, c_in, k, k); biases (c_out).
// Every backward overwrites its outputs (no accumulation) unless stated otherwise.
#pragma once
#include <cstdint>

#include "kernels/conv_math.h"

namespace l2o {

// VALID convolution with a square kernel k and stride `stride` in both directions.
struct ConvShape {
  int64_t n = 1, c_in = 1, h = 1, w = 1;  // input (n, c_in, h, w)
  int64_t c_out = 1, k = 1, stride = 1;
  int64_t h_out() const { return conv_out_size(h, k, stride); }
  int64_t w_out() const { return conv_out_size(w, k, stride); }
  int64_t col_rows() const { return c_in * k * k; }         // im2col rows, ordered (c_in, ki, kj)
  int64_t col_cols() const { return h_out() * w_out(); }    // im2col columns, ordered (oh, ow)
  // Workspace: one image's im2col (col_rows, col_cols); the GEMM runs per image (measured faster on
  // the CPU than one batch-wide GEMM, whose operands fall out of cache).
  int64_t col_size() const { return col_rows() * col_cols(); }
  int64_t weight_size() const { return c_out * col_rows(); }
  // The CUDA twins' workspaces cover the whole batch (one launch per op, not one per image): col holds
  // every image's im2col; dcol first the per-image weight gradients (n, c_out, col_rows), then dcol.
  int64_t cuda_col_size() const { return n * col_size(); }
  int64_t cuda_dcol_size() const { return n * (col_size() > weight_size() ? col_size() : weight_size()); }
  int64_t in_size() const { return n * c_in * h * w; }
  int64_t out_size() const { return n * c_out * col_cols(); }
};

// y (n, c_out, h_out, w_out) = conv(x, w) + b; b may be null (no bias).
// col: workspace of s.col_size() values (CUDA: s.cuda_col_size()).
// CUDA: one im2col kernel over the batch, one strided-batched cuBLAS GEMM, then the bias.
template <typename T>
void conv2d_forward_cpu(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* col);
template <typename T>
void conv2d_forward_cuda(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* col);

// From dy (n, c_out, h_out, w_out): dx (n, c_in, h, w) (may be null: not needed), dw (c_out, c_in, k, k),
// db (c_out) (may be null). col, dcol: workspaces of s.col_size() values each (im2col is recomputed;
// CUDA: s.cuda_col_size() and s.cuda_dcol_size()).
// CUDA: im2col over the batch, per-image dw by one strided-batched GEMM then summed over images in
// image order (as the CPU accumulates), dx by one strided-batched GEMM into dcol and a gathering
// col2im (one thread per input pixel, no atomics), db by a per-channel reduction in double.
template <typename T>
void conv2d_backward_cpu(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* col,
                         T* dcol);
template <typename T>
void conv2d_backward_cuda(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* col,
                          T* dcol);

// Batch norm in training mode over x (n, c, hw): per channel, batch statistics over the n*hw values
// (biased variance), y = gamma * (x - mean) / sqrt(var + eps) + beta. Keeps xhat (n, c, hw) and
// inv_std (c) for the backward. Sums are accumulated in double (CUDA: several blocks per channel,
// each thread a fixed strided subset, a fixed-order tree per block, the blocks' partials added in
// block order by the next pass; channels at most 32,768, n*hw below 2^31).
template <typename T>
void batchnorm_forward_cpu(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, T eps, T* y,
                           T* xhat, T* inv_std);
template <typename T>
void batchnorm_forward_cuda(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, T eps,
                            T* y, T* xhat, T* inv_std);

// From dy (n, c, hw): dx (n, c, hw) (may alias dy), dgamma (c), dbeta (c).
template <typename T>
void batchnorm_backward_cpu(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                            const T* inv_std, T* dx, T* dgamma, T* dbeta);
template <typename T>
void batchnorm_backward_cuda(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                             const T* inv_std, T* dx, T* dgamma, T* dbeta);

// K tasks at once (a ConvNet task batch, optimizees/convnet_cuda.cu). s.n = the images
// per task; task k's parameters (w, b, gamma, beta and their gradients) at k * p_stride. A strided-
// batched GEMM cannot vary the weight inside a batch of images, so each task's images form one GEMM
// over (rows, n * cols) and activations use the task layout (K, c, n, h, w) (per task CNHW): a
// (task, channel) group is then contiguous for batch norm. x_nchw: x is (K * n, c_in, h, w) instead
// (the gathered input). col: K * s.cuda_col_size(); dcol: K * s.cuda_col_size(). The CPU twins
// (conv_tasks_cpu.cpp, the reference of the CUDA ones) run each task through the one-task CPU ops.
// Forward: one im2col, one GEMM over K, one bias add. y in task layout.
template <typename T>
void conv2d_forward_tasks_cpu(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                              const T* w, const T* b, T* y, T* col);
template <typename T>
void conv2d_forward_tasks_cuda(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                               const T* w, const T* b, T* y, T* col);
// Backward: dw_k by one GEMM over K straight into the gradient (sums over the images inside the GEMM,
// not in image order); dx (may be null) in task layout; db by a per-(task, channel) double sum.
template <typename T>
void conv2d_backward_tasks_cpu(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                               const T* w, const T* dy, T* dx, T* dw, T* db, T* col, T* dcol);
template <typename T>
void conv2d_backward_tasks_cuda(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                                const T* w, const T* dy, T* dx, T* dw, T* db, T* col, T* dcol);
// Batch norm of x (tasks, c, len): K * c groups with their own statistics (inv_std (tasks, c)) and
// task k's gamma/beta (dgamma/dbeta) at k * p_stride. The same sums, in the same order, as
// batchnorm_*_cuda over one task's (n, c, hw) with len = n * hw, as long as the CUDA twin's scratch
// allows each group as many parts as one task's channel gets (K * c at most 65,536 / (2 * parts):
// K <= 93 for Conv-MNIST's block 0 at 128 images per task); beyond that its parts are fewer and the
// last bits may differ. K * c is at most 32,768.
template <typename T>
void batchnorm_forward_tasks_cpu(int64_t tasks, int64_t c, int64_t len, const T* x, const T* gamma, const T* beta,
                                 int64_t p_stride, T eps, T* y, T* xhat, T* inv_std);
template <typename T>
void batchnorm_forward_tasks_cuda(int64_t tasks, int64_t c, int64_t len, const T* x, const T* gamma, const T* beta,
                                  int64_t p_stride, T eps, T* y, T* xhat, T* inv_std);
template <typename T>
void batchnorm_backward_tasks_cpu(int64_t tasks, int64_t c, int64_t len, const T* dy, const T* xhat, const T* gamma,
                                  const T* inv_std, int64_t p_stride, T* dx, T* dgamma, T* dbeta);
template <typename T>
void batchnorm_backward_tasks_cuda(int64_t tasks, int64_t c, int64_t len, const T* dy, const T* xhat, const T* gamma,
                                   const T* inv_std, int64_t p_stride, T* dx, T* dgamma, T* dbeta);
// y (outer, b, a, inner) = x (outer, a, b, inner): task layout <-> NCHW around the FC layer.
template <typename T>
void swap_axes_cpu(int64_t outer, int64_t a, int64_t b, int64_t inner, const T* x, T* y);
template <typename T>
void swap_axes_cuda(int64_t outer, int64_t a, int64_t b, int64_t inner, const T* x, T* y);

// y = max(x, 0) over `count` values (y may alias x); backward dx = dy where y > 0 (dx may alias dy).
template <typename T>
void relu_forward_cpu(int64_t count, const T* x, T* y);
template <typename T>
void relu_backward_cpu(int64_t count, const T* y, const T* dy, T* dx);
template <typename T>
void relu_forward_cuda(int64_t count, const T* x, T* y);
template <typename T>
void relu_backward_cuda(int64_t count, const T* y, const T* dy, T* dx);

// 2x2 max-pool, stride 2, VALID (floor): x (nc, h, w) -> y (nc, h/2, w/2); argmax (nc, h/2, w/2) is the
// index within the input plane (i*w + j) of the chosen value (first maximum in row-major window order).
template <typename T>
void maxpool2x2_forward_cpu(int64_t nc, int64_t h, int64_t w, const T* x, T* y, int32_t* argmax);
template <typename T>
void maxpool2x2_forward_cuda(int64_t nc, int64_t h, int64_t w, const T* x, T* y, int32_t* argmax);
// dx (nc, h, w) = zeros, then dy routed to argmax (rows/columns cut off by the floor get 0).
// CUDA: one thread per input pixel (the windows do not overlap), so no atomics.
template <typename T>
void maxpool2x2_backward_cpu(int64_t nc, int64_t h, int64_t w, const T* dy, const int32_t* argmax, T* dx);
template <typename T>
void maxpool2x2_backward_cuda(int64_t nc, int64_t h, int64_t w, const T* dy, const int32_t* argmax, T* dx);

}  // namespace l2o
