// Per-coordinate math of the fused two-layer L2O-DM ops (l2o_dm_fused.h), shared by the CPU
// twins and the CUDA kernels: one coordinate's optimizer step, and its backward through a whole
// saved segment. A CUDA thread runs exactly this code for its coordinate; the CPU twin loops it.
#pragma once
#include <cstdint>

#include "kernels/lstm_math.h"

namespace l2o {

constexpr int kFusedMaxHidden = 32;  // per-coordinate arrays live in registers/local memory
constexpr int kFusedMaxIn = 2;       // LogAndSign's two features (or the raw gradient)

// Dimensions and constants of a two-layer L2O-DM. phi follows L2oDm's layout: w0 (in+H0, 4H0),
// b0 (4H0), w1 (H0+H1, 4H1), b1 (4H1), wo (H1), bo (1).
//   state (state_rows, n): h0 (H0), c0 (H0), h1 (H1), c1 (H1), one row per feature.
//   saved (saved_rows, ld), step t in columns [t n, t n + n): xh0 = [x; h0_prev] (in+H0),
//   xh1 = [h0; h1_prev] (H0+H1), c0 (H0), c1 (H1), h1 (H1). Gates are recomputed in backward
//   (cheaper than storing 8H floats per coordinate-step), and xh is kept whole per layer so the
//   weight gradient of a layer is one GEMM over all coordinates x steps.
template <typename T>
struct FusedDims {
  int in = 2, H0 = 20, H1 = 20;
  T log_k = T(5), forget_bias = T(1), scale = T(0.01);
  int64_t n = 0;   // coordinates
  int64_t ld = 0;  // row stride of the saved and workspace arrays (slots * n)

