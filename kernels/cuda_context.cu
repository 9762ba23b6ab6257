// The stream and cuBLAS handle every CUDA twin runs on.
#include "kernels/cuda_context.cuh"

namespace l2o {

cudaStream_t cuda_stream() {
  static cudaStream_t s = [] {
    cudaStream_t st = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  return s;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t hd = nullptr;
    CUBLAS_CHECK(cublasCreate(&hd));
    CUBLAS_CHECK(cublasSetStream(hd, cuda_stream()));
    // Plain fp32 (no TF32 tensor-op shortcuts): the results must match the CPU reference.
    CUBLAS_CHECK(cublasSetMathMode(hd, CUBLAS_DEFAULT_MATH));
    // A workspace of our own, so cuBLAS never allocates inside a captured CUDA graph.
    constexpr size_t kWorkspaceBytes = 32u << 20;
    void* ws = nullptr;
    CUDA_CHECK(cudaMalloc(&ws, kWorkspaceBytes));
    CUBLAS_CHECK(cublasSetWorkspace(hd, ws, kWorkspaceBytes));
    return hd;
  }();
  return h;
}

}  // namespace l2o
