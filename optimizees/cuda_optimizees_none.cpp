// The optimizees' CUDA factories in a build without CUDA: they say so. resolve_backend() never
// picks CUDA here (no device is reported), so only a direct call reaches these.
#include "kernels/common.h"
#include "optimizees/cuda_optimizees.h"
#include "optimizees/task_batch.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

static const char* kNoCuda = "backend \"cuda\": this build has no CUDA backend (nvcc was not found, or "
                             "-DL2O_ENABLE_CUDA=OFF)";

std::unique_ptr<OptimizeeT<float>> make_mlp_cuda(std::unique_ptr<OptimizeeT<float>>, const Dataset&,
                                                 std::vector<int64_t>, Activation) {
  throw InputError(kNoCuda);
}

std::unique_ptr<OptimizeeT<float>> make_convnet_cuda(std::unique_ptr<OptimizeeT<float>>, const Dataset&,
                                                     ConvNetLayout) {
  throw InputError(kNoCuda);
}

std::unique_ptr<TaskBatch> make_task_batch_cuda(std::vector<std::unique_ptr<OptimizeeT<float>>>) {
  throw InputError(kNoCuda);
}

}  // namespace l2o
#endif
