// The L2O-Scale CUDA factory in a build without CUDA: it says so.
#include "kernels/common.h"
#include "learners/l2o_scale_cuda.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

std::unique_ptr<LearnerT<float>> make_l2o_scale_cuda(const L2oScaleConfig&) {
  throw InputError("backend \"cuda\": this build has no CUDA backend (nvcc was not found, or -DL2O_ENABLE_CUDA=OFF)");
}

}  // namespace l2o
#endif
