// The CUDA twin of the RNNprop learner (rnnprop_cuda.cu: the fused kernels of
// kernels/rnnprop_fused.h). In a build without CUDA the factory throws InputError saying so
// (rnnprop_cuda_none.cpp).
#pragma once
#include <memory>

#include "learners/rnnprop.h"

namespace l2o {

std::unique_ptr<LearnerT<float>> make_rnnprop_cuda(const RnnpropConfig& cfg);

}  // namespace l2o
