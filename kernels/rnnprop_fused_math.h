// Per-coordinate math of RNNprop (Lv et al. 2017, as the authors of docs/fidelity.md train it),
// shared by the CPU twin and the CUDA kernel (rnnprop_fused.h). One coordinate's step:
//   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  m^ = m / (1 - b1^t),  v^ = v / (1 - b2^t)
//   x = [m^ / (sqrt(v^) + eps), g / (sqrt(v^) + eps)]            (constants: g is detached)
//   p = ELU(Wp^T x + bp) -> LSTM(H0) -> LSTM(H1) -> o = wo^T h1 + bo -> u = scale * tanh(o)
// The LSTM layers are L2O-DM's (l2o_dm_fused_math.h), so both learners run the same cell code.
#pragma once
#include <cstdint>

#include "kernels/l2o_dm_fused_math.h"

namespace l2o {

// Dimensions and constants. phi follows the authors' variable order: wp (2, P), bp (P),
// w0 (P+H0, 4H0), b0 (4H0), w1 (H0+H1, 4H1), b1 (4H1), wo (H1), bo (1).
//   state (state_rows, n): m, v, h0 (H0), c0 (H0), h1 (H1), c1 (H1).
//   saved (saved_rows, ld), step t in columns [t n, t n + n): x (2), xh0 = [p; h0_prev] (P+H0),
//   xh1 = [h0; h1_prev] (H0+H1), c0 (H0), c1 (H1), h1 (H1).
template <typename T>
struct RnnpropDims {
  int P = 20, H0 = 20, H1 = 20;
  T beta1 = T(0.95), beta2 = T(0.95), eps = T(1e-8), forget_bias = T(1), scale = T(0.01);
  int64_t n = 0, ld = 0;

