#include "optimizees/mlp.h"

#include "kernels/fixed_order.h"
#include "kernels/gemm_blocking.h"
#include "kernels/softmax_xent_math.h"

namespace l2o {

namespace {
// Before main, so before any GEMM below: the same blocking, and bits, on every machine.
[[maybe_unused]] const bool kGemmBlockingPinned = pin_gemm_blocking();
}  // namespace

template <typename T>
Mlp<T>::Mlp(std::string name, const Dataset& data, std::vector<int64_t> hidden, Activation act, int64_t batch_size,
            double init_std)
    : name_(std::move(name)), data_(data), act_(act), batch_size_(batch_size), init_std_(init_std) {
  L2O_CHECK(batch_size > 0 && data.n > 0, "empty batch or dataset");
  sizes_.push_back(data.dim());
  for (int64_t h : hidden) sizes_.push_back(h);
  sizes_.push_back(data.num_classes);
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    offsets_.push_back(num_params_);
    num_params_ += sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
  }
  a_.resize(sizes_.size());
}

template <typename T>
void Mlp<T>::init(uint64_t seed, T* theta) {
  Rng init(seed, kStreamInit);
  for (int64_t i = 0; i < num_params_; ++i) theta[i] = static_cast<T>(init.normal() * init_std_);
}

template <typename T>
void Mlp<T>::sample_batch(Rng& rng, Batch& batch) const {
  sample_with_replacement(rng, data_.n, batch_size_, batch);
}

template <typename T>
T Mlp<T>::loss_and_grad(const T* theta, const Batch& batch, T* grad) {
  const int64_t bsz = static_cast<int64_t>(batch.idx.size());
  const int64_t layers = static_cast<int64_t>(offsets_.size());
  const int64_t dim = data_.dim();
  a_[0].resize(bsz, dim);
  for (int64_t r = 0; r < bsz; ++r) {
    const float* src = &data_.images[static_cast<int64_t>(batch.idx[r]) * dim];
    for (int64_t c = 0; c < dim; ++c) a_[0](r, c) = static_cast<T>(src[c]);
  }
  Mat logits;
  for (int64_t l = 0; l < layers; ++l) {
    Eigen::Map<const Mat> w(theta + offsets_[l], sizes_[l], sizes_[l + 1]);
    Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> b(theta + offsets_[l] + sizes_[l] * sizes_[l + 1],
                                                            sizes_[l + 1]);
    Mat z = a_[l] * w;
    z.rowwise() += b;
    if (l + 1 < layers) {
      a_[l + 1] = z.unaryExpr([this](T v) { return activate(act_, v); });
    } else {
      logits = std::move(z);
    }
  }
  // Softmax cross-entropy; delta = dLoss/dlogits for the batch mean.
  const int64_t classes = sizes_.back();
  delta_.resize(bsz, classes);
  T loss = 0;
  for (int64_t r = 0; r < bsz; ++r) {
    loss += softmax_xent_row(&logits(r, 0), classes, data_.labels[batch.idx[r]], &delta_(r, 0), T(1) / T(bsz));
  }
  loss /= T(bsz);
  if (!grad) return loss;

  for (int64_t l = layers - 1; l >= 0; --l) {
    Eigen::Map<Mat> gw(grad + offsets_[l], sizes_[l], sizes_[l + 1]);
    Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> gb(grad + offsets_[l] + sizes_[l] * sizes_[l + 1], sizes_[l + 1]);
    gw.noalias() = a_[l].transpose() * delta_;
    column_sums(delta_.data(), bsz, sizes_[l + 1], gb.data());  // not colwise().sum(): fixed order
    if (l > 0) {
      Eigen::Map<const Mat> w(theta + offsets_[l], sizes_[l], sizes_[l + 1]);
      Mat back = delta_ * w.transpose();
      delta_ = back.cwiseProduct(a_[l].unaryExpr([this](T y) { return activate_grad_from_output(act_, y); }));
    }
  }
  return loss;
}

template <typename T>
std::vector<int64_t> Mlp<T>::tensor_sizes() const {
  std::vector<int64_t> s;
  for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
    s.push_back(sizes_[l] * sizes_[l + 1]);
    s.push_back(sizes_[l + 1]);
  }
  return s;
}

template class Mlp<float>;
template class Mlp<double>;

}  // namespace l2o
