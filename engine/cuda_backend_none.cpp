// The CUDA backend's factories in a build without CUDA: they say so. resolve_backend() never
// picks CUDA here (no device is reported), so only a direct call reaches these.
#include "engine/backend.h"
#include "kernels/common.h"
#include "optimizees/task_batch.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

static const char* kNoCuda = "backend \"cuda\": this build has no CUDA backend (nvcc was not found, or "
                             "-DL2O_ENABLE_CUDA=OFF)";

std::unique_ptr<LearnerT<float>> make_l2o_dm_cuda(const L2oDmConfig&) { throw InputError(kNoCuda); }

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

bool meta_segment_device(LearnerT<float>&, const float*, OptimizeeT<float>&, float*, Rng&, int64_t, float*, double*,
                         double*, bool*) {
  return false;
}

}  // namespace l2o
#endif
