#include "learners/l2o_dm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/rng.h"
#include "kernels/common.h"
#include "kernels/lstm.h"

namespace l2o {

int64_t saved_floats_per_coordinate_step(const L2oDmConfig& cfg) {
  int64_t in = cfg.input_size(), floats = 0;
  for (int64_t h : cfg.hidden) {
    floats += (in + h) + 4 * h + h;  // [x, h_prev], gates, c
    in = h;
  }
  return floats + in;  // the top layer's h
}

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

template <typename T>
L2oDm<T>::L2oDm(L2oDmConfig cfg) : cfg_(std::move(cfg)) {
  L2O_CHECK(!cfg_.hidden.empty(), "L2O-DM needs at least one LSTM layer");
  int64_t in = cfg_.input_size();
  for (size_t l = 0; l < cfg_.hidden.size(); ++l) {
    Layer L;
    L.in = in;
    L.H = cfg_.hidden[l];
    L.w_off = num_params_;
    num_params_ += (L.in + L.H) * 4 * L.H;
    L.b_off = num_params_;
    num_params_ += 4 * L.H;
    const std::string p = "lstm_" + std::to_string(l);
    blocks_.push_back({p + "/w", {L.in + L.H, 4 * L.H}, L.w_off});
    blocks_.push_back({p + "/b", {4 * L.H}, L.b_off});
    layers_.push_back(std::move(L));
    in = cfg_.hidden[l];
  }
  out_w_off_ = num_params_;
  num_params_ += in;
  out_b_off_ = num_params_;
  num_params_ += 1;
  blocks_.push_back({"linear/w", {in, 1}, out_w_off_});
  blocks_.push_back({"linear/b", {1}, out_b_off_});
}

template <typename T>
void L2oDm<T>::init_params(uint64_t seed, T* phi) const {
  Rng rng(seed, kStreamLearnerInit);
  for (const auto& L : layers_) {  // Sonnet's default: truncated normal, stddev 1/sqrt(fan_in)
    const double sd = 1.0 / std::sqrt(static_cast<double>(L.in + L.H));
    for (int64_t i = L.w_off; i < L.b_off + 4 * L.H; ++i) phi[i] = static_cast<T>(rng.truncated_normal(sd));
  }
  const double sd = 1.0 / std::sqrt(static_cast<double>(layers_.back().H));
  for (int64_t i = out_w_off_; i < out_b_off_; ++i) phi[i] = static_cast<T>(rng.truncated_normal(sd));
  phi[out_b_off_] = cfg_.output_bias_zero ? T(0) : static_cast<T>(rng.truncated_normal(sd));
}

template <typename T>
void L2oDm<T>::reset(int64_t n, int64_t max_steps) {
  n_ = n;
  slots_ = std::max<int64_t>(max_steps, 1);
  saved_ = 0;
  for (auto& L : layers_) {
    L.h.assign(n * L.H, T(0));
    L.c.assign(n * L.H, T(0));
    L.c_init.assign(n * L.H, T(0));
    L.xh.resize(slots_ * n * width(L));
    L.gates.resize(slots_ * n * 4 * L.H);
    L.cs.resize(slots_ * n * L.H);
  }
  const int64_t top = layers_.back().H;
  hout_.resize(slots_ * n * top);
  const int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  int64_t hmax = 0;
  for (const auto& L : layers_) hmax = std::max(hmax, L.H);
  ws_.resize(blocks);
  for (auto& w : ws_) {
    w.z.resize(kBlockRows * 4 * hmax);
    w.dz.resize(kBlockRows * 4 * hmax);
    w.dh.resize(kBlockRows * hmax);
    w.dh_above.resize(kBlockRows * hmax);
    w.dxh.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) w.dxh[l].resize(kBlockRows * width(layers_[l]));
    w.dc_carry.assign(layers_.size(), std::vector<T>(kBlockRows * hmax));
    w.dphi.resize(num_params_);
  }
}

template <typename T>
void L2oDm<T>::zero_state() {
  for (auto& L : layers_) {
    std::fill(L.h.begin(), L.h.end(), T(0));
    std::fill(L.c.begin(), L.c.end(), T(0));
  }
  saved_ = 0;
}

template <typename T>
void L2oDm<T>::begin_segment() {
  saved_ = 0;
  for (auto& L : layers_) L.c_init = L.c;
}

