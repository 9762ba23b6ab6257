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

// One hidden unit of one coordinate's cell update, from its four gate pre-activations.
// Writes the post-activation gates [s(i), tanh(j), s(f + fb), s(o)] (what backward needs), c and h.
template <typename T>
L2O_HD void lstm_cell_forward_elem(T zi, T zj, T zf, T zo, T c_prev, T forget_bias, T* gi, T* gj, T* gf, T* go, T* c,
                                   T* h) {
  *gi = sigmoid(zi);
  *gj = tanh_act(zj);
  *gf = sigmoid(zf + forget_bias);
  *go = sigmoid(zo);
  *c = *gf * c_prev + *gi * *gj;
  *h = *go * tanh_act(*c);
}

// Backward of lstm_cell_forward_elem. dh: gradient on h; dc: on entry the gradient on c from the
// next step, on exit the gradient on c_prev. Writes the pre-activation gradients dz*.
template <typename T>
L2O_HD void lstm_cell_backward_elem(T gi, T gj, T gf, T go, T c_prev, T c, T dh, T* dc, T* dzi, T* dzj, T* dzf,
                                    T* dzo) {
  const T tc = tanh_act(c);
  const T dct = *dc + dh * go * (T(1) - tc * tc);
  *dzi = dct * gj * gi * (T(1) - gi);
  *dzj = dct * gi * (T(1) - gj * gj);
  *dzf = dct * c_prev * gf * (T(1) - gf);
  *dzo = dh * tc * go * (T(1) - go);
  *dc = dct * gf;
}

}  // namespace l2o
