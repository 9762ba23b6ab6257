#include "learners/coordinatewise_lstm.h"

#include <algorithm>
#include <cstring>

#include "kernels/activation_math.h"
#include "kernels/common.h"
#include "kernels/lstm.h"

namespace l2o {

template <typename T>
CoordinatewiseLstm<T>::CoordinatewiseLstm(CoordinatewiseLstmShape shape)
    : shape_(std::move(shape)), blocks_(shape_.input_blocks) {
  L2O_CHECK(!shape_.hidden.empty(), "a coordinatewise LSTM needs at least one LSTM layer");
  for (const auto& b : blocks_) num_params_ = std::max(num_params_, b.offset + b.size());
  int64_t in = shape_.in0;
  for (size_t l = 0; l < shape_.hidden.size(); ++l) {
    Layer L;
    L.in = in;
    L.H = shape_.hidden[l];
    L.w_off = num_params_;
    num_params_ += (L.in + L.H) * 4 * L.H;
    L.b_off = num_params_;
    num_params_ += 4 * L.H;
    const std::string p = "lstm_" + std::to_string(l);
    blocks_.push_back({p + "/w", {L.in + L.H, 4 * L.H}, L.w_off});
    blocks_.push_back({p + "/b", {4 * L.H}, L.b_off});
    layers_.push_back(std::move(L));
    in = shape_.hidden[l];
  }
  out_w_off_ = num_params_;
  num_params_ += in;
  out_b_off_ = num_params_;
  num_params_ += 1;
  blocks_.push_back({"linear/w", {in, 1}, out_w_off_});
  blocks_.push_back({"linear/b", {1}, out_b_off_});
}

template <typename T>
int64_t CoordinatewiseLstm<T>::saved_floats_per_coordinate_step() const {
  int64_t floats = 0;
  for (const auto& L : layers_) floats += width(L) + 4 * L.H + L.H;  // [x, h_prev], gates, c
  return floats + layers_.back().H + (shape_.tanh_output ? 1 : 0) + input_saved_floats();
}

template <typename T>
void CoordinatewiseLstm<T>::reset(int64_t n, int64_t max_steps) {
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
  if (shape_.tanh_output) tanh_out_.resize(slots_ * n);
  const int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  int64_t hmax = 0;
  for (const auto& L : layers_) hmax = std::max(hmax, L.H);
  ws_.resize(blocks);
  for (auto& w : ws_) {
    w.z.resize(kBlockRows * 4 * hmax);
    w.dz.resize(kBlockRows * 4 * hmax);
    w.dh.resize(kBlockRows * hmax);
    w.dh_above.resize(kBlockRows * hmax);
    w.du.resize(kBlockRows);
    w.dxh.resize(layers_.size());
    for (size_t l = 0; l < layers_.size(); ++l) w.dxh[l].resize(kBlockRows * width(layers_[l]));
    w.dc_carry.assign(layers_.size(), std::vector<T>(kBlockRows * hmax));
    w.dphi.resize(num_params_);
  }
  input_reset(n, slots_, blocks);
  input_zero_state();
}

template <typename T>
void CoordinatewiseLstm<T>::zero_state() {
  for (auto& L : layers_) {
    std::fill(L.h.begin(), L.h.end(), T(0));
    std::fill(L.c.begin(), L.c.end(), T(0));
  }
  saved_ = 0;
  input_zero_state();
}

template <typename T>
void CoordinatewiseLstm<T>::begin_segment() {
  saved_ = 0;
  for (auto& L : layers_) L.c_init = L.c;
}

template <typename T>
void CoordinatewiseLstm<T>::step(const T* phi, const T* g, T* u, bool save) {
  L2O_CHECK(n_ > 0, "reset() first");
  L2O_CHECK(!save || saved_ < slots_, "segment longer than the max_steps given to reset()");
  const int64_t slot = save ? saved_ : 0;
  const int64_t blocks = static_cast<int64_t>(ws_.size());
  const T fb = static_cast<T>(shape_.forget_bias), scale = static_cast<T>(shape_.output_scale);
  const int64_t top = layers_.back().H;
  const size_t L_count = layers_.size();
  input_step();
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
      // Rows [0, in) of xh: the input stage's features (layer 0) or already the layer below's new h.
      if (l == 0) input_forward(phi, g, blk, r0, nb, slot, save, xh);
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
    const T* h_top = &hout_[(slot * n_ + r0) * top];
    if (!shape_.tanh_output) {
      linear_out_forward_cpu(nb, top, h_top, phi + out_w_off_, phi + out_b_off_, scale, u + r0);
    } else {  // u = scale * tanh(o), tanh(o) kept for the backward
      linear_out_forward_cpu(nb, top, h_top, phi + out_w_off_, phi + out_b_off_, T(1), u + r0);
      T* th = &tanh_out_[slot * n_ + r0];
      for (int64_t i = 0; i < nb; ++i) {
        th[i] = tanh_act(u[r0 + i]);
        u[r0 + i] = scale * th[i];
      }
    }
  }
  if (save) ++saved_;
}

template <typename T>
void CoordinatewiseLstm<T>::backward(const T* phi, const T* dl_du, T* dphi) {
  const int64_t blocks = static_cast<int64_t>(ws_.size());
  const int64_t top = layers_.back().H;
  const T scale = static_cast<T>(shape_.output_scale);
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
      const T* du = dl_du + t * n_ + r0;
      if (shape_.tanh_output) {  // d(scale tanh(o))/do = scale (1 - tanh^2); linear_out applies the scale
        const T* th = &tanh_out_[t * n_ + r0];
        for (int64_t i = 0; i < nb; ++i) w.du[i] = du[i] * (T(1) - th[i] * th[i]);
        du = w.du.data();
      }
      linear_out_backward_cpu(nb, top, &hout_[(t * n_ + r0) * top], phi + out_w_off_, scale, du, w.dh_above.data(),
                              &w.dphi[out_w_off_], &w.dphi[out_b_off_]);
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
      const Layer& L0 = layers_[0];
      input_backward(phi, blk, r0, nb, t, &L0.xh[(t * n_ + r0) * width(L0)], w.dxh[0].data(), w.dphi.data());
    }
  }
  // Fixed-order sum of the block partials: deterministic for any thread count.
  std::fill(dphi, dphi + num_params_, T(0));
  for (const auto& w : ws_)
    for (int64_t i = 0; i < num_params_; ++i) dphi[i] += w.dphi[i];
}

template class CoordinatewiseLstm<float>;
template class CoordinatewiseLstm<double>;

}  // namespace l2o
