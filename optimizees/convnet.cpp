#include "optimizees/convnet.h"

#include <algorithm>

#include "kernels/fixed_order.h"
#include "kernels/gemm_blocking.h"
#include "kernels/softmax_xent_math.h"

namespace l2o {

namespace {
// Before main, so before any GEMM below: the same blocking, and bits, on every machine.
[[maybe_unused]] const bool kGemmBlockingPinned = pin_gemm_blocking();
}  // namespace

ConvNetArch conv_arch_by_name(const std::string& arch, bool relu_logits) {
  ConvNetArch a;
  a.relu_logits = relu_logits;
  if (arch == "conv_mnist") {
    a.blocks = {{16, 3, 1}, {32, 5, 1}};  // 28 -> 26 -> 13 -> 9 -> 4; FC 512 -> 10
  } else if (arch == "conv_cifar") {
    a.blocks = {{16, 3, 2}, {32, 5, 2}};  // 32 -> 15 -> 7 -> 2 -> 1; FC 32 -> 10
  } else {
    throw InputError("unknown conv architecture \"" + arch + "\" (expected conv_mnist or conv_cifar)");
  }
  return a;
}

template <typename T>
ConvNet<T>::ConvNet(std::string name, const Dataset& data, ConvNetArch arch, int64_t batch_size, double init_std,
                    bool learned_trains_bn)
    : name_(std::move(name)),
      data_(data),
      arch_(std::move(arch)),
      batch_size_(batch_size),
      init_std_(init_std),
      learned_trains_bn_(learned_trains_bn) {
  L2O_CHECK(batch_size > 0 && data.n > 0, "empty batch or dataset");
  if (arch_.blocks.empty()) throw InputError(name_ + ": a conv net needs at least one block");
  int64_t c = data.channels, h = data.height, w = data.width;
  for (const auto& spec : arch_.blocks) {
    Block b;
    b.conv.c_in = c;
    b.conv.h = h;
    b.conv.w = w;
    b.conv.c_out = spec.c_out;
    b.conv.k = spec.k;
    b.conv.stride = spec.stride;
    if (spec.c_out <= 0 || spec.k <= 0 || spec.stride <= 0 || h < spec.k || w < spec.k)
      throw InputError(name_ + ": conv " + std::to_string(spec.k) + "x" + std::to_string(spec.k) + " stride " +
                       std::to_string(spec.stride) + " does not fit a " + std::to_string(h) + "x" +
                       std::to_string(w) + " input");
    b.ph = pool2_out_size(b.conv.h_out());
    b.pw = pool2_out_size(b.conv.w_out());
    if (b.ph < 1 || b.pw < 1)
      throw InputError(name_ + ": conv output " + std::to_string(b.conv.h_out()) + "x" +
                       std::to_string(b.conv.w_out()) + " too small for the 2x2 max-pool");
    b.off_w = num_params_;
    b.off_b = b.off_w + b.conv.weight_size();
    b.off_gamma = b.off_b + spec.c_out;
    b.off_beta = b.off_gamma + spec.c_out;
    num_params_ = b.off_beta + spec.c_out;
    c = spec.c_out;
    h = b.ph;
    w = b.pw;
    blocks_.push_back(std::move(b));
  }
  features_ = c * h * w;
  off_fc_w_ = num_params_;
  off_fc_b_ = off_fc_w_ + features_ * data.num_classes;
  num_params_ = off_fc_b_ + data.num_classes;
}

template <typename T>
void ConvNet<T>::init(uint64_t seed, T* theta) {
  Rng rng(seed, kStreamInit);
  auto normals = [&](int64_t from, int64_t count) {
    for (int64_t i = 0; i < count; ++i) theta[from + i] = static_cast<T>(rng.normal() * init_std_);
  };
  for (const auto& b : blocks_) {
    const int64_t c = b.conv.c_out;
    normals(b.off_w, b.conv.weight_size());
    std::fill(theta + b.off_b, theta + b.off_b + c, T(0));
    std::fill(theta + b.off_gamma, theta + b.off_gamma + c, T(1));
    std::fill(theta + b.off_beta, theta + b.off_beta + c, T(0));
  }
  normals(off_fc_w_, features_ * data_.num_classes);
  std::fill(theta + off_fc_b_, theta + num_params_, T(0));
}

template <typename T>
void ConvNet<T>::sample_batch(Rng& rng, Batch& batch) const {
  sample_with_replacement(rng, data_.n, batch_size_, batch);
}

template <typename T>
T ConvNet<T>::loss_and_grad(const T* theta, const Batch& batch, T* grad) {
  const int64_t n = static_cast<int64_t>(batch.idx.size());
  L2O_CHECK(n > 0, "empty batch");
  const int64_t dim = data_.dim(), classes = data_.num_classes;
  x0_.resize(n * dim);
  for (int64_t r = 0; r < n; ++r) {
    const float* src = &data_.images[static_cast<int64_t>(batch.idx[r]) * dim];
    for (int64_t c = 0; c < dim; ++c) x0_[r * dim + c] = static_cast<T>(src[c]);
  }
  // Forward.
  int64_t col_size = 0;
  for (auto& b : blocks_) {
    b.conv.n = n;
    col_size = std::max(col_size, b.conv.col_size());
  }
  col_.resize(col_size);
  const T* x = x0_.data();
  for (auto& b : blocks_) {
    const ConvShape& s = b.conv;
    const int64_t hw = s.col_cols(), count = s.out_size();
    b.z.resize(count);
    b.xhat.resize(count);
    b.a.resize(count);
    b.inv_std.resize(s.c_out);
    b.p.resize(n * s.c_out * b.ph * b.pw);
    b.argmax.resize(b.p.size());
    conv2d_forward_cpu(s, x, theta + b.off_w, theta + b.off_b, b.z.data(), col_.data());
    batchnorm_forward_cpu(n, s.c_out, hw, b.z.data(), theta + b.off_gamma, theta + b.off_beta, T(kBnEps),
                          b.a.data(), b.xhat.data(), b.inv_std.data());
    relu_forward_cpu(count, b.a.data(), b.a.data());
    maxpool2x2_forward_cpu(n * s.c_out, s.h_out(), s.w_out(), b.a.data(), b.p.data(), b.argmax.data());
    x = b.p.data();
  }
  Eigen::Map<const Mat> feat(x, n, features_);
  Eigen::Map<const Mat> fw(theta + off_fc_w_, features_, classes);
  Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> fb(theta + off_fc_b_, classes);
  logits_.noalias() = feat * fw;
  logits_.rowwise() += fb;
  if (arch_.relu_logits) logits_ = logits_.cwiseMax(T(0));
  delta_.resize(n, classes);
  T loss = 0;
  for (int64_t r = 0; r < n; ++r)
    loss += softmax_xent_row(&logits_(r, 0), classes, data_.labels[batch.idx[r]], &delta_(r, 0), T(1) / T(n));
  loss /= T(n);
  if (!grad) return loss;

  // Backward.
  if (arch_.relu_logits) delta_ = (logits_.array() > T(0)).select(delta_, T(0));
  Eigen::Map<Mat> gfw(grad + off_fc_w_, features_, classes);
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> gfb(grad + off_fc_b_, classes);
  gfw.noalias() = feat.transpose() * delta_;
  column_sums(delta_.data(), n, classes, gfb.data());  // not colwise().sum(): fixed order
  dp_.resize(n * features_);
  Eigen::Map<Mat>(dp_.data(), n, features_).noalias() = delta_ * fw.transpose();
  dcol_.resize(col_size);
  for (int64_t l = static_cast<int64_t>(blocks_.size()) - 1; l >= 0; --l) {
    Block& b = blocks_[l];
    const ConvShape& s = b.conv;
    const int64_t hw = s.col_cols(), count = s.out_size();
    da_.resize(count);
    maxpool2x2_backward_cpu(n * s.c_out, s.h_out(), s.w_out(), dp_.data(), b.argmax.data(), da_.data());
    relu_backward_cpu(count, b.a.data(), da_.data(), da_.data());
    batchnorm_backward_cpu(n, s.c_out, hw, da_.data(), b.xhat.data(), theta + b.off_gamma, b.inv_std.data(),
                           da_.data(), grad + b.off_gamma, grad + b.off_beta);
    const T* xin = l == 0 ? x0_.data() : blocks_[l - 1].p.data();
    if (l > 0) dp_.resize(s.in_size());  // dL/d(previous block's pooled output)
    conv2d_backward_cpu(s, xin, theta + b.off_w, da_.data(), l > 0 ? dp_.data() : static_cast<T*>(nullptr),
                        grad + b.off_w, grad + b.off_b, col_.data(), dcol_.data());
  }
  return loss;
}

template <typename T>
CoordRanges ConvNet<T>::learner_frozen() const {
  CoordRanges r;
  if (learned_trains_bn_) return r;
  for (const auto& b : blocks_) r.push_back({b.off_gamma, b.off_beta + b.conv.c_out});  // gamma, beta adjacent
  return r;
}

template <typename T>
std::vector<int64_t> ConvNet<T>::tensor_sizes() const {
  std::vector<int64_t> s;
  for (const auto& b : blocks_) {
    const int64_t c = b.conv.c_out;
    s.insert(s.end(), {b.off_b - b.off_w, c, c, c});
  }
  s.push_back(off_fc_b_ - off_fc_w_);
  s.push_back(num_params_ - off_fc_b_);
  return s;
}

template class ConvNet<float>;
template class ConvNet<double>;

}  // namespace l2o
