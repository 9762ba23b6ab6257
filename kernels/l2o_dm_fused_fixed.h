// Fixed-size fast path of the fused L2O-DM per-coordinate math (l2o_dm_fused_math.h): the input
// width and hidden sizes are template parameters and every loop is unrolled, so the per-coordinate
// arrays are registers, not local memory (ptxas: bench/NOTES.md). The weights are read from a
// packed copy of phi whose gate weights are interleaved per unit, w (K, H, [i j f o]), so one
// 128-bit load feeds four FMAs. The arithmetic (operation order) is exactly that of the generic
// fused_coord_step / fused_coord_bptt; only the weights' addresses differ. The CPU twin runs this
// same code on a packed copy, so it stays the GPU's oracle.
#pragma once
#include <cstdint>

#include "kernels/l2o_dm_fused_math.h"

// nvcc unrolls (the arrays must be indexed by constants to be registers); GCC decides for itself.
#if defined(__CUDA_ARCH__)
#define L2O_UNROLL _Pragma("unroll")
#define L2O_NO_UNROLL _Pragma("unroll 1")
#else
#define L2O_UNROLL
#define L2O_NO_UNROLL
#endif

namespace l2o {

constexpr int kFusedFixedHidden = 20;  // the hidden size with a compiled fast path (DM's 20-20)

// Packed index -> index in phi (L2oDm layout). Each gate block (w0, b0, w1, b1) keeps its offset
// and is permuted from (rows, 4H) gate-major to (rows, H, 4); wo and bo are copied as they are.
L2O_HD int fused_packed_source(int j, int in, int H0, int H1) {
  const int b0 = (in + H0) * 4 * H0, w1 = b0 + 4 * H0, b1 = w1 + (H0 + H1) * 4 * H1, wo = b1 + 4 * H1;
  if (j >= wo) return j;
  const int base = j < w1 ? 0 : w1, H = j < w1 ? H0 : H1;  // a bias is one more row of its block
  const int r = j - base, row = r / (4 * H), u = (r % (4 * H)) >> 2, g = r & 3;
  return base + row * 4 * H + g * H + u;
}

// The fast path's input width for d (1 or 2), or 0 when the generic code must run.
template <typename T>
L2O_HD int fused_fixed_in(const FusedDims<T>& d) {
  if (d.H0 != kFusedFixedHidden || d.H1 != kFusedFixedHidden) return 0;
  if (d.in == 2 && d.log_k > T(0)) return 2;
  return d.in == 1 && !(d.log_k > T(0)) ? 1 : 0;
}

// z[0..3] = p[0..3]. On the device p must point into shared memory (the staged packed phi,
// 16-byte aligned) and this is one 128-bit load (plain C++ loads of a float4 came out as scalar
// loads). The asm is volatile so that it stays after the staging barrier and is never merged with
// another load of the same weight: the backward reads each weight twice (recompute, then dxh), and
// merged, a layer's 4K weights stayed live between the uses (255 registers, ~4 KB of spills).
template <typename T>
L2O_HD void load_gates4(const T* p, T z[4]) {
  z[0] = p[0];
  z[1] = p[1];
  z[2] = p[2];
  z[3] = p[3];
}
#if defined(__CUDA_ARCH__)
template <>
__device__ __forceinline__ void load_gates4<float>(const float* p, float z[4]) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(z[0]), "=f"(z[1]), "=f"(z[2]), "=f"(z[3]) : "r"(a));
}
#endif

// fused_layer_forward for fixed K = IN + H, packed w (K, H, 4) and b (H, 4).
template <typename T, int IN, int H>
L2O_HD void fused_layer_forward_fixed(const T* xh, const T* w, const T* b, T fb, const T* c_prev, T* c, T* h) {
L2O_UNROLL
  for (int u = 0; u < H; ++u) {
    T z[4], wk[4], gi, gj, gf, go;
    load_gates4(b + 4 * u, z);
L2O_UNROLL
    for (int k = 0; k < IN + H; ++k) {
      load_gates4(w + (k * H + u) * 4, wk);
      z[0] += xh[k] * wk[0];
      z[1] += xh[k] * wk[1];
      z[2] += xh[k] * wk[2];
      z[3] += xh[k] * wk[3];
    }
    lstm_cell_forward_elem(z[0], z[1], z[2], z[3], c_prev[u], fb, &gi, &gj, &gf, &go, &c[u], &h[u]);
  }
}

