// One thread per coordinate walks the steps backwards: the same additions in the same order as
// the CPU twin, so the results are identical.
#include "kernels/cuda_context.cuh"
#include "kernels/segment_ops.h"

namespace l2o {

namespace {

constexpr int kThreads = 256;

__global__ void suffix_sum_kernel(int64_t steps, int64_t n, float* x) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  for (int64_t t = steps - 2; t >= 0; --t) x[t * n + i] += x[(t + 1) * n + i];
}

}  // namespace

void suffix_sum_steps_cuda(int64_t steps, int64_t n, float* x) {
  if (steps < 2 || n == 0) return;
  suffix_sum_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(steps, n, x);
  CUDA_CHECK_LAUNCH();
}

}  // namespace l2o
