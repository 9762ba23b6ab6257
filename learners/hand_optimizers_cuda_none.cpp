// The hand-designed optimizers' CUDA factory in a build without CUDA: it says so.
#include "kernels/common.h"
#include "learners/hand_optimizers.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

std::unique_ptr<UpdateRule> make_hand_optimizer_cuda(const HandOptimizerConfig& cfg) {
  resolve_hand_optimizer(cfg);  // a bad config is reported as such first
  throw InputError("backend \"cuda\": this build has no CUDA backend (nvcc was not found, or -DL2O_ENABLE_CUDA=OFF)");
}

}  // namespace l2o
#endif
