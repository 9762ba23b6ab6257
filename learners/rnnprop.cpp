#include "learners/rnnprop.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/rng.h"

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

template <typename T>
Rnnprop<T>::Rnnprop(RnnpropConfig cfg) : cfg_(std::move(cfg)), blocks_(rnnprop_param_blocks(cfg_)) {
  shape_ = rnnprop_shape(cfg_, 1, 1);
  check_rnnprop_shape(shape_);
}

template <typename T>
int64_t Rnnprop<T>::saved_floats_per_coordinate_step() const {
  const RnnpropDims<float> d = shape_.dims<float>();
  return d.saved_rows() + d.P + 4 * (d.H0 + d.H1) + 2;  // + the backward workspace rows
}

template <typename T>
void Rnnprop<T>::reset(int64_t n, int64_t max_steps) {
  shape_.n = n;
  shape_.slots = std::max<int64_t>(max_steps, 1);
  check_rnnprop_shape(shape_);
  state_.assign(shape_.state_size(), T(0));
  c_init_.assign(shape_.state_size(), T(0));
  // Evaluation (max_steps 0) saves nothing: no activations or workspace.
  saved_buf_.assign(max_steps > 0 ? shape_.saved_size() : 0, T(0));
  ws_.assign(max_steps > 0 ? shape_.workspace_size() : 0, T(0));
  zero_state();
}

template <typename T>
void Rnnprop<T>::zero_state() {
  std::fill(state_.begin(), state_.end(), T(0));
  saved_ = 0;
  t_ = 0;
}

template <typename T>
void Rnnprop<T>::begin_segment() {
  saved_ = 0;
  c_init_ = state_;
}

template <typename T>
void Rnnprop<T>::step(const T* phi, const T* g, T* u, bool save) {
  L2O_CHECK(!state_.empty(), "reset() first");
  L2O_CHECK(!save || (!saved_buf_.empty() && saved_ < shape_.slots),
            "segment longer than the max_steps given to reset()");
  rnnprop_fused_step_cpu(shape_, &t_, phi, g, state_.data(), save ? saved_buf_.data() : nullptr, saved_, u,
                         static_cast<T*>(nullptr));
  if (save) ++saved_;
}

template <typename T>
void Rnnprop<T>::backward(const T* phi, const T* dl_du, T* dphi) {
  L2O_CHECK(saved_ > 0, "backward without saved steps");
  rnnprop_fused_backward_cpu(shape_, phi, saved_, saved_buf_.data(), c_init_.data(), dl_du, ws_.data(), dphi);
}

template void rnnprop_init_params<float>(const RnnpropConfig&, uint64_t, float*);
template void rnnprop_init_params<double>(const RnnpropConfig&, uint64_t, double*);
template class Rnnprop<float>;
template class Rnnprop<double>;

}  // namespace l2o