template <typename T>
void L2oDm<T>::step(const T* phi, const T* g, T* u, bool save) {
  L2O_CHECK(n_ > 0, "reset() first");
  L2O_CHECK(!save || saved_ < slots_, "segment longer than the max_steps given to reset()");
  const int64_t slot = save ? saved_ : 0;
  const int64_t blocks = static_cast<int64_t>(ws_.size());
  const T log_k = static_cast<T>(cfg_.log_k), fb = static_cast<T>(cfg_.forget_bias);
  const int64_t top = layers_.back().H;
  const size_t L_count = layers_.size();
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    // Block blk covers coordinates [r0, r0 + nb); each array's block region starts at
    // (slot * n + r0) * features and is feature-major (features, nb).
    const int64_t r0 = blk * kBlockRows, nb = std::min(kBlockRows, n_ - r0);
    Workspace& w = ws_[blk];
    for (size_t l = 0; l < L_count; ++l) {
      Layer& L = layers_[l];
      const int64_t K = width(L);
      T* xh = &L.xh[(slot * n_ + r0) * K];
      // Rows [0, in) of xh: the preprocessed gradient (layer 0) or already the layer below's new h.
      if (l == 0) preprocess_cpu(nb, g + r0, log_k, xh);
      std::memcpy(xh + L.in * nb, &L.h[r0 * L.H], L.H * nb * sizeof(T));
      // The new h goes straight into the next layer's input rows (or the saved top output).
      T* h_out = l + 1 < L_count ? &layers_[l + 1].xh[(slot * n_ + r0) * width(layers_[l + 1])]
                                 : &hout_[(slot * n_ + r0) * top];
      T* cs = &L.cs[(slot * n_ + r0) * L.H];
      lstm_layer_forward_cpu(nb, L.in, L.H, xh, phi + L.w_off, phi + L.b_off, fb, &L.c[r0 * L.H], w.z.data(),
                             &L.gates[(slot * n_ + r0) * 4 * L.H], cs, h_out);
      std::memcpy(&L.c[r0 * L.H], cs, L.H * nb * sizeof(T));
      std::memcpy(&L.h[r0 * L.H], h_out, L.H * nb * sizeof(T));
    }
    linear_out_forward_cpu(nb, top, &hout_[(slot * n_ + r0) * top], phi + out_w_off_, phi + out_b_off_,
                           static_cast<T>(cfg_.output_scale), u + r0);
  }
  if (save) ++saved_;
}

template <typename T>
void L2oDm<T>::backward(const T* phi, const T* dl_du, T* dphi) {
  const int64_t blocks = static_cast<int64_t>(ws_.size());
  const int64_t top = layers_.back().H;
  const T scale = static_cast<T>(cfg_.output_scale);
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = blk * kBlockRows, nb = std::min(kBlockRows, n_ - r0);
    Workspace& w = ws_[blk];
    std::fill(w.dphi.begin(), w.dphi.end(), T(0));
    for (size_t l = 0; l < layers_.size(); ++l) {
      std::fill(w.dxh[l].begin(), w.dxh[l].end(), T(0));  // no gradient from beyond the segment
      std::fill(w.dc_carry[l].begin(), w.dc_carry[l].end(), T(0));
    }
    for (int64_t t = saved_ - 1; t >= 0; --t) {
      linear_out_backward_cpu(nb, top, &hout_[(t * n_ + r0) * top], phi + out_w_off_, scale, dl_du + t * n_ + r0,
                              w.dh_above.data(), &w.dphi[out_w_off_], &w.dphi[out_b_off_]);
      for (int64_t l = static_cast<int64_t>(layers_.size()) - 1; l >= 0; --l) {
        Layer& L = layers_[l];
        const int64_t K = width(L), hn = L.H * nb;
        // dh = the layer above's dx rows at this step (the output projection's for the top layer)
        // + this layer's dh_prev rows from step t + 1: both read in place from the dxh buffers.
        const T* above = l + 1 < static_cast<int64_t>(layers_.size()) ? w.dxh[l + 1].data() : w.dh_above.data();
        const T* carry = w.dxh[l].data() + L.in * nb;
        for (int64_t i = 0; i < hn; ++i) w.dh[i] = above[i] + carry[i];
        const T* c_prev = t == 0 ? &L.c_init[r0 * L.H] : &L.cs[((t - 1) * n_ + r0) * L.H];
        lstm_layer_backward_cpu(nb, L.in, L.H, &L.xh[(t * n_ + r0) * K], phi + L.w_off,
                                &L.gates[(t * n_ + r0) * 4 * L.H], c_prev, &L.cs[(t * n_ + r0) * L.H], w.dh.data(),
                                w.dc_carry[l].data(), w.dz.data(), w.dxh[l].data(), &w.dphi[L.w_off],
                                &w.dphi[L.b_off]);
      }
    }
  }
  // Fixed-order sum of the block partials: deterministic for any thread count.
  std::fill(dphi, dphi + num_params_, T(0));
  for (const auto& w : ws_)
    for (int64_t i = 0; i < num_params_; ++i) dphi[i] += w.dphi[i];
}

template class L2oDm<float>;
template class L2oDm<double>;

}  // namespace l2o
