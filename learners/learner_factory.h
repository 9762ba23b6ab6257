// Learners from their config, on either backend. Reading a config from a spec and learner
// checkpoints are the engine's (engine/learner_io.h).
#pragma once
#include <memory>
#include <string>

#include "kernels/backend.h"
#include "learners/l2o_dm.h"
#include "learners/l2o_scale.h"
#include "learners/learner.h"
#include "learners/rnnprop.h"

namespace l2o {

// Which learner, and its config (only the one named by `type` is used).
struct LearnerConfig {
  std::string type = "l2o_dm";  // "l2o_dm" | "rnnprop" | "l2o_scale"
  L2oDmConfig l2o_dm;
  RnnpropConfig rnnprop;
  L2oScaleConfig l2o_scale;
};

// Backend::cuda (float only) builds the CUDA twin (learners/*_cuda.h); throws InputError where it
// cannot run.
template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(const LearnerConfig& cfg, Backend backend = Backend::cpu);
template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(const L2oDmConfig& cfg, Backend backend = Backend::cpu);

}  // namespace l2o
