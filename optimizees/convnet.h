// Convolutional classifier on an image dataset (REFERENCE.md section 3, Conv-MNIST / Conv-CIFAR).
//
// Each block: conv (k x k, c_out, stride, VALID, bias) -> batch norm in training mode (batch
// statistics, eps kBnEps, learnable gamma/beta) -> ReLU -> 2x2 stride-2 max-pool (floor). After
// the blocks: flatten (NCHW order) -> fully connected to the classes -> ReLU on the logits when
// relu_logits (the authors' code does this) -> softmax cross-entropy averaged over the batch.
//
// theta layout, block by block, then the FC layer:
//   block b: w (c_out, c_in, k, k) | bias (c_out) | gamma (c_out) | beta (c_out)
//   fc:      W (features, classes) row-major (in, out), as in Mlp | b (classes)
// Init (Rng(seed, kStreamInit), one normal per weight entry in theta order): conv kernels and FC
// weights N(0, init_std^2); conv/FC biases 0; gamma 1; beta 0.
//
// Note: the conv bias feeds straight into a training-mode BN, which subtracts it again, so its
// gradient is zero (up to rounding); it is kept because the reference architecture has it.
//
// gamma/beta are optimizee coordinates, but learner_frozen() lists them unless learned_trains_bn,
// so learned optimizers leave them at 1 and 0 as in the authors' code. There they are
// tf.layers variables, created through variable_scope.get_variable rather than the mocked
// tf.get_variable that meta.py uses to collect optimizee variables. So there the hand-designed
// baselines (tf.train.AdamOptimizer.minimize over all trainable variables) train them, while the
// learned optimizer's variable list leaves them out and they stay at 1 and 0.
#pragma once
#include <Eigen/Dense>

#include "kernels/conv.h"
#include "optimizees/convnet_layout.h"
#include "optimizees/dataset.h"
#include "optimizees/optimizee.h"

namespace l2o {

struct ConvBlockSpec {
  int64_t c_out = 16, k = 3, stride = 1;
};

struct ConvNetArch {
  std::vector<ConvBlockSpec> blocks;
  bool relu_logits = true;
};

// "conv_mnist": {3x3x16 s1, 5x5x32 s1}; "conv_cifar": {3x3x16 s2, 5x5x32 s2}. Throws InputError otherwise.
ConvNetArch conv_arch_by_name(const std::string& arch, bool relu_logits = true);

// Batch-norm epsilon: the authors' conv optimizees call tf.layers.batch_normalization(inputs,
// training=training) with the default epsilon=0.001 (VITA-Group/Open-L2O, "Model_Free_L2O/L2O-DM and
// L2O-RNNProp/problems.py", mnist_conv and cifar10).
constexpr double kBnEps = 1e-3;

template <typename T>
class ConvNet : public OptimizeeT<T> {
 public:
  // Throws InputError if the blocks do not fit the dataset's images (every size must stay >= 1).
  ConvNet(std::string name, const Dataset& data, ConvNetArch arch, int64_t batch_size, double init_std,
          bool learned_trains_bn = false);
  std::string name() const override { return name_; }
  int64_t num_params() const override { return num_params_; }
  void init(uint64_t seed, T* theta) override;
  void sample_batch(Rng& rng, Batch& batch) const override;
  T loss_and_grad(const T* theta, const Batch& batch, T* grad) override;
  CoordRanges learner_frozen() const override;
  std::vector<int64_t> tensor_sizes() const override;  // per block w, bias, gamma, beta; then FC W, b

  // Read-only views for the CUDA twin (optimizees/convnet_cuda.cu): the dataset, the shapes and offsets.
  const Dataset& data() const { return data_; }
  const ConvNetArch& arch() const { return arch_; }
  ConvNetLayout layout() const {
    ConvNetLayout l;
    l.blocks.assign(blocks_.begin(), blocks_.end());
    l.features = features_;
    l.off_fc_w = off_fc_w_;
    l.off_fc_b = off_fc_b_;
    l.relu_logits = arch_.relu_logits;
    l.bn_eps = kBnEps;
    return l;
  }

 private:
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  struct Block : ConvBlockLayout {
    // workspaces (reused between calls)
    std::vector<T> z, xhat, inv_std, a, p;  // conv out, BN xhat, 1/std, ReLU(BN) out, pooled out
    std::vector<int32_t> argmax;
  };
  std::string name_;
  const Dataset& data_;
  ConvNetArch arch_;
  int64_t batch_size_, num_params_ = 0, features_ = 0, off_fc_w_ = 0, off_fc_b_ = 0;
  double init_std_;
  bool learned_trains_bn_;
  std::vector<Block> blocks_;
  std::vector<T> x0_, col_, dcol_, da_, dp_;  // input batch, im2col workspaces, backward scratch
  Mat logits_, delta_;
};

}  // namespace l2o
