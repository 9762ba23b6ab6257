// Deterministic block-wide sum for the per-channel reductions (conv bias gradient, batch norm):
// every thread contributes one partial, summed by a fixed-order tree in shared memory, so the
// result depends only on the data and the block size (no atomics). Only included from .cu files.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace l2o {

// kThreads: the block size, a power of two; sh: kThreads doubles of shared memory. Every thread of
// the block must call it; all get the sum. sh may be reused on return.
template <int kThreads>
__device__ __forceinline__ double block_sum(double v, double* sh) {
  static_assert(kThreads > 0 && (kThreads & (kThreads - 1)) == 0, "block size must be a power of two");
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  const double total = sh[0];
  __syncthreads();
  return total;
}

// Offset of the e-th of channel ch's n*hw values in an (n, c, hw) array.
__device__ __forceinline__ int64_t channel_at(int64_t e, int64_t c, int64_t hw, int64_t ch) {
  const int64_t i = e / hw;
  return (i * c + ch) * hw + (e - i * hw);
}

}  // namespace l2o
