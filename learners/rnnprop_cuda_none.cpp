// The RNNprop CUDA factory in a build without CUDA: it says so.
#include "kernels/common.h"
#include "learners/rnnprop_cuda.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

std::unique_ptr<LearnerT<float>> make_rnnprop_cuda(const RnnpropConfig&) {
  throw InputError("backend \"cuda\": this build has no CUDA backend (nvcc was not found, or -DL2O_ENABLE_CUDA=OFF)");
}

}  // namespace l2o
#endif
