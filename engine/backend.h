// Which backend runs the learner and the optimizee. Everything above kernels/ picks its
// implementation through the factories (make_learner, make_optimizee) with this value; nothing
// above kernels/ tests for CUDA at compile time.
#pragma once
#include <memory>
#include <string>

#include "kernels/activation_math.h"
#include "learners/l2o_dm.h"
#include "optimizees/convnet_layout.h"
#include "optimizees/dataset.h"
#include "optimizees/optimizee.h"

namespace l2o {

enum class Backend { cpu, cuda };

inline const char* backend_name(Backend b) { return b == Backend::cuda ? "cuda" : "cpu"; }

struct ResolvedBackend {
  Backend kind = Backend::cpu;
  std::string device;  // "cpu", or e.g. "NVIDIA H200 (sm_90, 139 GiB)"
  std::string note;    // why "auto" chose what it chose (empty for an explicit request)
};

// requested: "cpu" | "cuda" | "auto". "cuda" where it cannot run (no device, a build without
// CUDA, or a problem with no CUDA implementation): InputError saying why. "auto" takes CUDA when
// it can run the problem, else the CPU, and says why in `note`.
ResolvedBackend resolve_backend(const std::string& requested, const ProblemConfig& problem);

// Whether the CUDA backend implements this problem (its optimizee) and this learner.
bool cuda_supports_problem(const ProblemConfig& problem, std::string* why);
bool cuda_supports_learner(const L2oDmConfig& cfg, std::string* why);

// The CUDA backend's learner and optimizees (engine/cuda_*.cu). In a build without CUDA they
// throw InputError saying so.
std::unique_ptr<LearnerT<float>> make_l2o_dm_cuda(const L2oDmConfig& cfg);
// The MLP takes its CPU twin (for the name, initialisation and minibatch sampling, so both
// backends see the same instances), the dataset it was built on, its layer sizes
// (input, hidden..., classes) and hidden activation.
std::unique_ptr<OptimizeeT<float>> make_mlp_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                 std::vector<int64_t> sizes, Activation act);
// The conv net likewise takes its CPU twin (a ConvNet<float>), the dataset it was built on and its
// layout (ConvNet::layout(): block shapes, theta offsets, relu_logits).
std::unique_ptr<OptimizeeT<float>> make_convnet_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                     ConvNetLayout layout);

class TaskBatch;  // optimizees/task_batch.h
// K CUDA optimizees as one task batch that also runs inside the device-resident segment.
std::unique_ptr<TaskBatch> make_task_batch_cuda(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks);

// A whole meta-segment (engine/segment.h's meta_segment) on the device, when the learner and the
// optimizee are both the CUDA backend's; returns false and does nothing otherwise (always, in a
// build without CUDA). Same contract and results as meta_segment.
bool meta_segment_device(LearnerT<float>& learner, const float* phi, OptimizeeT<float>& opt, float* theta,
                         Rng& batches, int64_t steps, float* dphi, double* meta_loss, double* final_loss,
                         bool* finite);

}  // namespace l2o
