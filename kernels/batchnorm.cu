// CUDA twins of the training-mode batch norm (conv.h): one block per channel. Each thread sums a
// fixed strided subset of the channel's n*hw values in double, a fixed-order tree combines them
// (block_reduce.cuh), so the statistics are deterministic; the per-element math is conv_math.h's,
// with the mean and 1/std rounded to T exactly as the CPU twin rounds them.
#include "kernels/block_reduce.cuh"
#include "kernels/conv.h"
#include "kernels/cuda_context.cuh"

namespace l2o {

namespace {

constexpr int kThreads = 256;  // per channel

// Two-pass statistics (mean, then the mean squared deviation: no cancellation), then xhat and y.
template <typename T>
__global__ void bn_forward_kernel(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta,
                                  double eps, T* y, T* xhat, T* inv_std) {
  __shared__ double sh[kThreads];
  const int64_t ch = blockIdx.x, m = n * hw;
  double s = 0;
  for (int64_t e = threadIdx.x; e < m; e += kThreads) s += x[channel_at(e, c, hw, ch)];
  const double mean = block_sum<kThreads>(s, sh) / static_cast<double>(m);
  double sq = 0;
  for (int64_t e = threadIdx.x; e < m; e += kThreads) {
    const double d = x[channel_at(e, c, hw, ch)] - mean;
    sq += d * d;
  }
  const double var = block_sum<kThreads>(sq, sh) / static_cast<double>(m);
  const T is = static_cast<T>(1.0 / sqrt(var + eps));
  const T mu = static_cast<T>(mean);
  if (threadIdx.x == 0) inv_std[ch] = is;
  const T g = gamma[ch], b = beta[ch];
  for (int64_t e = threadIdx.x; e < m; e += kThreads) {
    const int64_t a = channel_at(e, c, hw, ch);
    const T v = x[a];
    xhat[a] = (v - mu) * is;
    y[a] = bn_fwd(v, mu, is, g, b);
  }
}

// dgamma = sum dy*xhat, dbeta = sum dy (double), then dx. dx may alias dy: every dy is read by the
// reductions before the barrier inside block_sum, and each element is then read and written by one thread.
template <typename T>
__global__ void bn_backward_kernel(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                                   const T* inv_std, T* dx, T* dgamma, T* dbeta) {
  __shared__ double sh[kThreads];
  const int64_t ch = blockIdx.x, m = n * hw;
  double sdy = 0, sdyx = 0;
  for (int64_t e = threadIdx.x; e < m; e += kThreads) {
    const int64_t a = channel_at(e, c, hw, ch);
    sdy += dy[a];
    sdyx += static_cast<double>(dy[a]) * xhat[a];
  }
  sdy = block_sum<kThreads>(sdy, sh);
  sdyx = block_sum<kThreads>(sdyx, sh);
  if (threadIdx.x == 0) {
    dgamma[ch] = static_cast<T>(sdyx);
    dbeta[ch] = static_cast<T>(sdy);
  }
  const T mdy = static_cast<T>(sdy / static_cast<double>(m)), mdyx = static_cast<T>(sdyx / static_cast<double>(m));
  const T g = gamma[ch], is = inv_std[ch];
  for (int64_t e = threadIdx.x; e < m; e += kThreads) {
    const int64_t a = channel_at(e, c, hw, ch);
    dx[a] = bn_bwd(dy[a], xhat[a], g, is, mdy, mdyx);
  }
}

void check_bn_shape(int64_t n, int64_t c, int64_t hw) {
  L2O_CHECK(n > 0 && c > 0 && hw > 0, "bad batch-norm shape " << n << "x" << c << "x" << hw);
  L2O_CHECK(c <= INT32_MAX, "batch norm over " << c << " channels");
}

}  // namespace

template <typename T>
void batchnorm_forward_cuda(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, T eps,
                            T* y, T* xhat, T* inv_std) {
  check_bn_shape(n, c, hw);
  bn_forward_kernel<<<static_cast<unsigned>(c), kThreads, 0, cuda_stream()>>>(n, c, hw, x, gamma, beta,
                                                                              static_cast<double>(eps), y, xhat,
                                                                              inv_std);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void batchnorm_backward_cuda(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                             const T* inv_std, T* dx, T* dgamma, T* dbeta) {
  check_bn_shape(n, c, hw);
  bn_backward_kernel<<<static_cast<unsigned>(c), kThreads, 0, cuda_stream()>>>(n, c, hw, dy, xhat, gamma, inv_std,
                                                                               dx, dgamma, dbeta);
  CUDA_CHECK_LAUNCH();
}

#define L2O_INSTANTIATE_BN_CUDA(T)                                                                             \
  template void batchnorm_forward_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, T*, T*,  \
                                          T*);                                                                 \
  template void batchnorm_backward_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,  \
                                           T*, T*, T*);
L2O_INSTANTIATE_BN_CUDA(float)
L2O_INSTANTIATE_BN_CUDA(double)
#undef L2O_INSTANTIATE_BN_CUDA

}  // namespace l2o
