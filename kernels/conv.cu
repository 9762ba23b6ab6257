// CUDA twins of the convolution, ReLU and max-pool ops (conv.h); batch norm is in batchnorm.cu.
// The convolution is the CPU twin's im2col + GEMM, batched: one im2col kernel for all images and one
// strided-batched cuBLAS GEMM (plain fp32/fp64, no TF32) instead of 2 launches per image (~1,500 per
// ConvNet loss and gradient at batch 128). The weight gradient is computed per image, then summed
// over the images in image order by one kernel (the CPU's order; fixed, no atomics). col2im gathers
// (one thread per input pixel, contributions in (ki, kj) order, as the CPU adds them).
// The *_tasks variants (ConvNet task batches) batch the GEMMs over tasks instead of images, with
// per-task weights, on the task layout of conv.h.
#include <climits>

#include "kernels/block_reduce.cuh"
#include "kernels/conv.h"
#include "kernels/cuda_context.cuh"

namespace l2o {

namespace {

constexpr int kThreads = 256;        // elementwise kernels
constexpr int kReduceThreads = 256;  // one block per channel

// Row-major C (m, n) = alpha op(A) op(B) + beta C with A (m, k) (stored (k, m) when ta) and B (k, n)
// (stored (n, k) when tb): cuBLAS's column-major C^T = op(B)^T op(A)^T; here batched.
void gemm_batched_call(cublasOperation_t ob, cublasOperation_t oa, int n, int m, int k, const float* alpha,
                       const float* B, int ldb, long long sb, const float* A, int lda, long long sa, const float* beta,
                       float* C, int ldc, long long sc, int batch) {
  CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_handle(), ob, oa, n, m, k, alpha, B, ldb, sb, A, lda, sa, beta, C, ldc,
                                         sc, batch));
}
void gemm_batched_call(cublasOperation_t ob, cublasOperation_t oa, int n, int m, int k, const double* alpha,
                       const double* B, int ldb, long long sb, const double* A, int lda, long long sa,
                       const double* beta, double* C, int ldc, long long sc, int batch) {
  CUBLAS_CHECK(cublasDgemmStridedBatched(cublas_handle(), ob, oa, n, m, k, alpha, B, ldb, sb, A, lda, sa, beta, C, ldc,
                                         sc, batch));
}

// C_i = alpha op(A_i) op(B_i) + beta C_i (row-major) for i < batch; operands sa, sb, sc apart (0: shared).
template <typename T>
void gemm_rm_batched(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A, int64_t sa, const T* B,
                     int64_t sb, T beta, T* C, int64_t sc, int64_t batch) {
  L2O_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && batch <= INT_MAX,
            "GEMM " << m << "x" << n << "x" << k << " x" << batch << " too large");
  const int lda = static_cast<int>(ta ? m : k), ldb = static_cast<int>(tb ? k : n);
  gemm_batched_call(tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                    static_cast<int>(m), static_cast<int>(k), &alpha, B, ldb, sb, A, lda, sa, &beta, C,
                    static_cast<int>(n), sc, static_cast<int>(batch));
}

// col (n, rows, cols) of the images x (n, c_in, h, w): row r = (ci*k + ki)*k + kj, column q = oh*w_out + ow.
template <typename T>
__global__ void im2col_kernel(int64_t n, int64_t rows, int64_t cols, int64_t k, int64_t stride, int64_t h,
                              int64_t w, int64_t w_out, int64_t in, const T* x, T* col) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * rows * cols) return;
  const int64_t i = e / (rows * cols), ri = e - i * rows * cols, r = ri / cols, q = ri - r * cols;
  const int64_t kj = r % k, ki = (r / k) % k, ci = r / (k * k);
  const int64_t oh = q / w_out, ow = q - oh * w_out;
  col[e] = x[i * in + (ci * h + oh * stride + ki) * w + ow * stride + kj];
}

