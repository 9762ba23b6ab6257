// The CUDA twin of the L2O-DM learner (l2o_dm_cuda.cu: the fused kernels of kernels/l2o_dm_fused.h).
// In a build without CUDA the factory throws InputError saying so (l2o_dm_cuda_none.cpp).
#pragma once
#include <memory>
#include <string>

#include "learners/l2o_dm.h"

namespace l2o {

// Whether the fused CUDA kernels run this config (2 LSTM layers of at most kFusedMaxHidden units).
bool cuda_supports_learner(const L2oDmConfig& cfg, std::string* why);

std::unique_ptr<LearnerT<float>> make_l2o_dm_cuda(const L2oDmConfig& cfg);

}  // namespace l2o
