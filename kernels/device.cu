// Device query and a minimal kernel: the CUDA half of the build, proven to compile everywhere.
#include <cstdlib>

#include "kernels/device.h"
#include "kernels/cuda_check.cuh"

namespace l2o {

bool cuda_sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("L2O_CUDA_SYNC");
    return v && v[0] == '1';
  }();
  return on;
}

DeviceInfo query_cuda_device() {
  DeviceInfo d;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    d.reason = err != cudaSuccess ? std::string("no CUDA device: ") + cudaGetErrorString(err) : "no CUDA device";
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    return d;
  }
  cudaDeviceProp p{};
  CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  d.available = true;
  d.name = p.name;
  d.cc_major = p.major;
  d.cc_minor = p.minor;
  d.memory_bytes = static_cast<int64_t>(p.totalGlobalMem);
  return d;
}

namespace {
constexpr int kSaxpyBlock = 256;

__global__ void saxpy_kernel(int64_t n, float a, const float* x, float* y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}
}  // namespace

std::vector<float> cuda_saxpy(float a, const std::vector<float>& x, const std::vector<float>& y) {
  L2O_CHECK(x.size() == y.size(), "saxpy: size mismatch");
  const int64_t n = static_cast<int64_t>(x.size());
  if (n == 0) return {};  // a launch of 0 blocks is an error
  float *dx = nullptr, *dy = nullptr;
  CUDA_CHECK(cudaMalloc(&dx, n * sizeof(float)));
  CUDA_CHECK(cudaMalloc(&dy, n * sizeof(float)));
  CUDA_CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  const int64_t blocks = (n + kSaxpyBlock - 1) / kSaxpyBlock;
  saxpy_kernel<<<static_cast<unsigned>(blocks), kSaxpyBlock>>>(n, a, dx, dy);
  CUDA_CHECK_LAUNCH();
  std::vector<float> out(n);
  CUDA_CHECK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaFree(dx));
  CUDA_CHECK(cudaFree(dy));
  return out;
}

}  // namespace l2o