// out[j] = sum over images i (in order, as the CPU accumulates) of parts[i * len + j].
template <typename T>
__global__ void sum_images_kernel(int64_t n, int64_t len, const T* parts, T* out) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= len) return;
  T s = parts[j];
  for (int64_t i = 1; i < n; ++i) s = parts[i * len + j] + s;
  out[j] = s;
}

// dx (n, c_in, h, w) from dcol (n, rows, cols): each pixel sums the entries that read it.
template <typename T>
__global__ void col2im_kernel(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t k, int64_t stride,
                              int64_t h_out, int64_t w_out, const T* dcol, T* dx) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * c_in * h * w) return;
  const int64_t cols = h_out * w_out, img = e / (c_in * h * w);
  const int64_t ci = (e / (h * w)) % c_in, y = (e / w) % h, xx = e % w;
  dcol += img * c_in * k * k * cols;
  T sum = T(0);
  for (int64_t ki = 0; ki < k; ++ki) {
    const int64_t ry = y - ki;  // = oh * stride for the output row that reads this pixel at ki
    if (ry < 0 || ry % stride != 0 || ry / stride >= h_out) continue;
    for (int64_t kj = 0; kj < k; ++kj) {
      const int64_t rx = xx - kj;
      if (rx < 0 || rx % stride != 0 || rx / stride >= w_out) continue;
      sum += dcol[((ci * k + ki) * k + kj) * cols + (ry / stride) * w_out + rx / stride];
    }
  }
  dx[e] = sum;
}

// y (n, c, hw) += b[c]; with p_stride, y (tasks, c, hw) += b[task * p_stride + c].
template <typename T>
__global__ void bias_add_kernel(int64_t count, int64_t c, int64_t hw, const T* b, int64_t p_stride, T* y) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const int64_t g = e / hw;
  y[e] += b[g / c * p_stride + g % c];
}

// out[ch] = sum over the channel's n*hw values of x (n, c, hw), in double; one block per channel.
// Channel ch's sum goes to out[ch / group * o_stride + ch % group] (tasks: group = c_out).
template <typename T>
__global__ void channel_sum_kernel(int64_t n, int64_t c, int64_t hw, int64_t group, int64_t o_stride, const T* x,
                                   T* out) {
  __shared__ double sh[kReduceThreads];
  const int64_t ch = blockIdx.x, m = n * hw;
  double s = 0;
  for (int64_t e = threadIdx.x; e < m; e += kReduceThreads) s += x[channel_at(e, c, hw, ch)];
  const double total = block_sum<kReduceThreads>(s, sh);
  if (threadIdx.x == 0) out[ch / group * o_stride + ch % group] = static_cast<T>(total);
}

template <typename T>
__global__ void relu_forward_kernel(int64_t count, const T* x, T* y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) y[i] = relu_fwd(x[i]);
}

template <typename T>
__global__ void relu_backward_kernel(int64_t count, const T* y, const T* dy, T* dx) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) dx[i] = relu_bwd(dy[i], y[i]);
}

// One thread per output (plane p, row i, column j).
template <typename T>
__global__ void maxpool_forward_kernel(int64_t nc, int64_t h, int64_t w, int64_t ho, int64_t wo, const T* x, T* y,
                                       int32_t* argmax) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= nc * ho * wo) return;
  const int64_t p = e / (ho * wo), i = (e / wo) % ho, j = e % wo;
  const T* xp = x + p * h * w;
  const int64_t best = pool2_argmax(xp, w, i, j);
  y[e] = xp[best];
  argmax[e] = static_cast<int32_t>(best);
}

// One thread per input pixel: the windows do not overlap, so each pixel has at most one output.
template <typename T>
__global__ void maxpool_backward_kernel(int64_t nc, int64_t h, int64_t w, int64_t ho, int64_t wo, const T* dy,
                                        const int32_t* argmax, T* dx) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= nc * h * w) return;
  const int64_t p = e / (h * w), idx = e - p * h * w, i = idx / w / 2, j = idx % w / 2;
  T v = T(0);
  if (i < ho && j < wo) {
    const int64_t o = (p * ho + i) * wo + j;
    if (argmax[o] == idx) v = dy[o];
  }
  dx[e] = v;
}

