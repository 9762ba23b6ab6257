#include "learners/learner_factory.h"

#include <type_traits>

#include "kernels/common.h"
#include "kernels/l2o_dm_fused_math.h"
#include "learners/l2o_dm_cuda.h"
#include "learners/l2o_scale_cuda.h"
#include "learners/rnnprop_cuda.h"

namespace l2o {

bool cuda_supports_learner(const L2oDmConfig& cfg, std::string* why) {
  const bool ok = cfg.hidden.size() == 2 && cfg.hidden[0] >= 1 && cfg.hidden[0] <= kFusedMaxHidden &&
                  cfg.hidden[1] >= 1 && cfg.hidden[1] <= kFusedMaxHidden;
  if (!ok && why)
    *why = "the fused CUDA kernels run L2O-DM with 2 LSTM layers of at most " + std::to_string(kFusedMaxHidden) +
           " units";
  return ok;
}

template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(const L2oDmConfig& cfg, Backend backend) {
  if (backend == Backend::cuda) {
    if constexpr (std::is_same_v<T, float>) return make_l2o_dm_cuda(cfg);
    throw Error("the CUDA backend runs in float only");
  }
  return std::make_unique<L2oDm<T>>(cfg);
}

template <typename T>
std::unique_ptr<LearnerT<T>> make_learner(const LearnerConfig& cfg, Backend backend) {
  if (cfg.type == "l2o_dm") return make_learner<T>(cfg.l2o_dm, backend);
  if (cfg.type == "l2o_scale") {
    if (backend == Backend::cuda) {
      if constexpr (std::is_same_v<T, float>) return make_l2o_scale_cuda(cfg.l2o_scale);
      throw Error("the CUDA backend runs in float only");
    }
    return std::make_unique<L2oScale<T>>(cfg.l2o_scale);
  }
  if (cfg.type != "rnnprop") throw InputError("unknown learner type \"" + cfg.type + "\"");
  if (backend == Backend::cuda) {
    if constexpr (std::is_same_v<T, float>) return make_rnnprop_cuda(cfg.rnnprop);
    throw Error("the CUDA backend runs in float only");
  }
  return std::make_unique<Rnnprop<T>>(cfg.rnnprop);
}

template std::unique_ptr<LearnerT<float>> make_learner<float>(const L2oDmConfig&, Backend);
template std::unique_ptr<LearnerT<double>> make_learner<double>(const L2oDmConfig&, Backend);
template std::unique_ptr<LearnerT<float>> make_learner<float>(const LearnerConfig&, Backend);
template std::unique_ptr<LearnerT<double>> make_learner<double>(const LearnerConfig&, Backend);

}  // namespace l2o
