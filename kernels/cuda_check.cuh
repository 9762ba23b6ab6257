// Error checking for CUDA runtime and cuBLAS calls (only included from .cu files).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <sstream>

#include "kernels/common.h"

namespace l2o {

[[noreturn]] inline void fail_cuda(const char* file, int line, const char* expr, const std::string& what) {
  std::ostringstream os;
  os << file << ":" << line << ": " << expr << " failed: " << what;
  throw Error(os.str());
}

// Set L2O_CUDA_SYNC=1 to synchronise after every launch, so an error names the launch that caused it.
bool cuda_sync_after_launch();

}  // namespace l2o

#define CUDA_CHECK(call)                                                                    \
  do {                                                                                      \
    cudaError_t l2o_err_ = (call);                                                          \
    if (l2o_err_ != cudaSuccess) ::l2o::fail_cuda(__FILE__, __LINE__, #call, cudaGetErrorString(l2o_err_)); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                  \
  do {                                                                                      \
    cublasStatus_t l2o_st_ = (call);                                                        \
    if (l2o_st_ != CUBLAS_STATUS_SUCCESS)                                                   \
      ::l2o::fail_cuda(__FILE__, __LINE__, #call, cublasGetStatusString(l2o_st_));          \
  } while (0)

// After a <<<...>>> launch: the launch error, and in debug-sync mode the execution error.
#define CUDA_CHECK_LAUNCH()                                                                 \
  do {                                                                                      \
    CUDA_CHECK(cudaGetLastError());                                                         \
    if (::l2o::cuda_sync_after_launch()) CUDA_CHECK(cudaDeviceSynchronize());               \
  } while (0)
