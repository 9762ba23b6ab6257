// The device query of a build without the CUDA backend.
#include "kernels/device.h"
#include "kernels/common.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

DeviceInfo query_cuda_device() {
  DeviceInfo d;
  d.reason = "this build has no CUDA backend (nvcc was not found, or -DL2O_ENABLE_CUDA=OFF)";
  return d;
}

std::vector<float> cuda_saxpy(float, const std::vector<float>&, const std::vector<float>&) {
  throw InputError("cuda_saxpy: this build has no CUDA backend");
}

}  // namespace l2o
#endif