// fused_layer_backward for fixed sizes and packed weights; same outputs and operation order.
// c_prev and c are read where used (unit u at [u * stride]) to keep them out of the registers.
template <typename T, int IN, int H>
L2O_HD void fused_layer_backward_fixed(const T* xh, const T* w, const T* b, T fb, const T* c_prev,
                                       int64_t cp_stride, const T* c, int64_t c_stride, const T* dh, T* dc, T* dxh,
                                       T* dz, int64_t dz_stride) {
  constexpr int K = IN + H;
L2O_UNROLL
  for (int k = 0; k < K; ++k) dxh[k] = T(0);
L2O_UNROLL
  for (int u = 0; u < H; ++u) {
    T z[4], wk[4], gi, gj, gf, go, c_re, h_re;
    load_gates4(b + 4 * u, z);
L2O_UNROLL
    for (int k = 0; k < K; ++k) {
      load_gates4(w + (k * H + u) * 4, wk);
      z[0] += xh[k] * wk[0];
      z[1] += xh[k] * wk[1];
      z[2] += xh[k] * wk[2];
      z[3] += xh[k] * wk[3];
    }
    const T cpu = c_prev[u * cp_stride];
    lstm_cell_forward_elem(z[0], z[1], z[2], z[3], cpu, fb, &gi, &gj, &gf, &go, &c_re, &h_re);
    T dzi, dzj, dzf, dzo, dcu = dc[u];
    lstm_cell_backward_elem(gi, gj, gf, go, cpu, c[u * c_stride], dh[u], &dcu, &dzi, &dzj, &dzf, &dzo);
    dc[u] = dcu;
    dz[u * dz_stride] = dzi;
    dz[(H + u) * dz_stride] = dzj;
    dz[(2 * H + u) * dz_stride] = dzf;
    dz[(3 * H + u) * dz_stride] = dzo;
L2O_UNROLL
    for (int k = 0; k < K; ++k) {
      load_gates4(w + (k * H + u) * 4, wk);
      dxh[k] += wk[0] * dzi + wk[1] * dzj + wk[2] * dzf + wk[3] * dzo;
    }
  }
}

// fused_coord_step for in = IN (2 with LogAndSign, 1 without) and hidden sizes H0, H1; pk is the
// packed phi. Same arguments and results as the generic version.
template <typename T, int IN, int H0, int H1>
L2O_HD T fused_coord_step_fixed(const FusedDims<T>& d, const T* pk, T g, T* state, T* saved) {
  constexpr int K0 = IN + H0, K1 = H0 + H1;
  T xh0[K0], xh1[K1], c0[H0], c1[H1], cp[H1 > H0 ? H1 : H0], h1[H1];
  const int64_t n = d.n, ld = d.ld;
  if (IN == 2) {
    log_and_sign(g, d.log_k, xh0);
  } else {
    xh0[0] = g;
  }
L2O_UNROLL
  for (int u = 0; u < H0; ++u) {
    xh0[IN + u] = state[u * n];
    cp[u] = state[(H0 + u) * n];
  }
  // Each value is stored as soon as it is final, so fewer stay live (the order of the stores
  // does not change any result).
  if (saved) {
L2O_UNROLL
    for (int k = 0; k < K0; ++k) saved[k * ld] = xh0[k];
  }
  const int64_t w1 = static_cast<int64_t>(K0) * 4 * H0 + 4 * H0, b1 = w1 + static_cast<int64_t>(K1) * 4 * H1;
  fused_layer_forward_fixed<T, IN, H0>(xh0, pk, pk + K0 * 4 * H0, d.forget_bias, cp, c0, xh1);
L2O_UNROLL
  for (int u = 0; u < H0; ++u) {
    state[u * n] = xh1[u];
    state[(H0 + u) * n] = c0[u];
    if (saved) saved[(K0 + K1 + u) * ld] = c0[u];
  }
L2O_UNROLL
  for (int u = 0; u < H1; ++u) {
    xh1[H0 + u] = state[(2 * H0 + u) * n];
    cp[u] = state[(2 * H0 + H1 + u) * n];
  }
  if (saved) {
L2O_UNROLL
    for (int k = 0; k < K1; ++k) saved[(K0 + k) * ld] = xh1[k];
  }
  fused_layer_forward_fixed<T, H0, H1>(xh1, pk + w1, pk + b1, d.forget_bias, cp, c1, h1);
  const T* wo = pk + b1 + 4 * H1;
  T out = wo[H1];
L2O_UNROLL
  for (int k = 0; k < H1; ++k) out += h1[k] * wo[k];
  out *= d.scale;
L2O_UNROLL
  for (int u = 0; u < H1; ++u) {
    if (saved) {
      saved[(K0 + K1 + H0 + u) * ld] = c1[u];
      saved[(K0 + K1 + H0 + H1 + u) * ld] = h1[u];
    }
    state[(2 * H0 + u) * n] = h1[u];
    state[(2 * H0 + H1 + u) * n] = c1[u];
  }
  return out;
}

