// The CUDA twin of the L2O-Scale learner (l2o_scale_cuda.cu: the ops of kernels/l2o_scale_ops.h on
// device buffers). In a build without CUDA the factory throws InputError saying so
// (l2o_scale_cuda_none.cpp).
#pragma once
#include <memory>

#include "learners/l2o_scale.h"

namespace l2o {

std::unique_ptr<LearnerT<float>> make_l2o_scale_cuda(const L2oScaleConfig& cfg);

}  // namespace l2o
