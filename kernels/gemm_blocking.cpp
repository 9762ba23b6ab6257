#include "kernels/gemm_blocking.h"

#include <Eigen/Core>

namespace l2o {

bool pin_gemm_blocking() {
  Eigen::setCpuCacheSizes(kGemmL1Bytes, kGemmL2Bytes, kGemmL3Bytes);
  return true;
}

}  // namespace l2o
