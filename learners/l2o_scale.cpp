#include "learners/l2o_scale.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/common.h"
#include "kernels/rng.h"

namespace l2o {

using namespace lsc;

std::vector<ParamBlock> l2o_scale_param_blocks(const L2oScaleConfig& cfg) {
  L2O_CHECK(cfg.hidden.size() == 3, "L2O-Scale takes 3 levels, got " << cfg.hidden.size());
  const int64_t H0 = cfg.hidden[0], H1 = cfg.hidden[1], H2 = cfg.hidden[2], X1 = H0 + kF;
  const std::string l0 = "PerTensor/Layer0_RNN/", l1 = "PerTensor/Layer1_RNN/", l2 = "Layer2_RNN/";
  const std::string gates = "BiasGRUCell/gates/Affine/", cand = "BiasGRUCell/candidate/Affine/";
  std::vector<ParamBlock> b = {
      {"Level0_RNN/init_vector", {1, H0}},
      {"Level1_RNN/init_vector", {1, H1}},
      {"Level2_RNN/init_vector", {1, H2}},
      {l0 + gates + "Matrix", {kF + H0, 2 * H0}},
      {l0 + gates + "Bias", {2 * H0}},
      {l0 + cand + "Matrix", {kF + H0, H0}},
      {l0 + cand + "Bias", {H0}},
      {l0 + "Param/Affine/Matrix", {H1, 3 * H0}},
      {l0 + "Param/Affine/Bias", {3 * H0}},
      {l0 + "Global/Affine/Matrix", {H2, 3 * H0}},
      {l0 + "Global/Affine/Bias", {3 * H0}},
      {l1 + gates + "Matrix", {X1 + H1, 2 * H1}},
      {l1 + gates + "Bias", {2 * H1}},
      {l1 + cand + "Matrix", {X1 + H1, H1}},
      {l1 + cand + "Bias", {H1}},
      {l1 + "Affine/Matrix", {H2, 3 * H1}},
      {l1 + "Affine/Bias", {3 * H1}},
      {l2 + gates + "Matrix", {H1 + H2, 2 * H2}},
      {l2 + gates + "Bias", {2 * H2}},
      {l2 + cand + "Matrix", {H1 + H2, H2}},
      {l2 + cand + "Bias", {H2}},
      {"update_weights", {H0, 1}},
      {"PerTensor/GradsToDelta/Matrix", {kS, 1}},
      {"learning_rate_weights", {H0, 1}},
      {"learning_rate_bias", {1}},
      {"PerTensor/learning_rate_momentum_logit", {}},
      {"PerTensor/param_stepsize_offset", {}},
      {"scl_decay_weights", {H0, 1}},
      {"scl_decay_bias", {1}},
      {"inp_decay_weights", {H0, 1}},
      {"inp_decay_bias", {1}}};
  L2O_CHECK(b.size() == kBlockCount, "L2O-Scale block list out of step");
  int64_t off = 0;
  for (auto& x : b) {
    x.offset = off;
    off += x.size();
  }
  return b;
}

template <typename T>
L2oScale<T>::L2oScale(L2oScaleConfig cfg) : cfg_(std::move(cfg)), blocks_(l2o_scale_param_blocks(cfg_)) {
  for (int64_t h : cfg_.hidden)
    L2O_CHECK(h >= 1 && h <= kMaxHidden, "L2O-Scale levels take 1.." << kMaxHidden << " units, got " << h);
  L2O_CHECK(cfg_.min_lr > 0 && cfg_.min_lr <= cfg_.max_lr, "L2O-Scale needs 0 < min_lr <= max_lr");
  num_params_ = blocks_.back().offset + blocks_.back().size();
  std::vector<int64_t> offsets;
  for (const auto& b : blocks_) offsets.push_back(b.offset);
  layout_ = make_l2o_scale_layout(static_cast<int>(cfg_.hidden[0]), static_cast<int>(cfg_.hidden[1]),
                                  static_cast<int>(cfg_.hidden[2]), cfg_.max_log_lr, offsets.data(), num_params_);
}

template <typename T>
void L2oScale<T>::init_params(uint64_t seed, T* phi) const {
  // The authors' initialisers (docs/l2o_scale.md section 1): affine matrices N(mean, (scale/sqrt(fan_in))^2).
  Rng rng(seed, kStreamLearnerInit);
  auto normal = [&](int b, double scale, double mean = 0.0) {
    const ParamBlock& p = blocks_[b];
    const double sd = scale / std::sqrt(static_cast<double>(p.shape[0]));
    for (int64_t i = 0; i < p.size(); ++i) phi[p.offset + i] = static_cast<T>(mean + sd * rng.normal());
  };
  auto constant = [&](int b, double v) {
    std::fill(phi + blocks_[b].offset, phi + blocks_[b].offset + blocks_[b].size(), static_cast<T>(v));
  };
  for (int b : {kInit0, kInit1, kInit2})  // tf.random_uniform([1, state], -1, 1)
    for (int64_t i = 0; i < blocks_[b].size(); ++i) phi[blocks_[b].offset + i] = static_cast<T>(2 * rng.uniform() - 1);
  for (int b : {kG0W, kC0W, kG1W, kC1W, kG2W, kC2W}) normal(b, cfg_.biasgrucell_scale);
  for (int b : {kG0B, kG1B, kG2B}) constant(b, cfg_.biasgrucell_gate_bias_init);
  for (int b : {kC0B, kC1B, kC2B, kParamB, kGlobB, kL1B, kLrW, kLrB}) constant(b, 0.0);  // zero_init_lr_weights
  for (int b : {kParamW, kGlobW, kL1W}) normal(b, cfg_.hrnn_affine_scale);
  for (int b : {kUpdW, kSclW, kInpW}) normal(b, cfg_.hrnn_rnn_readout_scale);
  normal(kG2D, 0.1, 1.0 / kS);  // utils.affine's default scale, vec_mean 1/len(grads_scaled)
  constant(kLrMom, cfg_.learning_rate_momentum_logit_init);
  constant(kOffset, cfg_.param_stepsize_offset_init);
  constant(kSclB, cfg_.scale_decay_bias_init);
  constant(kInpB, cfg_.hrnn_default_decay_var_init);
}

template <typename T>
void L2oScale<T>::set_tensor_sizes(const std::vector<int64_t>& sizes) {
  L2O_CHECK(!sizes.empty(), "L2O-Scale: an optimizee with no tensors");
  for (int64_t s : sizes) L2O_CHECK(s >= 1, "L2O-Scale: a tensor of size " << s);
  sizes_ = sizes;
  sizes_given_ = true;
}

template <typename T>
void L2oScale<T>::reset(int64_t n, int64_t max_steps) {
  L2O_CHECK(n >= 1, "L2O-Scale: n must be >= 1, got " << n);
  if (!sizes_given_) sizes_ = {n};
  const int64_t sum = std::accumulate(sizes_.begin(), sizes_.end(), int64_t(0));
  L2O_CHECK(sum == n, "L2O-Scale: the tensor sizes sum to " << sum << ", not to the " << n << " coordinates");
  offs_.assign(sizes_.size() + 1, 0);
  for (size_t k = 0; k < sizes_.size(); ++k) offs_[k + 1] = offs_[k] + sizes_[k];
  n_ = n;
  slots_ = std::max<int64_t>(max_steps, 0);
  shape_.L = layout_;
  shape_.n = n;
  shape_.tensors = static_cast<int>(sizes_.size());
  shape_.slots = slots_;
  shape_.offs = offs_.data();
  state_.assign(shape_.state_size(), T(0));
  records_.assign(shape_.records_size(), T(0));
  ws_.assign(slots_ > 0 ? shape_.workspace_size() : 0, T(0));
  st_ = l2o_scale_state_view(shape_, state_.data(), records_.data());
  zero_state();
}

template <typename T>
void L2oScale<T>::zero_state() {
  fresh_ = true;  // the initial state needs phi's init vectors: built at the next step
  saved_ = 0;
}

template <typename T>
std::vector<T> L2oScale<T>::carried_state() const {
  return fresh_ ? std::vector<T>() : state_;
}

template <typename T>
void L2oScale<T>::set_carried_state(const std::vector<T>& state, const std::string& origin) {
  L2O_CHECK(n_ > 0, "reset() first");
  zero_state();
  if (state.empty()) return;
  if (state.size() != state_.size())
    throw InputError(origin + ": the L2O-Scale state has " + std::to_string(state.size()) + " values, " +
                     std::to_string(state_.size()) + " expected for " + std::to_string(n_) + " parameters in " +
                     std::to_string(sizes_.size()) + " tensors");
  for (T x : state)
    if (!std::isfinite(x)) throw InputError(origin + ": the L2O-Scale state holds NaN or Inf");
  state_ = state;
  fresh_ = false;
}

template <typename T>
void L2oScale<T>::build_initial_state(const T* phi) {
  L2O_CHECK(n_ > 0, "reset() first");
  // hierarchical_rnn.py:303-350: h from the init vectors, decays, momenta and ms zero, log lr random.
  const int H0 = layout_.H0, H1 = layout_.H1;
  std::fill(state_.begin(), state_.end(), T(0));
  const T* init0 = phi + blocks_[kInit0].offset;
  const T* init1 = phi + blocks_[kInit1].offset;
  const T* init2 = phi + blocks_[kInit2].offset;
  for (int64_t i = 0; i < n_; ++i) std::copy(init0, init0 + H0, st_.h0 + i * H0);
  for (size_t k = 0; k < sizes_.size(); ++k) std::copy(init1, init1 + H1, st_.h1 + k * H1);
  std::copy(init2, init2 + layout_.H2, st_.h2);
  // Per element U(ln(min)/2, ln(max)/2) plus one such offset per tensor, clipped (H:320-338).
  Rng rng(cfg_.lr_init_seed, kStreamLearnerState);
  const double lo = std::log(cfg_.min_lr) / 2, hi = std::log(cfg_.max_lr) / 2;
  for (size_t k = 0; k < sizes_.size(); ++k) {
    T* lr = st_.lr + offs_[k];
    for (int64_t i = 0; i < sizes_[k]; ++i) lr[i] = static_cast<T>(lo + (hi - lo) * rng.uniform());
    const double offset = lo + (hi - lo) * rng.uniform();
    for (int64_t i = 0; i < sizes_[k]; ++i) lr[i] = static_cast<T>(std::clamp(lr[i] + offset, -33.0, cfg_.max_log_lr));
  }
  fresh_ = false;
}

template <typename T>
void L2oScale<T>::step(const T* phi, const T* g, T* u, bool save) {
  L2O_CHECK(n_ > 0, "reset() first");
  L2O_CHECK(!save || saved_ < slots_, "segment longer than the max_steps given to reset()");
  if (fresh_) build_initial_state(phi);
  l2o_scale_step_cpu(shape_, phi, g, st_, save ? saved_ : slots_, u);
  if (save) ++saved_;
}

template <typename T>
void L2oScale<T>::backward(const T* phi, const T* dl_du, T* dphi) {
  L2O_CHECK(saved_ > 0, "backward without saved steps");
  l2o_scale_backward_cpu(shape_, phi, saved_, st_, dl_du, ws_.data(), dphi);
}

template class L2oScale<float>;
template class L2oScale<double>;

}  // namespace l2o
