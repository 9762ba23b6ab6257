// The CUDA twins of the optimizees (mlp_cuda.cu, convnet_cuda.cu, task_batch_cuda.cu). In a build
// without CUDA the factories throw InputError saying so (cuda_optimizees_none.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kernels/activation_math.h"
#include "optimizees/convnet_layout.h"
#include "optimizees/dataset.h"
#include "optimizees/optimizee.h"

namespace l2o {

class TaskBatch;  // optimizees/task_batch.h

// Whether the CUDA backend implements this problem (MLPs and conv nets); else `why` says so.
bool cuda_supports_problem(const ProblemConfig& problem, std::string* why);

// The MLP takes its CPU twin (for the name, initialisation and minibatch sampling, so both
// backends see the same instances), the dataset it was built on, its layer sizes
// (input, hidden..., classes) and hidden activation.
std::unique_ptr<OptimizeeT<float>> make_mlp_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                 std::vector<int64_t> sizes, Activation act);
// The conv net likewise takes its CPU twin (a ConvNet<float>), the dataset it was built on and its
// layout (ConvNet::layout(): block shapes, theta offsets, relu_logits).
std::unique_ptr<OptimizeeT<float>> make_convnet_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                     ConvNetLayout layout);
// K CUDA optimizees as one task batch that also runs inside the device-resident segment.
std::unique_ptr<TaskBatch> make_task_batch_cuda(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks);

}  // namespace l2o
