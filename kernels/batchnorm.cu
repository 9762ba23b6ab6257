// CUDA twins of the training-mode batch norm (conv.h). Each channel's n*hw values are split into
// `parts` contiguous ranges, one block each (one block per channel left most SMs idle: 16-32
// channels at batch 128). Each thread sums a fixed strided subset of its range in double, a
// fixed-order tree combines the block (block_reduce.cuh), and every block of the next pass adds
// the channel's partials in part order: deterministic, no atomics. Index math is 32-bit (one
// unsigned divide per element, not a 64-bit one). The per-element math is conv_math.h's, with the
// mean and 1/std rounded to T exactly as the CPU twin rounds them. A ConvNet task batch runs the
// same passes over K*c groups (n = 1), each group's gamma/beta at its task's parameter stride.
#include <cstdint>

#include "kernels/block_reduce.cuh"
#include "kernels/conv.h"
#include "kernels/cuda_context.cuh"

namespace l2o {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxParts = 64;
constexpr int64_t kPerBlock = 16 * kThreads;  // aim: ~16 values per thread per pass
constexpr int kScratch = 1 << 16;             // doubles: 2 partials per (channel, part)

// The partials between passes. A fixed device array, not an allocation, so a graph capture can
// contain these ops; safe because every op runs on the one stream (cuda_stream()).
__device__ double g_partials[kScratch];

struct BnSplit {
  uint32_t hw, len;  // values per image plane, values per part (the last part may be shorter)
  uint32_t m;        // n * hw
  int c, parts;
  int group = 0;         // task batches: channel ch's gamma/beta at ch / group * p_stride + ch % group
  int64_t p_stride = 0;  // (group = c, p_stride = 0: at ch)
  __device__ size_t param(int ch) const { return static_cast<size_t>(ch / group * p_stride + ch % group); }
};

BnSplit bn_split(int64_t n, int64_t c, int64_t hw) {
  L2O_CHECK(n > 0 && c > 0 && hw > 0, "bad batch-norm shape " << n << "x" << c << "x" << hw);
  L2O_CHECK(n * hw <= INT32_MAX, "batch norm too large for 32-bit indices: " << n << "x" << c << "x" << hw);
  L2O_CHECK(2 * c <= kScratch, "batch norm over " << c << " channels (at most " << kScratch / 2 << ")");
  const int64_t m = n * hw;
  int64_t parts = (m + kPerBlock - 1) / kPerBlock;
  parts = parts < kMaxParts ? parts : kMaxParts;
  parts = parts < kScratch / (2 * c) ? parts : kScratch / (2 * c);
  BnSplit s;
  s.hw = static_cast<uint32_t>(hw);
  s.m = static_cast<uint32_t>(m);
  s.c = static_cast<int>(c);
  s.group = s.c;
  s.parts = static_cast<int>(parts);
  s.len = static_cast<uint32_t>((m + parts - 1) / parts);
  return s;
}

// This block's channel and the offset in (n, c, hw) of the channel's e-th value.
struct BnBlock {
  int ch, part;
  uint32_t begin, end;
  __device__ explicit BnBlock(const BnSplit& s)
      : ch(static_cast<int>(blockIdx.x) / s.parts), part(static_cast<int>(blockIdx.x) % s.parts) {
    begin = static_cast<uint32_t>(part) * s.len;
    end = begin + s.len < s.m ? begin + s.len : s.m;
  }
  __device__ size_t at(const BnSplit& s, uint32_t e) const {
    const uint32_t i = e / s.hw;
    return (static_cast<size_t>(i) * s.c + ch) * s.hw + (e - i * s.hw);
  }
};

// The channel's total of partial slot `slot`, added in part order (every block gets the same bits).
__device__ double channel_total(const BnSplit& s, int slot, int ch) {
  const double* p = g_partials + (static_cast<size_t>(slot) * s.c + ch) * s.parts;
  double t = 0;
  for (int k = 0; k < s.parts; ++k) t += p[k];
  return t;
}

__device__ void write_partial(const BnSplit& s, int slot, const BnBlock& b, double v) {
  if (threadIdx.x == 0) g_partials[(static_cast<size_t>(slot) * s.c + b.ch) * s.parts + b.part] = v;
}

// Pass 1: partial sums (slot 0). Pass 2 (deviation): partial squared deviations from the mean (slot 1).
template <typename T, bool kDeviation>
__global__ void bn_stats_kernel(BnSplit s, const T* x) {
  __shared__ double sh[kThreads];
  const BnBlock b(s);
  const double mean = kDeviation ? channel_total(s, 0, b.ch) / static_cast<double>(s.m) : 0.0;
  double acc = 0;
  for (uint32_t e = b.begin + threadIdx.x; e < b.end; e += kThreads) {
    const double d = x[b.at(s, e)] - mean;
    acc += kDeviation ? d * d : d;
  }
  write_partial(s, kDeviation ? 1 : 0, b, block_sum<kThreads>(acc, sh));
}

// Pass 3: the statistics as the CPU rounds them, then xhat and y.
template <typename T>
__global__ void bn_apply_kernel(BnSplit s, const T* x, const T* gamma, const T* beta, double eps, T* y, T* xhat,
                                T* inv_std) {
  const BnBlock b(s);
  const double mean = channel_total(s, 0, b.ch) / static_cast<double>(s.m);
  const double var = channel_total(s, 1, b.ch) / static_cast<double>(s.m);
  const T is = static_cast<T>(1.0 / sqrt(var + eps));
  const T mu = static_cast<T>(mean);
  if (b.part == 0 && threadIdx.x == 0) inv_std[b.ch] = is;
  const T g = gamma[s.param(b.ch)], be = beta[s.param(b.ch)];
  for (uint32_t e = b.begin + threadIdx.x; e < b.end; e += kThreads) {
    const size_t a = b.at(s, e);
    const T v = x[a];
    xhat[a] = (v - mu) * is;
    y[a] = bn_fwd(v, mu, is, g, be);
  }
}

// Backward pass 1: partial sums of dy (slot 0) and dy*xhat (slot 1), in double.
template <typename T>
__global__ void bn_grad_stats_kernel(BnSplit s, const T* dy, const T* xhat) {
  __shared__ double sh[kThreads];
  const BnBlock b(s);
  double sdy = 0, sdyx = 0;
  for (uint32_t e = b.begin + threadIdx.x; e < b.end; e += kThreads) {
    const size_t a = b.at(s, e);
    sdy += dy[a];
    sdyx += static_cast<double>(dy[a]) * xhat[a];
  }
  write_partial(s, 0, b, block_sum<kThreads>(sdy, sh));
  write_partial(s, 1, b, block_sum<kThreads>(sdyx, sh));
}

// Backward pass 2: dgamma, dbeta and dx. dx may alias dy: each element is read and written by one
// thread, and pass 1 finished reading dy before this kernel started.
template <typename T>
__global__ void bn_grad_apply_kernel(BnSplit s, const T* dy, const T* xhat, const T* gamma, const T* inv_std, T* dx,
                                     T* dgamma, T* dbeta) {
  const BnBlock b(s);
  const double sdy = channel_total(s, 0, b.ch), sdyx = channel_total(s, 1, b.ch);
  if (b.part == 0 && threadIdx.x == 0) {
    dgamma[s.param(b.ch)] = static_cast<T>(sdyx);
    dbeta[s.param(b.ch)] = static_cast<T>(sdy);
  }
  const T mdy = static_cast<T>(sdy / static_cast<double>(s.m)), mdyx = static_cast<T>(sdyx / static_cast<double>(s.m));
  const T g = gamma[s.param(b.ch)], is = inv_std[b.ch];
  for (uint32_t e = b.begin + threadIdx.x; e < b.end; e += kThreads) {
    const size_t a = b.at(s, e);
    dx[a] = bn_bwd(dy[a], xhat[a], g, is, mdy, mdyx);
  }
}

template <typename T>
void bn_forward(const BnSplit& s, const T* x, const T* gamma, const T* beta, T eps, T* y, T* xhat, T* inv_std) {
  const unsigned blocks = static_cast<unsigned>(s.c * s.parts);
  bn_stats_kernel<T, false><<<blocks, kThreads, 0, cuda_stream()>>>(s, x);
  CUDA_CHECK_LAUNCH();
  bn_stats_kernel<T, true><<<blocks, kThreads, 0, cuda_stream()>>>(s, x);
  CUDA_CHECK_LAUNCH();
  bn_apply_kernel<<<blocks, kThreads, 0, cuda_stream()>>>(s, x, gamma, beta, static_cast<double>(eps), y, xhat,
                                                          inv_std);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void bn_backward(const BnSplit& s, const T* dy, const T* xhat, const T* gamma, const T* inv_std, T* dx, T* dgamma,
                 T* dbeta) {
  const unsigned blocks = static_cast<unsigned>(s.c * s.parts);
  bn_grad_stats_kernel<<<blocks, kThreads, 0, cuda_stream()>>>(s, dy, xhat);
  CUDA_CHECK_LAUNCH();
  bn_grad_apply_kernel<<<blocks, kThreads, 0, cuda_stream()>>>(s, dy, xhat, gamma, inv_std, dx, dgamma, dbeta);
  CUDA_CHECK_LAUNCH();
}

// K tasks: one (n = 1) batch norm over the K * c groups of (tasks, c, len), gamma/beta per task.
BnSplit bn_split_tasks(int64_t tasks, int64_t c, int64_t len, int64_t p_stride) {
  BnSplit s = bn_split(1, tasks * c, len);
  s.group = static_cast<int>(c);
  s.p_stride = p_stride;
  return s;
}

}  // namespace

template <typename T>
void batchnorm_forward_cuda(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, T eps,
                            T* y, T* xhat, T* inv_std) {
  bn_forward(bn_split(n, c, hw), x, gamma, beta, eps, y, xhat, inv_std);
}

template <typename T>
void batchnorm_backward_cuda(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                             const T* inv_std, T* dx, T* dgamma, T* dbeta) {
  bn_backward(bn_split(n, c, hw), dy, xhat, gamma, inv_std, dx, dgamma, dbeta);
}

template <typename T>
void batchnorm_forward_tasks_cuda(int64_t tasks, int64_t c, int64_t len, const T* x, const T* gamma, const T* beta,
                                  int64_t p_stride, T eps, T* y, T* xhat, T* inv_std) {
  bn_forward(bn_split_tasks(tasks, c, len, p_stride), x, gamma, beta, eps, y, xhat, inv_std);
}

template <typename T>
void batchnorm_backward_tasks_cuda(int64_t tasks, int64_t c, int64_t len, const T* dy, const T* xhat, const T* gamma,
                                   const T* inv_std, int64_t p_stride, T* dx, T* dgamma, T* dbeta) {
  bn_backward(bn_split_tasks(tasks, c, len, p_stride), dy, xhat, gamma, inv_std, dx, dgamma, dbeta);
}

#define L2O_INSTANTIATE_BN_CUDA(T)                                                                             \
  template void batchnorm_forward_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, T*, T*,  \
                                          T*);                                                                 \
  template void batchnorm_backward_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,  \
                                           T*, T*, T*);                                                        \
  template void batchnorm_forward_tasks_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, int64_t, \
                                                T, T*, T*, T*);                                                   \
  template void batchnorm_backward_tasks_cuda<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,         \
                                                 const T*, int64_t, T*, T*, T*);
L2O_INSTANTIATE_BN_CUDA(float)
L2O_INSTANTIATE_BN_CUDA(double)
#undef L2O_INSTANTIATE_BN_CUDA

}  // namespace l2o
