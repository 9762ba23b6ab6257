// Shared pieces of the fused learner kernels: the weights staged in dynamic shared memory (every
// thread of a warp then reads the same weight, a broadcast), and a fill for the ones vector
// of the bias-gradient GEMVs.
#pragma once
#include "kernels/cuda_context.cuh"

namespace l2o {

// Copies phi into dynamic shared memory; returns it.
__device__ inline const float* stage_phi_smem(const float* phi, int64_t count) {
  extern __shared__ float s_phi[];
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s_phi[j] = phi[j];
  __syncthreads();
  return s_phi;
}

template <typename T>
__global__ void fused_fill_kernel(int64_t count, T v, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = v;
}

// Dynamic shared memory for `params` floats; above the default 48 KB the kernel must opt in.
template <typename Kernel>
size_t phi_smem_bytes(Kernel kernel, int64_t params) {
  const size_t bytes = static_cast<size_t>(params) * sizeof(float);
  if (bytes > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  return bytes;
}

}  // namespace l2o
