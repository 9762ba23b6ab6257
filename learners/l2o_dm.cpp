#include "learners/l2o_dm.h"

#include <cmath>

#include "kernels/rng.h"
#include "kernels/common.h"
#include "kernels/lstm.h"

namespace l2o {

L2oDmFusedShape fused_shape(const L2oDmConfig& cfg, int64_t n, int64_t slots) {
  L2O_CHECK(cfg.hidden.size() == 2, "the fused L2O-DM ops take 2 LSTM layers, got " << cfg.hidden.size());
  L2oDmFusedShape s;
  s.n = n;
  s.slots = slots;
  s.in = static_cast<int>(cfg.input_size());
  s.H0 = static_cast<int>(cfg.hidden[0]);
  s.H1 = static_cast<int>(cfg.hidden[1]);
  s.log_k = cfg.log_k;
  s.forget_bias = cfg.forget_bias;
  s.output_scale = cfg.output_scale;
  return s;
}

namespace {

CoordinatewiseLstmShape dm_structure(const L2oDmConfig& cfg) {
  CoordinatewiseLstmShape s;
  s.in0 = cfg.input_size();
  s.hidden = cfg.hidden;
  s.forget_bias = cfg.forget_bias;
  s.output_scale = cfg.output_scale;
  return s;
}

}  // namespace

template <typename T>
L2oDm<T>::L2oDm(L2oDmConfig cfg) : CoordinatewiseLstm<T>(dm_structure(cfg)), cfg_(std::move(cfg)) {}

template <typename T>
void L2oDm<T>::init_params(uint64_t seed, T* phi) const {
  Rng rng(seed, kStreamLearnerInit);
  int64_t in = cfg_.input_size();
  for (size_t l = 0; l < cfg_.hidden.size(); ++l) {  // Sonnet's default: truncated normal, stddev 1/sqrt(fan_in)
    const double sd = 1.0 / std::sqrt(static_cast<double>(in + cfg_.hidden[l]));
    for (int64_t i = this->layer_w(l); i < this->layer_b(l) + 4 * cfg_.hidden[l]; ++i)
      phi[i] = static_cast<T>(rng.truncated_normal(sd));
    in = cfg_.hidden[l];
  }
  const double sd = 1.0 / std::sqrt(static_cast<double>(cfg_.hidden.back()));
  for (int64_t i = this->out_w(); i < this->out_b(); ++i) phi[i] = static_cast<T>(rng.truncated_normal(sd));
  phi[this->out_b()] = cfg_.output_bias_zero ? T(0) : static_cast<T>(rng.truncated_normal(sd));
}

template <typename T>
void L2oDm<T>::input_forward(const T*, const T* g, int64_t, int64_t r0, int64_t nb, int64_t, bool, T* x) {
  preprocess_cpu(nb, g + r0, static_cast<T>(cfg_.log_k), x);
}

template class L2oDm<float>;
template class L2oDm<double>;

}  // namespace l2o
