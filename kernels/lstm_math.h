// Per-coordinate math of the coordinatewise LSTM optimizer, shared by the CPU ops and the CUDA
// kernels so both run the same arithmetic. Gate order and forget bias follow Sonnet 1's LSTM
// (REFERENCE.md section 1): pre-activations [i, j, f, o], c' = s(f + fb) c + s(i) tanh(j),
// h' = s(o) tanh(c').
#pragma once
#include <cmath>

#include "kernels/activation_math.h"

namespace l2o {

constexpr double kFloat32Eps = 1.1920928955078125e-07;  // DM's LogAndSign epsilon (float32 machine eps)

// DM's LogAndSign preprocessing: two features per gradient coordinate.
template <typename T>
L2O_HD void log_and_sign(T g, T k, T* out) {
  T lg = log(fabs(g) + T(kFloat32Eps)) / k;
  out[0] = lg > T(-1) ? lg : T(-1);
  T s = g * exp(k);
  out[1] = s > T(1) ? T(1) : (s < T(-1) ? T(-1) : s);
}

// One coordinate's cell update. z: (4H) pre-activations; writes post-activation gates
// [s(i), tanh(j), s(f + fb), s(o)] into gates (what backward needs), then c and h.
template <typename T>
L2O_HD void lstm_cell_forward(int H, const T* z, const T* c_prev, T forget_bias, T* gates,
                              T* c, T* h) {
  for (int k = 0; k < H; ++k) {
    T gi = sigmoid(z[k]);
    T gj = tanh(z[H + k]);
    T gf = sigmoid(z[2 * H + k] + forget_bias);
    T go = sigmoid(z[3 * H + k]);
    gates[k] = gi;
    gates[H + k] = gj;
    gates[2 * H + k] = gf;
    gates[3 * H + k] = go;
    T cn = gf * c_prev[k] + gi * gj;
    c[k] = cn;
    h[k] = go * tanh(cn);
  }
}

// Backward of lstm_cell_forward for one coordinate. dh: gradient on h'; dc: on entry the gradient
// on c' from the next step, on exit the gradient on c_prev. Writes dz, the pre-activation gradient.
template <typename T>
L2O_HD void lstm_cell_backward(int H, const T* gates, const T* c_prev, const T* c, const T* dh, T* dc, T* dz) {
  for (int k = 0; k < H; ++k) {
    T gi = gates[k], gj = gates[H + k], gf = gates[2 * H + k], go = gates[3 * H + k];
    T tc = tanh(c[k]);
    T dct = dc[k] + dh[k] * go * (T(1) - tc * tc);
    dz[k] = dct * gj * gi * (T(1) - gi);
    dz[H + k] = dct * gi * (T(1) - gj * gj);
    dz[2 * H + k] = dct * c_prev[k] * gf * (T(1) - gf);
    dz[3 * H + k] = dh[k] * tc * go * (T(1) - go);
    dc[k] = dct * gf;
  }
}

}  // namespace l2o
