#include "learners/rnnprop.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/rng.h"
#include "kernels/rnnprop_fused.h"

namespace l2o {

RnnpropFusedShape rnnprop_shape(const RnnpropConfig& cfg, int64_t n, int64_t slots) {
  L2O_CHECK(cfg.hidden.size() == 2, "RNNprop takes 2 LSTM layers, got " << cfg.hidden.size());
  RnnpropFusedShape s;
  s.n = n;
  s.slots = slots;
  s.P = static_cast<int>(cfg.projection);
  s.H0 = static_cast<int>(cfg.hidden[0]);
  s.H1 = static_cast<int>(cfg.hidden[1]);
  s.beta1 = cfg.beta1;
  s.beta2 = cfg.beta2;
  s.eps = cfg.eps;
  s.forget_bias = cfg.forget_bias;
  s.output_scale = cfg.output_scale;
  return s;
}

std::vector<ParamBlock> rnnprop_param_blocks(const RnnpropConfig& cfg) {
  const RnnpropDims<float> d = rnnprop_shape(cfg, 1, 1).dims<float>();
  return {{"input_projection/w", {2, d.P}, d.wp()},
          {"input_projection/b", {d.P}, d.bp()},
          {"lstm_0/w", {d.k0(), 4 * d.H0}, d.w0()},
          {"lstm_0/b", {4 * d.H0}, d.b0()},
          {"lstm_1/w", {d.k1(), 4 * d.H1}, d.w1()},
          {"lstm_1/b", {4 * d.H1}, d.b1()},
          {"linear/w", {d.H1, 1}, d.wo()},
          {"linear/b", {1}, d.bo()}};
}

template <typename T>
void rnnprop_init_params(const RnnpropConfig& cfg, uint64_t seed, T* phi) {
  const RnnpropDims<float> d = rnnprop_shape(cfg, 1, 1).dims<float>();
  Rng rng(seed, kStreamLearnerInit);
  auto normal = [&](int64_t begin, int64_t end, double fan_in) {
    const double sd = 1.0 / std::sqrt(fan_in);
    for (int64_t i = begin; i < end; ++i) phi[i] = static_cast<T>(rng.truncated_normal(sd));
  };
  // Sonnet 1.11: Linear w ~ TN(1/sqrt(in)), b = 0; LSTM w_gates and b_gates ~ TN(1/sqrt(in + H)).
  normal(d.wp(), d.bp(), 2);
  std::fill(phi + d.bp(), phi + d.w0(), T(0));
  normal(d.w0(), d.w1(), d.k0());
  normal(d.w1(), d.wo(), d.k1());
  normal(d.wo(), d.bo(), d.H1);
  phi[d.bo()] = T(0);
}

namespace {

CoordinatewiseLstmShape rnnprop_structure(const RnnpropConfig& cfg) {
  check_rnnprop_shape(rnnprop_shape(cfg, 1, 1));
  CoordinatewiseLstmShape s;
  const auto blocks = rnnprop_param_blocks(cfg);
  s.in0 = cfg.projection;
  s.input_blocks = {blocks[0], blocks[1]};  // input_projection/w, /b
  s.hidden = cfg.hidden;
  s.forget_bias = cfg.forget_bias;
  s.output_scale = cfg.output_scale;
  s.tanh_output = true;
  return s;
}

}  // namespace

template <typename T>
Rnnprop<T>::Rnnprop(RnnpropConfig cfg)
    : CoordinatewiseLstm<T>(rnnprop_structure(cfg)), cfg_(std::move(cfg)), d_(rnnprop_shape(cfg_, 1, 1).dims<T>()) {
  L2O_CHECK(this->layer_w(0) == d_.w0() && this->out_b() == d_.bo(), "RNNprop's layout differs from its fused ops'");
}

template <typename T>
void Rnnprop<T>::input_reset(int64_t n, int64_t slots, int64_t blocks) {
  m_.assign(n, T(0));
  v_.assign(n, T(0));
  feats_.resize(slots * n * 2);
  scratch_.assign(blocks, std::vector<T>(2 * CoordinatewiseLstm<T>::kBlockRows));
}

template <typename T>
void Rnnprop<T>::input_zero_state() {
  std::fill(m_.begin(), m_.end(), T(0));
  std::fill(v_.begin(), v_.end(), T(0));
  t_ = 0;
}

template <typename T>
void Rnnprop<T>::input_step() {
  ++t_;
  bc1_ = rnnprop_bias_correction(d_.beta1, t_);
  bc2_ = rnnprop_bias_correction(d_.beta2, t_);
}

template <typename T>
void Rnnprop<T>::input_forward(const T* phi, const T* g, int64_t blk, int64_t r0, int64_t nb, int64_t slot,
                               bool save, T* x) {
  // The same arithmetic as rnnprop_coord_step (kernels/rnnprop_fused_math.h), over a block.
  T* f = save ? &feats_[(slot * this->coordinates() + r0) * 2] : scratch_[blk].data();
  const T b1 = d_.beta1, b2 = d_.beta2;
  for (int64_t i = 0; i < nb; ++i) {
    const T gi = g[r0 + i];
    const T m = b1 * m_[r0 + i] + (T(1) - b1) * gi;
    const T v = b2 * v_[r0 + i] + (T(1) - b2) * gi * gi;
    m_[r0 + i] = m;
    v_[r0 + i] = v;
    const T denom = std::sqrt(v * bc2_) + d_.eps;
    f[i] = m * bc1_ / denom;
    f[nb + i] = gi / denom;
  }
  const T* wp = phi + d_.wp();
  const T* bp = phi + d_.bp();
  for (int k = 0; k < d_.P; ++k)
    for (int64_t i = 0; i < nb; ++i) x[k * nb + i] = elu_act(bp[k] + f[i] * wp[k] + f[nb + i] * wp[d_.P + k]);
}

template <typename T>
void Rnnprop<T>::input_backward(const T*, int64_t, int64_t r0, int64_t nb, int64_t t, const T* x, const T* dx,
                                T* dphi_block) {
  // dz = dp * ELU'(z); dWp += x dz^T, dbp += sum dz (the layer-0 input x rows [0, P) hold p).
  const T* f = &feats_[(t * this->coordinates() + r0) * 2];
  T* dwp = dphi_block + d_.wp();
  T* dbp = dphi_block + d_.bp();
  for (int k = 0; k < d_.P; ++k) {
    T s0 = 0, s1 = 0, sb = 0;
    for (int64_t i = 0; i < nb; ++i) {
      const T dz = dx[k * nb + i] * elu_grad_from_output(x[k * nb + i]);
      s0 += f[i] * dz;
      s1 += f[nb + i] * dz;
      sb += dz;
    }
    dwp[k] += s0;
    dwp[d_.P + k] += s1;
    dbp[k] += sb;
  }
}

template void rnnprop_init_params<float>(const RnnpropConfig&, uint64_t, float*);
template void rnnprop_init_params<double>(const RnnpropConfig&, uint64_t, double*);
template class Rnnprop<float>;
template class Rnnprop<double>;

}  // namespace l2o