// fused_coord_bptt for fixed sizes on the packed phi. The step loop is not unrolled; the carries
// (dh, dc of both layers) stay in registers across it.
template <typename T, int IN, int H0, int H1>
L2O_HD void fused_coord_bptt_fixed(const FusedDims<T>& d, const T* pk, int64_t steps, const T* saved,
                                   const T* c_init, const T* dl_du, T* dz0, T* dz1) {
  constexpr int K0 = IN + H0, K1 = H0 + H1, HM = H1 > H0 ? H1 : H0;
  constexpr int row_c0 = K0 + K1, row_c1 = row_c0 + H0;
  T dh0c[H0], dc0[H0], dh1c[H1], dc1[H1];
  T xh[K1 > K0 ? K1 : K0], dh[HM], dxh[K1 > K0 ? K1 : K0];
  const int64_t n = d.n, ld = d.ld;
  const int64_t w1 = static_cast<int64_t>(K0) * 4 * H0 + 4 * H0, b1 = w1 + static_cast<int64_t>(K1) * 4 * H1;
  const T* wo = pk + b1 + 4 * H1;
L2O_UNROLL
  for (int u = 0; u < H0; ++u) dh0c[u] = dc0[u] = T(0);
L2O_UNROLL
  for (int u = 0; u < H1; ++u) dh1c[u] = dc1[u] = T(0);
L2O_NO_UNROLL
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t col = t * n;
    const T du = dl_du[col];
L2O_UNROLL
    for (int k = 0; k < K1; ++k) xh[k] = saved[(K0 + k) * ld + col];
L2O_UNROLL
    for (int u = 0; u < H1; ++u) dh[u] = d.scale * wo[u] * du + dh1c[u];
    const T* cp1 = t > 0 ? saved + row_c1 * ld + col - n : c_init + (2 * H0 + H1) * n;
    fused_layer_backward_fixed<T, H0, H1>(xh, pk + w1, pk + b1, d.forget_bias, cp1, t > 0 ? ld : n,
                                          saved + row_c1 * ld + col, ld, dh, dc1, dxh, dz1 + col, ld);
L2O_UNROLL
    for (int u = 0; u < H1; ++u) dh1c[u] = dxh[H0 + u];
L2O_UNROLL
    for (int u = 0; u < H0; ++u) dh[u] = dxh[u] + dh0c[u];
L2O_UNROLL
    for (int k = 0; k < K0; ++k) xh[k] = saved[k * ld + col];
    const T* cp0 = t > 0 ? saved + row_c0 * ld + col - n : c_init + H0 * n;
    fused_layer_backward_fixed<T, IN, H0>(xh, pk, pk + K0 * 4 * H0, d.forget_bias, cp0, t > 0 ? ld : n,
                                          saved + row_c0 * ld + col, ld, dh, dc0, dxh, dz0 + col, ld);
L2O_UNROLL
    for (int u = 0; u < H0; ++u) dh0c[u] = dxh[IN + u];
  }
}

}  // namespace l2o