// Task layout (see conv.h): x's image i of task t, channel ci at t * ts + i * is + ci * cs.
struct TaskStrides {
  int64_t ts, is, cs;
};
TaskStrides task_strides(const ConvShape& s, bool nchw) {
  const int64_t plane = s.h * s.w;
  return {s.n * s.c_in * plane, nchw ? s.c_in * plane : plane, nchw ? plane : s.n * plane};
}

// col (tasks, rows, n * cols): task t's row r = (ci*k + ki)*k + kj, column i * cols + oh*w_out + ow.
template <typename T>
__global__ void im2col_tasks_kernel(int64_t count, int64_t n, int64_t rows, int64_t cols, int64_t k, int64_t stride,
                                    int64_t w, int64_t w_out, TaskStrides st, const T* x, T* col) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const int64_t q = e % cols, i = (e / cols) % n, r = (e / (cols * n)) % rows, t = e / (cols * n * rows);
  const int64_t kj = r % k, ki = (r / k) % k, ci = r / (k * k);
  const int64_t oh = q / w_out, ow = q - oh * w_out;
  col[e] = x[t * st.ts + i * st.is + ci * st.cs + (oh * stride + ki) * w + ow * stride + kj];
}

// dx (tasks, c_in, n, h, w) from dcol (tasks, rows, n * cols): as col2im_kernel, (ki, kj) order.
template <typename T>
__global__ void col2im_tasks_kernel(int64_t count, int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t k,
                                    int64_t stride, int64_t h_out, int64_t w_out, const T* dcol, T* dx) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const int64_t cols = h_out * w_out, xx = e % w, y = (e / w) % h, i = (e / (w * h)) % n;
  const int64_t ci = (e / (w * h * n)) % c_in, t = e / (w * h * n * c_in);
  dcol += (t * c_in * k * k * n + i) * cols;  // task t's block, image i's columns
  T sum = T(0);
  for (int64_t ki = 0; ki < k; ++ki) {
    const int64_t ry = y - ki;
    if (ry < 0 || ry % stride != 0 || ry / stride >= h_out) continue;
    for (int64_t kj = 0; kj < k; ++kj) {
      const int64_t rx = xx - kj;
      if (rx < 0 || rx % stride != 0 || rx / stride >= w_out) continue;
      sum += dcol[((ci * k + ki) * k + kj) * n * cols + (ry / stride) * w_out + rx / stride];
    }
  }
  dx[e] = sum;
}

// y (outer, b, a, inner) = x (outer, a, b, inner); one thread per output.
template <typename T>
__global__ void swap_axes_kernel(int64_t count, int64_t a, int64_t b, int64_t inner, const T* x, T* y) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= count) return;
  const int64_t q = e % inner, ia = (e / inner) % a, ib = (e / (inner * a)) % b, o = e / (inner * a * b);
  y[e] = x[((o * a + ia) * b + ib) * inner + q];
}

void check_shape(const ConvShape& s) {
  L2O_CHECK(s.n > 0 && s.c_in > 0 && s.c_out > 0 && s.k > 0 && s.stride > 0, "bad conv shape");
  L2O_CHECK(s.h >= s.k && s.w >= s.k, "conv kernel " << s.k << " larger than input " << s.h << "x" << s.w);
}

