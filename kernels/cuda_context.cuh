// The process's CUDA context for the kernels: one stream, one cuBLAS handle bound to it, and
// RAII device buffers. Needs the CUDA headers: included from .cu files and from host code that is
// built only with the CUDA backend (bench_ops_cuda, test/gpu/cuda).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/cuda_check.cuh"

namespace l2o {

// Created on first use, never destroyed (teardown order at exit is not worth the risk).
cudaStream_t cuda_stream();
cublasHandle_t cublas_handle();

// Owns a device array of T. resize() reallocates only to grow; contents are not preserved.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t n) { resize(n); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    swap(o);
    return *this;
  }
  ~DeviceBuffer() { cudaFree(p_); }
  void swap(DeviceBuffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(cap_, o.cap_);
  }
  void resize(int64_t n) {
    if (n <= cap_) {
      n_ = n;
      return;
    }
    CUDA_CHECK(cudaFree(p_));
    p_ = nullptr;
    CUDA_CHECK(cudaMalloc(&p_, static_cast<size_t>(n) * sizeof(T)));
    n_ = cap_ = n;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  int64_t size() const { return n_; }
  void upload(const T* host, int64_t n) {
    L2O_CHECK(n <= n_, "upload of " << n << " values into a buffer of " << n_);
    CUDA_CHECK(cudaMemcpyAsync(p_, host, static_cast<size_t>(n) * sizeof(T), cudaMemcpyHostToDevice, cuda_stream()));
  }
  // Synchronous: the host values are ready on return.
  void download(T* host, int64_t n) const {
    L2O_CHECK(n <= n_, "download of " << n << " values from a buffer of " << n_);
    CUDA_CHECK(cudaMemcpyAsync(host, p_, static_cast<size_t>(n) * sizeof(T), cudaMemcpyDeviceToHost, cuda_stream()));
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  }
  void zero() { CUDA_CHECK(cudaMemsetAsync(p_, 0, static_cast<size_t>(n_) * sizeof(T), cuda_stream())); }

 private:
  T* p_ = nullptr;
  int64_t n_ = 0, cap_ = 0;
};

// Grid size for one thread per element with `block` threads per block.
inline unsigned grid_for(int64_t count, int block) {
  return static_cast<unsigned>((count + block - 1) / block);
}

}  // namespace l2o
