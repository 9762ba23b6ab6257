// The problems a learned optimizer trains: a loss over a flat parameter vector theta.
// Templated on the scalar so the same code runs in float (training) and double
// (finite-difference gradient checks).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/rng.h"

namespace l2o {

// Sorted, disjoint [begin, end) coordinate ranges.
using CoordRanges = std::vector<std::pair<int64_t, int64_t>>;

template <typename T>
void zero_ranges(const CoordRanges& ranges, T* x) {
  for (const auto& r : ranges)
    for (int64_t i = r.first; i < r.second; ++i) x[i] = T(0);
}

inline int64_t ranges_size(const CoordRanges& ranges) {
  int64_t n = 0;
  for (const auto& r : ranges) n += r.second - r.first;
  return n;
}

// One minibatch: example indices into the problem's dataset (empty for data-free problems).
struct Batch {
  std::vector<int32_t> idx;
};

// A minibatch of `batch_size` example indices drawn uniformly with replacement (REFERENCE.md s3).
inline void sample_with_replacement(Rng& rng, int64_t examples, int64_t batch_size, Batch& batch) {
  batch.idx.resize(batch_size);
  for (auto& i : batch.idx) i = static_cast<int32_t>(rng.below(static_cast<uint32_t>(examples)));
}

template <typename T>
class OptimizeeT {
 public:
  virtual ~OptimizeeT() = default;
  virtual std::string name() const = 0;
  virtual int64_t num_params() const = 0;
  // A new problem instance for this seed: draws the problem's constants (e.g. the quadratic's W, y)
  // from stream kStreamProblem and theta_0 from kStreamInit, so the same seed gives the same
  // instance whatever optimizer then trains it.
  virtual void init(uint64_t seed, T* theta) = 0;
  // Draws the next minibatch (with replacement) from the caller's batch stream.
  virtual void sample_batch(Rng& rng, Batch& batch) const = 0;
  // Mean loss on the batch, and its gradient w.r.t. theta (grad may be null: loss only).
  virtual T loss_and_grad(const T* theta, const Batch& batch, T* grad) = 0;
  // Coordinates a learned optimizer leaves at their initial values (ConvNet's batch-norm gamma/beta
  // by default, as in the authors' code: docs/fidelity.md). Hand-designed optimizers update all.
  virtual CoordRanges learner_frozen() const { return {}; }
  // Sizes of theta's tensors in theta order (they sum to num_params()), as the authors' code lists
  // the problem's variables: L2O-Scale's per-tensor level runs one RNN per tensor.
  virtual std::vector<int64_t> tensor_sizes() const { return {num_params()}; }
};

using Optimizee = OptimizeeT<float>;

// Problem description from a spec or the command line.
struct ProblemConfig {
  // The kind of problem; a named problem (problem_config_by_name) is one kind with its settings.
  std::string kind = "mlp";                 // quadratic | mlp | conv
  std::vector<int64_t> hidden = {20};       // mlp
  std::string activation = "sigmoid";       // mlp: sigmoid | relu | tanh
  std::string dataset = "mnist";            // mnist | fashion_mnist | cifar10 | mnist_as_cifar_standin (MNIST
                                            // zero-padded to 32x32, replicated to 3 channels)
  std::string data_dir;                     // "" = the dataset's default location
  std::string split = "train";              // train (meta-training, validation) | test (evaluation)
  int64_t batch_size = 128;
  double init_std = 0.01;                   // N(0, init_std^2) for weights and biases
  // conv (optimizees/convnet.h)
  std::string arch = "conv_mnist";          // conv_mnist | conv_cifar
  bool relu_logits = true;                  // ReLU on the logits, as the authors' code does
  bool learned_trains_bn = false;           // learned optimizers update BN gamma/beta too (authors: no)
  // quadratic
  int64_t quad_count = 128, quad_dims = 10;
};

// The named problems of the paper and DM's code; throws InputError for an unknown name.
ProblemConfig problem_config_by_name(const std::string& name);
const std::vector<std::string>& problem_names();

// The optimizee for cfg on the CPU (the default), or on the CUDA backend (float only; problems it
// implements: see cuda_supports_problem).
template <typename T>
std::unique_ptr<OptimizeeT<T>> make_optimizee(const ProblemConfig& cfg);
template <typename T>
std::unique_ptr<OptimizeeT<T>> make_optimizee(const ProblemConfig& cfg, Backend backend);

}  // namespace l2o