  L2O_HD int k0() const { return P + H0; }
  L2O_HD int k1() const { return H0 + H1; }
  L2O_HD int64_t wp() const { return 0; }
  L2O_HD int64_t bp() const { return 2 * P; }
  L2O_HD int64_t w0() const { return 3 * P; }
  L2O_HD int64_t b0() const { return w0() + static_cast<int64_t>(k0()) * 4 * H0; }
  L2O_HD int64_t w1() const { return b0() + 4 * H0; }
  L2O_HD int64_t b1() const { return w1() + static_cast<int64_t>(k1()) * 4 * H1; }
  L2O_HD int64_t wo() const { return b1() + 4 * H1; }
  L2O_HD int64_t bo() const { return wo() + H1; }
  L2O_HD int64_t num_params() const { return bo() + 1; }
  L2O_HD int row_h0() const { return 2; }
  L2O_HD int row_c0() const { return 2 + H0; }
  L2O_HD int row_h1() const { return 2 + 2 * H0; }
  L2O_HD int row_c1() const { return 2 + 2 * H0 + H1; }
  L2O_HD int state_rows() const { return 2 + 2 * (H0 + H1); }
  L2O_HD int srow_xh0() const { return 2; }
  L2O_HD int srow_xh1() const { return 2 + k0(); }
  L2O_HD int srow_c0() const { return srow_xh1() + k1(); }
  L2O_HD int srow_c1() const { return srow_c0() + H0; }
  L2O_HD int srow_h1() const { return srow_c1() + H1; }
  L2O_HD int saved_rows() const { return srow_h1() + H1; }
};

// The bias corrections 1 / (1 - b^t) of step t (t from 1), in double on both backends.
template <typename T>
L2O_HD T rnnprop_bias_correction(T beta, int64_t t) {
  return static_cast<T>(1.0 / (1.0 - pow(static_cast<double>(beta), static_cast<double>(t))));
}

// The output pre-activation o = wo^T h1 + bo.
template <typename T>
L2O_HD T rnnprop_output_preact(const RnnpropDims<T>& d, const T* phi, const T* h1, int64_t stride) {
  T o = phi[d.bo()];
  for (int k = 0; k < d.H1; ++k) o += h1[k * stride] * phi[d.wo() + k];
  return o;
}

// Step t (t >= 1 since the moments were reset) of one coordinate; state and saved point at its
// column (feature r at state[r n], saved[r ld]); saved may be null. Returns u.
template <typename T>
L2O_HD T rnnprop_coord_step(const RnnpropDims<T>& d, int64_t t, const T* phi, T g, T* state, T* saved) {
  T xh0[2 * kFusedMaxHidden], xh1[2 * kFusedMaxHidden], c0[kFusedMaxHidden], c1[kFusedMaxHidden],
      cp[kFusedMaxHidden], h1[kFusedMaxHidden];
  const int P = d.P, H0 = d.H0, H1 = d.H1;
  const int64_t n = d.n;
  const T m = d.beta1 * state[0] + (T(1) - d.beta1) * g;
  const T v = d.beta2 * state[n] + (T(1) - d.beta2) * g * g;
  const T denom = sqrt(v * rnnprop_bias_correction(d.beta2, t)) + d.eps;
  const T x0 = m * rnnprop_bias_correction(d.beta1, t) / denom, x1 = g / denom;
  for (int k = 0; k < P; ++k) xh0[k] = elu_act(phi[d.bp() + k] + x0 * phi[d.wp() + k] + x1 * phi[d.wp() + P + k]);
  for (int u = 0; u < H0; ++u) {
    xh0[P + u] = state[(d.row_h0() + u) * n];
    cp[u] = state[(d.row_c0() + u) * n];
  }
  fused_layer_forward(P, H0, xh0, phi + d.w0(), phi + d.b0(), d.forget_bias, cp, c0, xh1);
  for (int u = 0; u < H1; ++u) {
    xh1[H0 + u] = state[(d.row_h1() + u) * n];
    cp[u] = state[(d.row_c1() + u) * n];
  }
  fused_layer_forward(H0, H1, xh1, phi + d.w1(), phi + d.b1(), d.forget_bias, cp, c1, h1);
  const T out = d.scale * tanh_act(rnnprop_output_preact(d, phi, h1, 1));
  if (saved) {
    const int64_t ld = d.ld;
    saved[0] = x0;
    saved[ld] = x1;
    for (int k = 0; k < d.k0(); ++k) saved[(d.srow_xh0() + k) * ld] = xh0[k];
    for (int k = 0; k < d.k1(); ++k) saved[(d.srow_xh1() + k) * ld] = xh1[k];
    for (int u = 0; u < H0; ++u) saved[(d.srow_c0() + u) * ld] = c0[u];
    for (int u = 0; u < H1; ++u) {
      saved[(d.srow_c1() + u) * ld] = c1[u];
      saved[(d.srow_h1() + u) * ld] = h1[u];
    }
  }
  state[0] = m;
  state[n] = v;
  for (int u = 0; u < H0; ++u) {
    state[(d.row_h0() + u) * n] = xh1[u];
    state[(d.row_c0() + u) * n] = c0[u];
  }
  for (int u = 0; u < H1; ++u) {
    state[(d.row_h1() + u) * n] = h1[u];
    state[(d.row_c1() + u) * n] = c1[u];
  }
  return out;
}

// Truncated BPTT of one coordinate through `steps` saved steps: saved, c_init (the state at the
// segment start), dl_du ((steps, n)) and the dz rows (stride ld) point at its column. Writes the
// pre-activation gradients of every step: dzp (P rows), dz0 (4H0), dz1 (4H1) and dout (1 row,
// the gradient on o); the weight gradients are then reductions over coordinates x steps.
template <typename T>
L2O_HD void rnnprop_coord_bptt(const RnnpropDims<T>& d, const T* phi, int64_t steps, const T* saved,
                               const T* c_init, const T* dl_du, T* dzp, T* dz0, T* dz1, T* dout) {
  T dh0c[kFusedMaxHidden], dc0[kFusedMaxHidden], dh1c[kFusedMaxHidden], dc1[kFusedMaxHidden];
  T xh[2 * kFusedMaxHidden], cp[kFusedMaxHidden], c[kFusedMaxHidden], dh[kFusedMaxHidden],
      dxh[2 * kFusedMaxHidden];
  const int P = d.P, H0 = d.H0, H1 = d.H1;
  const int64_t n = d.n, ld = d.ld;
  for (int u = 0; u < kFusedMaxHidden; ++u) dh0c[u] = dc0[u] = dh1c[u] = dc1[u] = T(0);
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t col = t * n;
    const T th = tanh_act(rnnprop_output_preact(d, phi, saved + d.srow_h1() * ld + col, ld));
    const T d_o = dl_du[col] * d.scale * (T(1) - th * th);
    dout[col] = d_o;
    for (int k = 0; k < d.k1(); ++k) xh[k] = saved[(d.srow_xh1() + k) * ld + col];
    for (int u = 0; u < H1; ++u) {
      c[u] = saved[(d.srow_c1() + u) * ld + col];
      cp[u] = t > 0 ? saved[(d.srow_c1() + u) * ld + col - n] : c_init[(d.row_c1() + u) * n];
      dh[u] = phi[d.wo() + u] * d_o + dh1c[u];
    }
    fused_layer_backward(H0, H1, xh, phi + d.w1(), phi + d.b1(), d.forget_bias, cp, c, dh, dc1, dxh, dz1 + col, ld);
    for (int u = 0; u < H1; ++u) dh1c[u] = dxh[H0 + u];
    for (int u = 0; u < H0; ++u) dh[u] = dxh[u] + dh0c[u];
    for (int k = 0; k < d.k0(); ++k) xh[k] = saved[(d.srow_xh0() + k) * ld + col];
    for (int u = 0; u < H0; ++u) {
      c[u] = saved[(d.srow_c0() + u) * ld + col];
      cp[u] = t > 0 ? saved[(d.srow_c0() + u) * ld + col - n] : c_init[(d.row_c0() + u) * n];
    }
    fused_layer_backward(P, H0, xh, phi + d.w0(), phi + d.b0(), d.forget_bias, cp, c, dh, dc0, dxh, dz0 + col, ld);
    for (int u = 0; u < H0; ++u) dh0c[u] = dxh[P + u];
    // The projection: dxh rows [0, P) are the gradient on p = ELU(z); x itself is a constant.
    for (int k = 0; k < P; ++k) dzp[k * ld + col] = dxh[k] * elu_grad_from_output(xh[k]);
  }
}

}  // namespace l2o
