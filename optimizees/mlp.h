// Fully connected classifier on an image dataset: layers of W (in, out) row-major then b (out)
// in theta, hidden activations as configured, softmax cross-entropy averaged over the batch.
#pragma once
#include <Eigen/Dense>

#include "kernels/activation_math.h"
#include "optimizees/dataset.h"
#include "optimizees/optimizee.h"

namespace l2o {

template <typename T>
class Mlp : public OptimizeeT<T> {
 public:
  Mlp(std::string name, const Dataset& data, std::vector<int64_t> hidden, Activation act, int64_t batch_size,
      double init_std);
  std::string name() const override { return name_; }
  int64_t num_params() const override { return num_params_; }
  void init(uint64_t seed, T* theta) override;
  void sample_batch(Rng& rng, Batch& batch) const override;
  T loss_and_grad(const T* theta, const Batch& batch, T* grad) override;
  std::vector<int64_t> tensor_sizes() const override;  // W, b per layer
  const Dataset& data() const { return data_; }
  const std::vector<int64_t>& sizes() const { return sizes_; }  // input, hidden..., classes
  Activation activation() const { return act_; }

 private:
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::string name_;
  const Dataset& data_;
  std::vector<int64_t> sizes_;    // input, hidden..., classes
  std::vector<int64_t> offsets_;  // start of each layer's W in theta; b follows W
  Activation act_;
  int64_t batch_size_, num_params_ = 0;
  double init_std_;
  std::vector<Mat> a_;            // activations per layer (workspace, reused)
  Mat delta_;
};

}  // namespace l2o