  L2O_HD int k0() const { return in + H0; }
  L2O_HD int k1() const { return H0 + H1; }
  L2O_HD int64_t w0() const { return 0; }
  L2O_HD int64_t b0() const { return static_cast<int64_t>(k0()) * 4 * H0; }
  L2O_HD int64_t w1() const { return b0() + 4 * H0; }
  L2O_HD int64_t b1() const { return w1() + static_cast<int64_t>(k1()) * 4 * H1; }
  L2O_HD int64_t wo() const { return b1() + 4 * H1; }
  L2O_HD int64_t bo() const { return wo() + H1; }
  L2O_HD int64_t num_params() const { return bo() + 1; }
  L2O_HD int state_rows() const { return 2 * (H0 + H1); }
  L2O_HD int row_xh1() const { return k0(); }
  L2O_HD int row_c0() const { return k0() + k1(); }
  L2O_HD int row_c1() const { return row_c0() + H0; }
  L2O_HD int row_h1() const { return row_c1() + H1; }
  L2O_HD int saved_rows() const { return row_h1() + H1; }
};

// Unit u's four gate pre-activations z = b + w^T xh (columns u, H+u, 2H+u, 3H+u of w (K, 4H)).
template <typename T>
L2O_HD void fused_gate_preact(int K, int H, int u, const T* xh, const T* w, const T* b, T z[4]) {
  const int G = 4 * H;
  z[0] = b[u];
  z[1] = b[H + u];
  z[2] = b[2 * H + u];
  z[3] = b[3 * H + u];
  for (int k = 0; k < K; ++k) {
    const T x = xh[k];
    const T* wk = w + static_cast<int64_t>(k) * G;
    z[0] += x * wk[u];
    z[1] += x * wk[H + u];
    z[2] += x * wk[2 * H + u];
    z[3] += x * wk[3 * H + u];
  }
}

// One LSTM layer step of one coordinate: xh (in+H) in local memory, w (in+H, 4H) row-major.
template <typename T>
L2O_HD void fused_layer_forward(int in, int H, const T* xh, const T* w, const T* b, T fb, const T* c_prev, T* c,
                                T* h) {
  for (int u = 0; u < H; ++u) {
    T z[4], gi, gj, gf, go;
    fused_gate_preact(in + H, H, u, xh, w, b, z);
    lstm_cell_forward_elem(z[0], z[1], z[2], z[3], c_prev[u], fb, &gi, &gj, &gf, &go, &c[u], &h[u]);
  }
}

// Backward of fused_layer_forward given the step's saved xh, c_prev and c: recomputes the gates,
// writes dz (4H values, `dz_stride` apart) and dxh = w dz (in+H); dc: in, the gradient on c from
// the next step; out, the gradient on c_prev.
template <typename T>
L2O_HD void fused_layer_backward(int in, int H, const T* xh, const T* w, const T* b, T fb, const T* c_prev,
                                 const T* c, const T* dh, T* dc, T* dxh, T* dz, int64_t dz_stride) {
  const int K = in + H, G = 4 * H;
  for (int k = 0; k < K; ++k) dxh[k] = T(0);
  for (int u = 0; u < H; ++u) {
    T z[4], gi, gj, gf, go, c_re, h_re;
    fused_gate_preact(K, H, u, xh, w, b, z);
    lstm_cell_forward_elem(z[0], z[1], z[2], z[3], c_prev[u], fb, &gi, &gj, &gf, &go, &c_re, &h_re);
    T dzi, dzj, dzf, dzo, dcu = dc[u];
    lstm_cell_backward_elem(gi, gj, gf, go, c_prev[u], c[u], dh[u], &dcu, &dzi, &dzj, &dzf, &dzo);
    dc[u] = dcu;
    dz[u * dz_stride] = dzi;
    dz[(H + u) * dz_stride] = dzj;
    dz[(2 * H + u) * dz_stride] = dzf;
    dz[(3 * H + u) * dz_stride] = dzo;
    for (int k = 0; k < K; ++k) {
      const T* wk = w + static_cast<int64_t>(k) * G;
      dxh[k] += wk[u] * dzi + wk[H + u] * dzj + wk[2 * H + u] * dzf + wk[3 * H + u] * dzo;
    }
  }
}

// One optimizer step of coordinate i: state and saved point at the coordinate's column (feature
// r at state[r * n], saved[r * ld]); saved may be null (no backward will follow). Returns u.
template <typename T>
L2O_HD T fused_coord_step(const FusedDims<T>& d, const T* phi, T g, T* state, T* saved) {
  T xh0[kFusedMaxIn + kFusedMaxHidden], xh1[2 * kFusedMaxHidden], c0[kFusedMaxHidden], c1[kFusedMaxHidden],
      cp[kFusedMaxHidden], h1[kFusedMaxHidden];
  const int in = d.in, H0 = d.H0, H1 = d.H1;
  const int64_t n = d.n;
  if (d.log_k > T(0)) {
    log_and_sign(g, d.log_k, xh0);
  } else {
    xh0[0] = g;
  }
  for (int u = 0; u < H0; ++u) {
    xh0[in + u] = state[u * n];
    cp[u] = state[(H0 + u) * n];
  }
  // Layer 0's new h goes straight into layer 1's input.
  fused_layer_forward(in, H0, xh0, phi + d.w0(), phi + d.b0(), d.forget_bias, cp, c0, xh1);
  for (int u = 0; u < H1; ++u) {
    xh1[H0 + u] = state[(2 * H0 + u) * n];
    cp[u] = state[(2 * H0 + H1 + u) * n];
  }
  fused_layer_forward(H0, H1, xh1, phi + d.w1(), phi + d.b1(), d.forget_bias, cp, c1, h1);
  T out = phi[d.bo()];
  for (int k = 0; k < H1; ++k) out += h1[k] * phi[d.wo() + k];
  out *= d.scale;
  if (saved) {
    const int64_t ld = d.ld;
    for (int k = 0; k < d.k0(); ++k) saved[k * ld] = xh0[k];
    for (int k = 0; k < d.k1(); ++k) saved[(d.row_xh1() + k) * ld] = xh1[k];
    for (int u = 0; u < H0; ++u) saved[(d.row_c0() + u) * ld] = c0[u];
    for (int u = 0; u < H1; ++u) {
      saved[(d.row_c1() + u) * ld] = c1[u];
      saved[(d.row_h1() + u) * ld] = h1[u];
    }
  }
  for (int u = 0; u < H0; ++u) {
    state[u * n] = xh1[u];
    state[(H0 + u) * n] = c0[u];
  }
  for (int u = 0; u < H1; ++u) {
    state[(2 * H0 + u) * n] = h1[u];
    state[(2 * H0 + H1 + u) * n] = c1[u];
  }
  return out;
}

// Truncated BPTT of coordinate i through `steps` saved steps. saved, c_init (the state at the
// segment start, state layout), dl_du ((steps, n): step t at dl_du[t n]) and dz0/dz1 (4H0 and 4H1
// rows of stride ld) point at the coordinate's column. Writes dz of every layer and step; the
// weight gradients are then reductions of dz over all coordinates and steps.
template <typename T>
L2O_HD void fused_coord_bptt(const FusedDims<T>& d, const T* phi, int64_t steps, const T* saved, const T* c_init,
                             const T* dl_du, T* dz0, T* dz1) {
  T dh0c[kFusedMaxHidden], dc0[kFusedMaxHidden], dh1c[kFusedMaxHidden], dc1[kFusedMaxHidden];
  T xh[2 * kFusedMaxHidden], cp[kFusedMaxHidden], c[kFusedMaxHidden], dh[kFusedMaxHidden],
      dxh[2 * kFusedMaxHidden];
  const int in = d.in, H0 = d.H0, H1 = d.H1;
  const int64_t n = d.n, ld = d.ld;
  for (int u = 0; u < kFusedMaxHidden; ++u) dh0c[u] = dc0[u] = dh1c[u] = dc1[u] = T(0);
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t col = t * n;
    const T du = dl_du[col];
    // Layer 1, from the output projection and the next step's carry.
    for (int k = 0; k < d.k1(); ++k) xh[k] = saved[(d.row_xh1() + k) * ld + col];
    for (int u = 0; u < H1; ++u) {
      c[u] = saved[(d.row_c1() + u) * ld + col];
      cp[u] = t > 0 ? saved[(d.row_c1() + u) * ld + col - n] : c_init[(2 * H0 + H1 + u) * n];
      dh[u] = d.scale * phi[d.wo() + u] * du + dh1c[u];
    }
    fused_layer_backward(H0, H1, xh, phi + d.w1(), phi + d.b1(), d.forget_bias, cp, c, dh, dc1, dxh, dz1 + col, ld);
    for (int u = 0; u < H1; ++u) dh1c[u] = dxh[H0 + u];
    // Layer 0: dxh rows [0, H0) of layer 1 flow down to layer 0's h.
    for (int u = 0; u < H0; ++u) dh[u] = dxh[u] + dh0c[u];
    for (int k = 0; k < d.k0(); ++k) xh[k] = saved[k * ld + col];
    for (int u = 0; u < H0; ++u) {
      c[u] = saved[(d.row_c0() + u) * ld + col];
      cp[u] = t > 0 ? saved[(d.row_c0() + u) * ld + col - n] : c_init[(H0 + u) * n];
    }
    fused_layer_backward(in, H0, xh, phi + d.w0(), phi + d.b0(), d.forget_bias, cp, c, dh, dc0, dxh, dz0 + col, ld);
    // The gradient on the preprocessed input (rows [0, in)) is not needed: g is detached.
    for (int u = 0; u < H0; ++u) dh0c[u] = dxh[in + u];
  }
}

}  // namespace l2o
