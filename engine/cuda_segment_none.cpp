// The device-resident segment in a build without CUDA: never taken.
#include "engine/backend.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

CudaGraphStats cuda_graph_stats() { return {}; }

bool segment_on_device(LearnerT<float>&, OptimizeeT<float>&) { return false; }

bool meta_segment_device(LearnerT<float>&, const float*, OptimizeeT<float>&, float*, Rng&, int64_t, float*, double*,
                         double*, bool*) {
  return false;
}

}  // namespace l2o
#endif