// The whole batch's im2col into col (s.cuda_col_size()).
template <typename T>
void im2col(const ConvShape& s, const T* x, T* col) {
  const int64_t count = s.cuda_col_size();
  im2col_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(
      s.n, s.col_rows(), s.col_cols(), s.k, s.stride, s.h, s.w, s.w_out(), s.c_in * s.h * s.w, x, col);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

template <typename T>
void conv2d_forward_cuda(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* col) {
  check_shape(s);
  const int64_t rows = s.col_rows(), cols = s.col_cols();
  im2col(s, x, col);
  // y_i (c_out, cols) = w (c_out, rows) col_i (rows, cols), all images in one call.
  gemm_rm_batched<T>(false, false, s.c_out, cols, rows, T(1), w, 0, col, s.col_size(), T(0), y, s.c_out * cols, s.n);
  if (b) {
    bias_add_kernel<<<grid_for(s.out_size(), kThreads), kThreads, 0, cuda_stream()>>>(s.out_size(), s.c_out, cols, b,
                                                                                       0, y);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void conv2d_backward_cuda(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* col,
                          T* dcol) {
  check_shape(s);
  const int64_t rows = s.col_rows(), cols = s.col_cols(), out = s.c_out * cols, wsize = s.weight_size();
  im2col(s, x, col);
  // Per image, dw_i (c_out, rows) = dy_i (c_out, cols) col_i^T into dcol; then dw = sum_i dw_i.
  gemm_rm_batched<T>(false, true, s.c_out, rows, cols, T(1), dy, out, col, s.col_size(), T(0), dcol, wsize, s.n);
  sum_images_kernel<<<grid_for(wsize, kThreads), kThreads, 0, cuda_stream()>>>(s.n, wsize, dcol, dw);
  CUDA_CHECK_LAUNCH();
  if (dx) {
    // dcol_i (rows, cols) = w^T (rows, c_out) dy_i (c_out, cols), then back onto the images.
    gemm_rm_batched<T>(true, false, rows, cols, s.c_out, T(1), w, 0, dy, out, T(0), dcol, s.col_size(), s.n);
    col2im_kernel<<<grid_for(s.in_size(), kThreads), kThreads, 0, cuda_stream()>>>(
        s.n, s.c_in, s.h, s.w, s.k, s.stride, s.h_out(), s.w_out(), dcol, dx);
    CUDA_CHECK_LAUNCH();
  }
  if (db) {
    channel_sum_kernel<<<static_cast<unsigned>(s.c_out), kReduceThreads, 0, cuda_stream()>>>(s.n, s.c_out, cols,
                                                                                             s.c_out, 0, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void conv2d_forward_tasks_cuda(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                               const T* w, const T* b, T* y, T* col) {
  check_shape(s);
  const int64_t rows = s.col_rows(), len = s.n * s.col_cols(), count = tasks * rows * len;
  im2col_tasks_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(
      count, s.n, rows, s.col_cols(), s.k, s.stride, s.w, s.w_out(), task_strides(s, x_nchw), x, col);
  CUDA_CHECK_LAUNCH();
  // y_t (c_out, n * cols) = w_t (c_out, rows) col_t (rows, n * cols), all tasks in one call.
  gemm_rm_batched<T>(false, false, s.c_out, len, rows, T(1), w, p_stride, col, rows * len, T(0), y, s.c_out * len,
                     tasks);
  if (b) {
    const int64_t out = tasks * s.c_out * len;
    bias_add_kernel<<<grid_for(out, kThreads), kThreads, 0, cuda_stream()>>>(out, s.c_out, len, b, p_stride, y);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void conv2d_backward_tasks_cuda(const ConvShape& s, int64_t tasks, int64_t p_stride, bool x_nchw, const T* x,
                                const T* w, const T* dy, T* dx, T* dw, T* db, T* col, T* dcol) {
  check_shape(s);
  const int64_t rows = s.col_rows(), len = s.n * s.col_cols(), count = tasks * rows * len;
  im2col_tasks_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(
      count, s.n, rows, s.col_cols(), s.k, s.stride, s.w, s.w_out(), task_strides(s, x_nchw), x, col);
  CUDA_CHECK_LAUNCH();
  // dw_t (c_out, rows) = dy_t (c_out, n * cols) col_t^T, written at the task's stride.
  gemm_rm_batched<T>(false, true, s.c_out, rows, len, T(1), dy, s.c_out * len, col, rows * len, T(0), dw, p_stride,
                     tasks);
  if (dx) {
    // dcol_t (rows, n * cols) = w_t^T (rows, c_out) dy_t (c_out, n * cols), then onto the images.
    gemm_rm_batched<T>(true, false, rows, len, s.c_out, T(1), w, p_stride, dy, s.c_out * len, T(0), dcol, rows * len,
                       tasks);
    const int64_t in = tasks * s.in_size();
    col2im_tasks_kernel<<<grid_for(in, kThreads), kThreads, 0, cuda_stream()>>>(in, s.n, s.c_in, s.h, s.w, s.k,
                                                                              s.stride, s.h_out(), s.w_out(), dcol,
                                                                              dx);
    CUDA_CHECK_LAUNCH();
  }
  if (db) {
    L2O_CHECK(tasks * s.c_out <= INT_MAX, "too many (task, channel) groups");
    channel_sum_kernel<<<static_cast<unsigned>(tasks * s.c_out), kReduceThreads, 0, cuda_stream()>>>(
        1, tasks * s.c_out, len, s.c_out, p_stride, dy, db);
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void swap_axes_cuda(int64_t outer, int64_t a, int64_t b, int64_t inner, const T* x, T* y) {
  const int64_t count = outer * a * b * inner;
  if (count == 0) return;
  swap_axes_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(count, a, b, inner, x, y);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void relu_forward_cuda(int64_t count, const T* x, T* y) {
  if (count == 0) return;
  relu_forward_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(count, x, y);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void relu_backward_cuda(int64_t count, const T* y, const T* dy, T* dx) {
  if (count == 0) return;
  relu_backward_kernel<<<grid_for(count, kThreads), kThreads, 0, cuda_stream()>>>(count, y, dy, dx);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void maxpool2x2_forward_cuda(int64_t nc, int64_t h, int64_t w, const T* x, T* y, int32_t* argmax) {
  const int64_t ho = pool2_out_size(h), wo = pool2_out_size(w);
  L2O_CHECK(ho > 0 && wo > 0, "max-pool input " << h << "x" << w << " smaller than 2x2");
  L2O_CHECK(h * w <= INT32_MAX, "max-pool plane " << h << "x" << w << " too large for int32 argmax");
  if (nc == 0) return;
  maxpool_forward_kernel<<<grid_for(nc * ho * wo, kThreads), kThreads, 0, cuda_stream()>>>(nc, h, w, ho, wo, x, y,
                                                                                          argmax);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void maxpool2x2_backward_cuda(int64_t nc, int64_t h, int64_t w, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t ho = pool2_out_size(h), wo = pool2_out_size(w);
  if (nc * h * w == 0) return;
  maxpool_backward_kernel<<<grid_for(nc * h * w, kThreads), kThreads, 0, cuda_stream()>>>(nc, h, w, ho, wo, dy,
                                                                                         argmax, dx);
  CUDA_CHECK_LAUNCH();
}

#define L2O_INSTANTIATE_CONV_CUDA(T)                                                                           \
  template void conv2d_forward_cuda<T>(const ConvShape&, const T*, const T*, const T*, T*, T*);                \
  template void conv2d_backward_cuda<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, T*, T*, T*);   \
  template void conv2d_forward_tasks_cuda<T>(const ConvShape&, int64_t, int64_t, bool, const T*, const T*,      \
                                             const T*, T*, T*);                                                \
  template void conv2d_backward_tasks_cuda<T>(const ConvShape&, int64_t, int64_t, bool, const T*, const T*,     \
                                              const T*, T*, T*, T*, T*, T*);                                   \
  template void swap_axes_cuda<T>(int64_t, int64_t, int64_t, int64_t, const T*, T*);                           \
  template void relu_forward_cuda<T>(int64_t, const T*, T*);                                                   \
  template void relu_backward_cuda<T>(int64_t, const T*, const T*, T*);                                        \
  template void maxpool2x2_forward_cuda<T>(int64_t, int64_t, int64_t, const T*, T*, int32_t*);                 \
  template void maxpool2x2_backward_cuda<T>(int64_t, int64_t, int64_t, const T*, const int32_t*, T*);
L2O_INSTANTIATE_CONV_CUDA(float)
L2O_INSTANTIATE_CONV_CUDA(double)
#undef L2O_INSTANTIATE_CONV_CUDA

}  // namespace l2o
