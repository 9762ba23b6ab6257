#include "engine/backend.h"

#include "engine/device.h"
#include "kernels/common.h"
#include "kernels/l2o_dm_fused_math.h"

namespace l2o {

bool cuda_supports_problem(const ProblemConfig& problem, std::string* why) {
  if (problem.type == "mlp" || problem.type == "conv") return true;
  if (why) *why = "problem type \"" + problem.type + "\" has no CUDA implementation yet (MLPs and conv nets do)";
  return false;
}

bool cuda_supports_learner(const L2oDmConfig& cfg, std::string* why) {
  const bool ok = cfg.hidden.size() == 2 && cfg.hidden[0] >= 1 && cfg.hidden[0] <= kFusedMaxHidden &&
                  cfg.hidden[1] >= 1 && cfg.hidden[1] <= kFusedMaxHidden;
  if (!ok && why)
    *why = "the fused CUDA kernels run L2O-DM with 2 LSTM layers of at most " + std::to_string(kFusedMaxHidden) +
           " units";
  return ok;
}

ResolvedBackend resolve_backend(const std::string& requested, const ProblemConfig& problem) {
  ResolvedBackend r;
  r.device = "cpu";
  if (requested == "cpu") return r;
  if (requested != "cuda" && requested != "auto")
    throw InputError("unknown backend \"" + requested + "\" (expected cpu, cuda or auto)");
  const DeviceInfo d = query_cuda_device();
  std::string why;
  if (!d.available) {
    if (requested == "cuda") throw InputError("backend \"cuda\" requested but " + d.reason);
    r.note = "auto: CPU backend (" + d.reason + ")";
    return r;
  }
  if (!cuda_supports_problem(problem, &why)) {
    if (requested == "cuda") throw InputError("backend \"cuda\": " + why + "; use --backend cpu");
    r.note = "auto: CPU backend (" + why + ")";
    return r;
  }
  r.kind = Backend::cuda;
  r.device = d.name + " (sm_" + std::to_string(d.cc_major) + std::to_string(d.cc_minor) + ", " +
             std::to_string(d.memory_bytes >> 30) + " GiB)";
  if (requested == "auto") r.note = "auto: CUDA backend on " + r.device;
  return r;
}

}  // namespace l2o
