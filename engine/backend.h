// Choosing the backend for a run (the Backend enum itself is kernels/backend.h), and the
// device-resident meta-segment the CUDA backend runs (cuda_segment.cu).
#pragma once
#include <string>

#include "kernels/backend.h"
#include "kernels/rng.h"
#include "learners/learner.h"
#include "optimizees/optimizee.h"

namespace l2o {

struct ResolvedBackend {
  Backend kind = Backend::cpu;
  std::string device;  // "cpu", or e.g. "NVIDIA H200 (sm_90, 139 GiB)"
  std::string note;    // why "auto" chose what it chose (empty for an explicit request)
};

// requested: "cpu" | "cuda" | "auto". "cuda" where it cannot run (no device, a build without
// CUDA, or a problem with no CUDA implementation): InputError saying why. "auto" takes CUDA when
// it can run the problem, else the CPU, and says why in `note`.
ResolvedBackend resolve_backend(const std::string& requested, const ProblemConfig& problem);

// The vector instructions this binary's CPU code was compiled for ("AVX-512+FMA", "AVX2+FMA",
// "AVX", "SSE2"; -march, CMakeLists.txt). CPU results are bit-identical only between binaries of the
// same commit and instructions: sums are vectorised, and wider vectors round them differently.
std::string cpu_build_isa();

// The machine's CPU as /proc/cpuinfo names it (its first "model name"), or "unknown": recorded
// beside results, never compared (the same build gives the same bits on any CPU that runs it).
std::string cpu_model_name();

// A whole meta-segment (engine/segment.h's meta_segment) on the device, when the learner and the
// optimizee are both the CUDA backend's; returns false and does nothing otherwise (always, in a
// build without CUDA). Same contract and results as meta_segment.
bool meta_segment_device(LearnerT<float>& learner, const float* phi, OptimizeeT<float>& opt, float* theta,
                         Rng& batches, int64_t steps, float* dphi, double* meta_loss, double* final_loss,
                         bool* finite);

// Whether meta_segment_device would take this pair (both the CUDA backend's). It computes only
// the summed meta-loss, so meta_segment refuses other objectives there with this message.
bool segment_on_device(LearnerT<float>& learner, OptimizeeT<float>& opt);
inline constexpr const char* kMeanLogRatioNotOnDevice =
    "$.training.meta_loss: \"mean_log_ratio\" is not implemented on the CUDA backend's device-resident segment: "
    "use \"sum\" or \"backend\": \"cpu\"";

// CUDA graph use by meta_segment_device since the process started (all zero without CUDA or
// without L2O_CUDA_GRAPH=1): captures made, segments replayed, captures that failed (the segment
// then ran eagerly).
struct CudaGraphStats {
  int64_t captures = 0, replays = 0, capture_failures = 0;
};
CudaGraphStats cuda_graph_stats();

}  // namespace l2o
