// The device-resident evaluation rollout in a build without CUDA: never taken.
#include "engine/evaluate.h"

#ifndef L2O_HAVE_CUDA
namespace l2o {

bool evaluate_rollout_device(UpdateRule&, OptimizeeT<float>&, const CoordRanges&, const float*, Rng&, int64_t,
                             std::vector<float>*, bool*, int64_t) {
  return false;
}

}  // namespace l2o
#endif
