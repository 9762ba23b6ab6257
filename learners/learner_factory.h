// Learners from their config, on either backend. Reading a config from a spec and learner
// checkpoints are the engine's (engine/learner_io.h).
#pragma once
#include <memory>

#include "kernels/backend.h"
#include "learners/l2o_dm.h"
#include "learners/learner.h"

namespace l2o {

// Backend::cuda (float only) builds the CUDA twin (learners/l2o_dm_cuda.h); throws InputError
// where it cannot run.
template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(const L2oDmConfig& cfg, Backend backend = Backend::cpu);

}  // namespace l2o
