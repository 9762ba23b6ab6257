#include "learners/l2o_scale.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/common.h"
#include "kernels/rng.h"

namespace l2o {

namespace {

// phi's blocks in order (l2o_scale_param_blocks); the comment is the authors' variable.
enum Block : int {
  kInit0, kInit1, kInit2,          // Level{0,1,2}_RNN/init_vector
  kG0W, kG0B, kC0W, kC0B,          // PerTensor/Layer0_RNN/BiasGRUCell/{gates,candidate}/Affine
  kParamW, kParamB,                // PerTensor/Layer0_RNN/Param/Affine: bias from the tensor state
  kGlobW, kGlobB,                  // PerTensor/Layer0_RNN/Global/Affine: bias from the global state
  kG1W, kG1B, kC1W, kC1B,          // PerTensor/Layer1_RNN/BiasGRUCell
  kL1W, kL1B,                      // PerTensor/Layer1_RNN/Affine: bias from the global state
  kG2W, kG2B, kC2W, kC2B,          // Layer2_RNN/BiasGRUCell
  kUpdW, kG2D,                     // update_weights, PerTensor/GradsToDelta/Matrix
  kLrW, kLrB, kLrMom, kOffset,     // learning_rate_{weights,bias}, PerTensor/{learning_rate_momentum_logit, param_stepsize_offset}
  kSclW, kSclB, kInpW, kInpB,      // {scl,inp}_decay_{weights,bias}
  kBlockCount
};

constexpr int kS = L2oScale<float>::kScales, kF = L2oScale<float>::kFeatures;

template <typename T>
T sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
T dot(int n, const T* a, const T* b) {
  T s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// out (O) = v (I) @ W (I, O) + b, added to out.
template <typename T>
void affine_add(int I, int O, const T* v, const T* W, const T* b, T* out) {
  for (int j = 0; j < O; ++j) out[j] += b[j];
  for (int a = 0; a < I; ++a)
    for (int j = 0; j < O; ++j) out[j] += v[a] * W[a * O + j];
}

// The backward of affine_add: dv += W dout, dW += v dout^T, db += dout.
template <typename T>
void affine_backward(int I, int O, const T* v, const T* W, const T* dout, T* dv, T* dW, T* db) {
  for (int j = 0; j < O; ++j) db[j] += dout[j];
  for (int a = 0; a < I; ++a) {
    T s = 0;
    for (int j = 0; j < O; ++j) {
      s += W[a * O + j] * dout[j];
      dW[a * O + j] += v[a] * dout[j];
    }
    dv[a] += s;
  }
}

// BiasGRUCell (rnn_cells.py:46-68) on one row: [r, u] = sigmoid([x, h] Wg + bg + bias[0:2H]),
// c = tanh([x, r h] Wc + bc + bias[2H:3H]), h' = u h + (1 - u) c. bias null: none (Layer2).
template <typename T>
void gru_forward(int X, int H, const T* x, const T* h, const T* Wg, const T* bg, const T* Wc, const T* bc,
                 const T* bias, T* r, T* u, T* c, T* hn) {
  T z[2 * L2oScale<T>::kMaxHidden];
  for (int j = 0; j < 2 * H; ++j) z[j] = bg[j] + (bias ? bias[j] : T(0));
  for (int k = 0; k < X + H; ++k) {
    const T v = k < X ? x[k] : h[k - X];
    const T* row = Wg + k * 2 * H;
    for (int j = 0; j < 2 * H; ++j) z[j] += v * row[j];
  }
  for (int j = 0; j < H; ++j) {
    r[j] = sigm(z[j]);
    u[j] = sigm(z[H + j]);
    z[j] = bc[j] + (bias ? bias[2 * H + j] : T(0));
  }
  for (int k = 0; k < X + H; ++k) {
    const T v = k < X ? x[k] : r[k - X] * h[k - X];
    const T* row = Wc + k * H;
    for (int j = 0; j < H; ++j) z[j] += v * row[j];
  }
  for (int j = 0; j < H; ++j) {
    c[j] = std::tanh(z[j]);
    hn[j] = u[j] * h[j] + (T(1) - u[j]) * c[j];
  }
}

// Its backward for dhn: adds to dx (X), dh (H), dbias (3H, unless null) and the cell's gradients.
template <typename T>
void gru_backward(int X, int H, const T* x, const T* h, const T* Wg, const T* Wc, const T* r, const T* u,
                  const T* c, const T* dhn, T* dx, T* dh, T* dbias, T* dWg, T* dbg, T* dWc, T* dbc) {
  T dzc[L2oScale<T>::kMaxHidden], dzg[2 * L2oScale<T>::kMaxHidden];
  for (int j = 0; j < H; ++j) {
    dzc[j] = dhn[j] * (T(1) - u[j]) * (T(1) - c[j] * c[j]);
    dzg[H + j] = dhn[j] * (h[j] - c[j]) * u[j] * (T(1) - u[j]);
    dh[j] += dhn[j] * u[j];
  }
  for (int k = 0; k < X + H; ++k) {  // candidate: inputs [x, r h]
    const T v = k < X ? x[k] : r[k - X] * h[k - X];
    const T* row = Wc + k * H;
    T* drow = dWc + k * H;
    T s = 0;
    for (int j = 0; j < H; ++j) {
      s += row[j] * dzc[j];
      drow[j] += v * dzc[j];
    }
    if (k < X) {
      dx[k] += s;
    } else {
      const int q = k - X;
      dh[q] += s * r[q];
      dzg[q] = s * h[q] * r[q] * (T(1) - r[q]);
    }
  }
  for (int j = 0; j < H; ++j) dbc[j] += dzc[j];
  for (int k = 0; k < X + H; ++k) {  // gates: inputs [x, h]
    const T v = k < X ? x[k] : h[k - X];
    const T* row = Wg + k * 2 * H;
    T* drow = dWg + k * 2 * H;
    T s = 0;
    for (int j = 0; j < 2 * H; ++j) {
      s += row[j] * dzg[j];
      drow[j] += v * dzg[j];
    }
    (k < X ? dx[k] : dh[k - X]) += s;
  }
  for (int j = 0; j < 2 * H; ++j) dbg[j] += dzg[j];
  if (dbias) {
    for (int j = 0; j < 2 * H; ++j) dbias[j] += dzg[j];
    for (int j = 0; j < H; ++j) dbias[2 * H + j] += dzc[j];
  }
}

}  // namespace

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
  H0_ = static_cast<int>(cfg_.hidden[0]);
  H1_ = static_cast<int>(cfg_.hidden[1]);
  H2_ = static_cast<int>(cfg_.hidden[2]);
  X1_ = H0_ + kF;
  int64_t w = 0;
  auto take = [&w](int64_t k) {
    const int64_t o = w;
    w += k;
    return o;
  };
  o_h0p_ = take(H0_), o_accp_ = take(kS), o_msp_ = take(kS), o_sclp_ = take(1), o_inpp_ = take(1), o_lrp_ = take(1);
  o_g_ = take(1), o_f_ = take(kF), o_r_ = take(H0_), o_u_ = take(H0_), o_c_ = take(H0_), o_h0n_ = take(H0_);
  o_acc_ = take(kS), o_ms_ = take(kS), o_delta_ = take(1), o_lrparam_ = take(1), o_stepc_ = take(1);
  o_scln_ = take(1), o_inpn_ = take(1);
  wp_ = w;
  w = 0;
  t_h1p_ = take(H1_), t_x1_ = take(X1_), t_b1_ = take(3 * H1_), t_r_ = take(H1_), t_u_ = take(H1_);
  t_c_ = take(H1_), t_h1n_ = take(H1_), t_b0_ = take(3 * H0_), t_rms_ = take(1), t_forced_ = take(kS);
  wt_ = w;
  w = 0;
  g_h2p_ = take(H2_), g_r_ = take(H2_), g_u_ = take(H2_), g_c_ = take(H2_), g_h2n_ = take(H2_), g_meanlr_ = take(1);
  wg_ = w;
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
  offs_.assign(sizes_.size(), 0);
  for (size_t k = 1; k < sizes_.size(); ++k) offs_[k] = offs_[k - 1] + sizes_[k - 1];
  n_ = n;
  slots_ = std::max<int64_t>(max_steps, 0);
  const int64_t tensors = static_cast<int64_t>(sizes_.size());
  h0_.assign(n * H0_, T(0));
  acc_.assign(n * kS, T(0));
  ms_.assign(n * kS, T(0));
  scl_.assign(n, T(0));
  inp_.assign(n, T(0));
  lr_.assign(n, T(0));
  h1_.assign(tensors * H1_, T(0));
  h2_.assign(H2_, T(0));
  rec_p_.resize((slots_ + 1) * n * wp_);
  rec_t_.resize((slots_ + 1) * tensors * wt_);
  rec_g_.resize((slots_ + 1) * wg_);
  zero_state();
}

template <typename T>
void L2oScale<T>::zero_state() {
  fresh_ = true;  // the initial state needs phi's init vectors: built at the next step
  saved_ = 0;
}

template <typename T>
std::vector<T> L2oScale<T>::carried_state() const {
  std::vector<T> s;
  if (fresh_) return s;
  for (const auto* v : {&h0_, &acc_, &ms_, &scl_, &inp_, &lr_, &h1_, &h2_}) s.insert(s.end(), v->begin(), v->end());
  return s;
}

template <typename T>
void L2oScale<T>::set_carried_state(const std::vector<T>& state, const std::string& origin) {
  L2O_CHECK(n_ > 0, "reset() first");
  zero_state();
  if (state.empty()) return;
  std::vector<T>* parts[] = {&h0_, &acc_, &ms_, &scl_, &inp_, &lr_, &h1_, &h2_};
  size_t want = 0;
  for (const auto* v : parts) want += v->size();
  if (state.size() != want)
    throw InputError(origin + ": the L2O-Scale state has " + std::to_string(state.size()) + " values, " +
                     std::to_string(want) + " expected for " + std::to_string(n_) + " parameters in " +
                     std::to_string(sizes_.size()) + " tensors");
  for (T x : state)
    if (!std::isfinite(x)) throw InputError(origin + ": the L2O-Scale state holds NaN or Inf");
  size_t at = 0;
  for (auto* v : parts) {
    std::copy(state.begin() + at, state.begin() + at + v->size(), v->begin());
    at += v->size();
  }
  fresh_ = false;
}

template <typename T>
void L2oScale<T>::init_state(const T* phi) {
  // hierarchical_rnn.py:303-350: h from the init vectors, decays, momenta and ms zero, log lr random.
  for (int64_t i = 0; i < n_; ++i) std::copy(P(phi, kInit0), P(phi, kInit0) + H0_, &h0_[i * H0_]);
  for (size_t k = 0; k < sizes_.size(); ++k) std::copy(P(phi, kInit1), P(phi, kInit1) + H1_, &h1_[k * H1_]);
  std::copy(P(phi, kInit2), P(phi, kInit2) + H2_, h2_.begin());
  std::fill(acc_.begin(), acc_.end(), T(0));
  std::fill(ms_.begin(), ms_.end(), T(0));
  std::fill(scl_.begin(), scl_.end(), T(0));
  std::fill(inp_.begin(), inp_.end(), T(0));
  // Per element U(ln(min)/2, ln(max)/2) plus one such offset per tensor, clipped (H:320-338).
  Rng rng(cfg_.lr_init_seed, kStreamLearnerState);
  const double lo = std::log(cfg_.min_lr) / 2, hi = std::log(cfg_.max_lr) / 2;
  for (size_t k = 0; k < sizes_.size(); ++k) {
    for (int64_t i = 0; i < sizes_[k]; ++i) lr_[offs_[k] + i] = static_cast<T>(lo + (hi - lo) * rng.uniform());
    const double offset = lo + (hi - lo) * rng.uniform();
    for (int64_t i = 0; i < sizes_[k]; ++i)
      lr_[offs_[k] + i] = static_cast<T>(std::clamp(lr_[offs_[k] + i] + offset, -33.0, cfg_.max_log_lr));
  }
  fresh_ = false;
}

template <typename T>
void L2oScale<T>::step(const T* phi, const T* g, T* u, bool save) {
  L2O_CHECK(n_ > 0, "reset() first");
  L2O_CHECK(!save || saved_ < slots_, "segment longer than the max_steps given to reset()");
  if (fresh_) init_state(phi);
  const int64_t slot = save ? saved_ : slots_;
  T* gr = &rec_g_[slot * wg_];
  std::copy(h2_.begin(), h2_.end(), gr + g_h2p_);
  double sum = 0;  // the problem's mean log learning rate (use_problem_lr_mean, H:432-442)
  for (T x : lr_) sum += x;
  gr[g_meanlr_] = static_cast<T>(sum / n_);
  const int64_t tensors = static_cast<int64_t>(sizes_.size());
  for (int64_t k = 0; k < tensors; ++k) tensor_forward(phi, k, g, gr[g_meanlr_], slot, u);
  // The global level reads the last tensor's new state only (H:426, H:725).
  const T* last = &rec_t_[(slot * tensors + tensors - 1) * wt_];
  gru_forward(H1_, H2_, last + t_h1n_, gr + g_h2p_, P(phi, kG2W), P(phi, kG2B), P(phi, kC2W), P(phi, kC2B),
              static_cast<const T*>(nullptr), gr + g_r_, gr + g_u_, gr + g_c_, gr + g_h2n_);
  std::copy(gr + g_h2n_, gr + g_h2n_ + H2_, h2_.begin());
  if (save) ++saved_;
}

template <typename T>
void L2oScale<T>::tensor_forward(const T* phi, int64_t k, const T* g, T mean_lr, int64_t slot, T* u) {
  const int64_t o = offs_[k], m = sizes_[k], tensors = static_cast<int64_t>(sizes_.size());
  T* tr = &rec_t_[(slot * tensors + k) * wt_];
  const T* h2p = &rec_g_[slot * wg_ + g_h2p_];
  std::copy(&h1_[k * H1_], &h1_[k * H1_] + H1_, tr + t_h1p_);
  // rms_scaling forces the decay to 0 while the tensor's mean squares are all zero (utils.py:129-130).
  bool forced[kS];
  for (int j = 0; j < kS; ++j) {
    forced[j] = true;
    for (int64_t i = 0; i < m && forced[j]; ++i) forced[j] = ms_[(o + i) * kS + j] == T(0);
    tr[t_forced_ + j] = forced[j] ? T(1) : T(0);
  }
  // Level-0 injected bias from the old tensor and global states (H:561-575).
  T* b0 = tr + t_b0_;
  std::fill(b0, b0 + 3 * H0_, T(0));
  affine_add(H1_, 3 * H0_, tr + t_h1p_, P(phi, kParamW), P(phi, kParamB), b0);
  affine_add(H2_, 3 * H0_, h2p, P(phi, kGlobW), P(phi, kGlobB), b0);
  T* x1 = tr + t_x1_;
  std::fill(x1, x1 + X1_, T(0));
  for (int64_t i = 0; i < m; ++i) {
    const int64_t p = o + i;
    T* R = &rec_p_[(slot * n_ + p) * wp_];
    std::copy(&h0_[p * H0_], &h0_[p * H0_] + H0_, R + o_h0p_);
    std::copy(&acc_[p * kS], &acc_[p * kS] + kS, R + o_accp_);
    std::copy(&ms_[p * kS], &ms_[p * kS] + kS, R + o_msp_);
    R[o_sclp_] = scl_[p];
    R[o_inpp_] = inp_[p];
    R[o_lrp_] = lr_[p];
    R[o_g_] = g[p];
    // Momenta on timescales doubling from inp_decay, RMS-scaled (H:458-495, utils.py:108-160).
    T d = inp_[p], L[kS];
    T* f = R + o_f_;
    for (int j = 0; j < kS; ++j) {
      if (j > 0) d = std::sqrt(d);
      const T a = (T(1) - d) * g[p] + d * R[o_accp_ + j];
      const T se = forced[j] ? T(0) : scl_[p];
      const T ms = (T(1) - se) * (a * a + T(1e-12)) + se * R[o_msp_ + j];
      R[o_acc_ + j] = a;
      R[o_ms_ + j] = ms;
      f[j] = std::asinh(a / std::sqrt(ms + T(1e-16)));
      L[j] = std::log(ms + T(1e-16));
    }
    // Products of neighbouring scales, log mean squares about their mean, relative lr (H:497-531).
    for (int j = 0; j + 1 < kS; ++j) f[kS + j] = f[j] * f[j + 1];
    const T avg = (L[0] + L[1] + L[2] + L[3]) / T(kS);
    for (int j = 0; j < kS; ++j) f[2 * kS - 1 + j] = L[j] - avg;
    f[kF - 1] = R[o_lrp_] - mean_lr;
    gru_forward(kF, H0_, f, R + o_h0p_, P(phi, kG0W), P(phi, kG0B), P(phi, kC0W), P(phi, kC0B), b0, R + o_r_,
                R + o_u_, R + o_c_, R + o_h0n_);
    for (int j = 0; j < H0_; ++j) x1[j] += R[o_h0n_ + j];
    for (int j = 0; j < kF; ++j) x1[H0_ + j] += f[j];
  }
  // Level 1: the mean of [h0', features] over the tensor, bias from the old global state (H:584-598).
  for (int j = 0; j < X1_; ++j) x1[j] /= static_cast<T>(m);
  T* b1 = tr + t_b1_;
  std::fill(b1, b1 + 3 * H1_, T(0));
  affine_add(H2_, 3 * H1_, h2p, P(phi, kL1W), P(phi, kL1B), b1);
  gru_forward(X1_, H1_, x1, tr + t_h1p_, P(phi, kG1W), P(phi, kG1B), P(phi, kC1W), P(phi, kC1B),
              static_cast<const T*>(b1), tr + t_r_, tr + t_u_, tr + t_c_, tr + t_h1n_);
  std::copy(tr + t_h1n_, tr + t_h1n_ + H1_, &h1_[k * H1_]);
  // Direction: readout + gradient shortcut, RMS-normalised over the tensor (H:612-626).
  double sq = 0;
  for (int64_t i = 0; i < m; ++i) {
    T* R = &rec_p_[(slot * n_ + o + i) * wp_];
    const T dr = dot(H0_, R + o_h0n_, P(phi, kUpdW)) + dot(kS, R + o_f_, P(phi, kG2D));
    R[o_delta_] = dr;
    sq += static_cast<double>(dr) * dr;
  }
  const T rms = std::sqrt(static_cast<T>(sq / m) + T(1e-16));
  tr[t_rms_] = rms;
  // Learning rate with momentum, clipped forward only; the step; the next decays (H:645-696).
  const T lrm = sigm(*P(phi, kLrMom)), offset = *P(phi, kOffset);
  const T lo = T(-33), hi = static_cast<T>(cfg_.max_log_lr);
  for (int64_t i = 0; i < m; ++i) {
    const int64_t p = o + i;
    T* R = &rec_p_[(slot * n_ + p) * wp_];
    const T* h0n = R + o_h0n_;
    R[o_delta_] /= rms;
    const T step_lr = R[o_lrp_] + dot(H0_, h0n, P(phi, kLrW)) + *P(phi, kLrB);
    const T stepc = std::clamp(step_lr, lo, hi);
    R[o_stepc_] = stepc;
    R[o_lrparam_] = std::exp(stepc + offset);
    u[p] = -R[o_lrparam_] * R[o_delta_];
    R[o_scln_] = sigm(dot(H0_, h0n, P(phi, kSclW)) + *P(phi, kSclB));
    R[o_inpn_] = sigm(dot(H0_, h0n, P(phi, kInpW)) + *P(phi, kInpB));
    // The new state.
    std::copy(h0n, h0n + H0_, &h0_[p * H0_]);
    std::copy(R + o_acc_, R + o_acc_ + kS, &acc_[p * kS]);
    std::copy(R + o_ms_, R + o_ms_ + kS, &ms_[p * kS]);
    scl_[p] = R[o_scln_];
    inp_[p] = R[o_inpn_];
    lr_[p] = lrm * R[o_lrp_] + (T(1) - lrm) * stepc;
  }
}

template <typename T>
void L2oScale<T>::backward(const T* phi, const T* dl_du, T* dphi) {
  // Reverse mode over the saved steps. "next" holds dL/d(state after step t), "prev" dL/d(state
  // before it); the state entering the segment is a constant, so the last prev is dropped.
  const int64_t n = n_, tensors = static_cast<int64_t>(sizes_.size());
  std::fill(dphi, dphi + num_params_, T(0));
  auto D = [&](int b) { return dphi + blocks_[b].offset; };
  struct Adj {
    std::vector<T> h0, acc, ms, scl, inp, lr, h1, h2;
  };
  auto make = [&] {
    return Adj{std::vector<T>(n * H0_), std::vector<T>(n * kS), std::vector<T>(n * kS), std::vector<T>(n),
               std::vector<T>(n),       std::vector<T>(n),      std::vector<T>(tensors * H1_), std::vector<T>(H2_)};
  };
  Adj next = make(), prev = make();
  const int64_t mmax = *std::max_element(sizes_.begin(), sizes_.end());
  std::vector<T> dh0n(mmax * H0_), df(mmax * kF), ddelta(mmax);
  const T lrm = sigm(*P(phi, kLrMom));
  T dlrm = 0;
  for (int64_t t = saved_ - 1; t >= 0; --t) {
    for (auto* v : {&prev.h0, &prev.acc, &prev.ms, &prev.scl, &prev.inp, &prev.lr, &prev.h1, &prev.h2})
      std::fill(v->begin(), v->end(), T(0));
    const T* gr = &rec_g_[t * wg_];
    const T* h2p = gr + g_h2p_;
    // Level 2, on the last tensor's new state.
    T dx2[kMaxHidden] = {};
    const T* last = &rec_t_[(t * tensors + tensors - 1) * wt_];
    gru_backward(H1_, H2_, last + t_h1n_, h2p, P(phi, kG2W), P(phi, kC2W), gr + g_r_, gr + g_u_, gr + g_c_,
                 next.h2.data(), dx2, prev.h2.data(), static_cast<T*>(nullptr), D(kG2W), D(kG2B), D(kC2W), D(kC2B));
    T dlr_sum = 0;  // the relative-lr feature's gradient on the problem's mean log lr
    for (int64_t k = 0; k < tensors; ++k) {
      const int64_t o = offs_[k], m = sizes_[k];
      const T* tr = &rec_t_[(t * tensors + k) * wt_];
      // The step's readouts: u = -exp(stepc + offset) delta, the new log lr and decays.
      T S = 0;
      for (int64_t i = 0; i < m; ++i) {
        const int64_t p = o + i;
        const T* R = &rec_p_[(t * n + p) * wp_];
        const T* h0n = R + o_h0n_;
        T* dh = &dh0n[i * H0_];
        std::copy(&next.h0[p * H0_], &next.h0[p * H0_] + H0_, dh);
        std::fill(&df[i * kF], &df[i * kF] + kF, T(0));
        const T du = dl_du[t * n + p], lrp = R[o_lrp_], stepc = R[o_stepc_];
        ddelta[i] = -du * R[o_lrparam_];
        const T dstepc = -du * R[o_delta_] * R[o_lrparam_];
        *D(kOffset) += dstepc;
        const T dlrn = next.lr[p];
        const T dstep = dstepc + (T(1) - lrm) * dlrn;  // the clip passes the gradient straight through
        prev.lr[p] += lrm * dlrn + dstep;
        dlrm += dlrn * (lrp - stepc);
        *D(kLrB) += dstep;
        const T sn = R[o_scln_], in = R[o_inpn_];
        const T dzs = next.scl[p] * sn * (T(1) - sn), dzi = next.inp[p] * in * (T(1) - in);
        *D(kSclB) += dzs;
        *D(kInpB) += dzi;
        for (int j = 0; j < H0_; ++j) {
          dh[j] += dstep * P(phi, kLrW)[j] + dzs * P(phi, kSclW)[j] + dzi * P(phi, kInpW)[j];
          D(kLrW)[j] += dstep * h0n[j];
          D(kSclW)[j] += dzs * h0n[j];
          D(kInpW)[j] += dzi * h0n[j];
        }
        S += ddelta[i] * R[o_delta_];
      }
      // delta = raw / sqrt(mean raw^2 + eps): d raw = (d delta - delta <d delta, delta> / m) / rms.
      const T rms = tr[t_rms_];
      for (int64_t i = 0; i < m; ++i) {
        const T* R = &rec_p_[(t * n + o + i) * wp_];
        const T dr = (ddelta[i] - R[o_delta_] * S / static_cast<T>(m)) / rms;
        for (int j = 0; j < H0_; ++j) {
          dh0n[i * H0_ + j] += dr * P(phi, kUpdW)[j];
          D(kUpdW)[j] += dr * R[o_h0n_ + j];
        }
        for (int j = 0; j < kS; ++j) {
          df[i * kF + j] += dr * P(phi, kG2D)[j];
          D(kG2D)[j] += dr * R[o_f_ + j];
        }
      }
      // Level 1: its new state feeds the next step (and level 2 for the last tensor).
      T dh1n[kMaxHidden], dx1[kMaxHidden + kF] = {}, db1[3 * kMaxHidden] = {};
      for (int j = 0; j < H1_; ++j) dh1n[j] = next.h1[k * H1_ + j] + (k == tensors - 1 ? dx2[j] : T(0));
      T* dh1p = &prev.h1[k * H1_];
      gru_backward(X1_, H1_, tr + t_x1_, tr + t_h1p_, P(phi, kG1W), P(phi, kC1W), tr + t_r_, tr + t_u_, tr + t_c_,
                   dh1n, dx1, dh1p, db1, D(kG1W), D(kG1B), D(kC1W), D(kC1B));
      affine_backward(H2_, 3 * H1_, h2p, P(phi, kL1W), db1, prev.h2.data(), D(kL1W), D(kL1B));
      // Level 0, row by row; its input rows got the mean's share of dx1.
      T db0[3 * kMaxHidden] = {};
      for (int64_t i = 0; i < m; ++i) {
        const int64_t p = o + i;
        const T* R = &rec_p_[(t * n + p) * wp_];
        T* dh = &dh0n[i * H0_];
        T* dfi = &df[i * kF];
        for (int j = 0; j < H0_; ++j) dh[j] += dx1[j] / static_cast<T>(m);
        for (int j = 0; j < kF; ++j) dfi[j] += dx1[H0_ + j] / static_cast<T>(m);
        gru_backward(kF, H0_, R + o_f_, R + o_h0p_, P(phi, kG0W), P(phi, kC0W), R + o_r_, R + o_u_, R + o_c_, dh,
                     dfi, &prev.h0[p * H0_], db0, D(kG0W), D(kG0B), D(kC0W), D(kC0B));
        // The features back to the momenta, mean squares, decays and log lr.
        const T* f = R + o_f_;
        T ds[kS];
        for (int j = 0; j < kS; ++j) ds[j] = dfi[j];
        for (int j = 0; j + 1 < kS; ++j) {
          ds[j] += dfi[kS + j] * f[j + 1];
          ds[j + 1] += dfi[kS + j] * f[j];
        }
        const T dmean = (dfi[7] + dfi[8] + dfi[9] + dfi[10]) / T(kS);
        prev.lr[p] += dfi[kF - 1];
        dlr_sum += dfi[kF - 1];
        T d[kS], dd[kS], dse = 0;
        d[0] = R[o_inpp_];
        for (int j = 1; j < kS; ++j) d[j] = std::sqrt(d[j - 1]);
        for (int j = 0; j < kS; ++j) {
          const T a = R[o_acc_ + j], ms = R[o_ms_ + j] + T(1e-16), q = std::sqrt(ms), x = a / q;
          const T dx = ds[j] / std::sqrt(T(1) + x * x);  // asinh'
          T dms = next.ms[p * kS + j] + (dfi[2 * kS - 1 + j] - dmean) / ms - T(0.5) * dx * x / ms;
          T da = next.acc[p * kS + j] + dx / q;
          const bool forced = tr[t_forced_ + j] != T(0);
          const T se = forced ? T(0) : R[o_sclp_];
          da += dms * (T(1) - se) * T(2) * a;
          if (!forced) dse += dms * (R[o_msp_ + j] - a * a - T(1e-12));
          prev.ms[p * kS + j] = dms * se;
          dd[j] = da * (R[o_accp_ + j] - R[o_g_]);
          prev.acc[p * kS + j] = da * d[j];
        }
        for (int j = kS - 1; j > 0; --j)  // d_j = sqrt(d_{j-1}); at d = 0 only the constant initial state
          if (d[j] > T(0)) dd[j - 1] += dd[j] * T(0.5) / d[j];
        prev.inp[p] = dd[0];
        prev.scl[p] = dse;
      }
      affine_backward(H1_, 3 * H0_, tr + t_h1p_, P(phi, kParamW), db0, dh1p, D(kParamW), D(kParamB));
      affine_backward(H2_, 3 * H0_, h2p, P(phi, kGlobW), db0, prev.h2.data(), D(kGlobW), D(kGlobB));
    }
    for (int64_t p = 0; p < n; ++p) prev.lr[p] -= dlr_sum / static_cast<T>(n);  // through the mean log lr
    std::swap(prev, next);
  }
  *D(kLrMom) += dlrm * lrm * (T(1) - lrm);
}

template class L2oScale<float>;
template class L2oScale<double>;

}  // namespace l2o
