// Per-element activation functions and their derivatives, shared by CPU and CUDA code.
//
// Float sigmoid uses a branch-free exp (Cephes expf: range reduction + degree-6 polynomial, ~1 ulp)
// and float tanh a rational approximation, instead of the C library: the compiler vectorises them
// on the CPU, where libm's scalar calls dominated the LSTM step, and the GPU runs the very same
// arithmetic.
// Double keeps the library functions (finite-difference checks).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/common.h"

namespace l2o {

enum class Activation { sigmoid, relu, tanh };

L2O_HD float int_bits_as_float(int32_t bits) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

L2O_HD int32_t float_as_int_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
#endif
}

// e^x for float, relative error ~1e-7 on [-87.3, 88.3] (clamped outside; NaN propagates).
// Round-to-nearest by the 1.5 * 2^23 "magic number" add, whose low mantissa bits then hold the
// integer: no float-to-int conversion and no branch, so the host compiler vectorises it.
L2O_HD float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  const float t = x * 1.44269504088896341f + kMagic;
  const float n = t - kMagic;  // round(x / ln 2)
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t k = float_as_int_bits(t) - float_as_int_bits(kMagic);  // the integer n
  return p * int_bits_as_float((k + 127) << 23);
}

// ln x for float, error <= 2e-7 absolute below 2 and <= 1e-7 relative above (Cephes logf: the
// mantissa in [sqrt(1/2), sqrt(2)) by bit manipulation, then a degree-9 polynomial), branch-free
// like exp_approx so loops over it vectorise. Positive normal floats; +inf, 0, negatives and NaN
// give inf, -inf, NaN and NaN as the library does (denormals are read as 0).
L2O_HD float log_approx(float x) {
  const int32_t bits = float_as_int_bits(x);
  float e = static_cast<float>((bits >> 23) - 126);
  float m = int_bits_as_float((bits & 0x007fffff) | 0x3f000000);  // [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  // Arithmetic outside the selects: GCC does not speculate float ops (they may trap), so an
  // operation inside a select's arm would keep a branch and stop the loops from vectorising.
  e = e - (low ? 1.0f : 0.0f);
  m = m + (low ? m : 0.0f) - 1.0f;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  float r = m + y + 0.693359375f * e;
  // The special cases by integer tests on the bits: float compares with NaN/inf kept GCC from
  // turning them into selects, and the loops from vectorising.
  const int32_t mag = bits & 0x7fffffff;
  r = mag == 0x7f800000 ? int_bits_as_float(0x7f800000) : r;  // +inf (-inf is negative below)
  r = mag < 0x00800000 ? int_bits_as_float(static_cast<int32_t>(0xff800000)) : r;  // +-0, denormals
  r = (bits < 0) & (mag >= 0x00800000) ? int_bits_as_float(0x7fc00000) : r;           // negatives
  r = mag > 0x7f800000 ? x : r;                                                     // NaN
  return r;
}

template <typename T>
L2O_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}
template <>
L2O_HD float sigmoid<float>(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

// ELU as TensorFlow 1's Elu op computes it: exp(x) - 1 below zero, x above (RNNprop's input
// projection); float through exp_approx, so the projection vectorises on the CPU.
template <typename T>
L2O_HD T elu_act(T x) {
  return x > T(0) ? x : exp(x) - T(1);
}
template <>
L2O_HD float elu_act<float>(float x) {
  const float e = exp_approx(x) - 1.0f;
  return x > 0.0f ? x : e;
}
// ELU's derivative from its output p: 1 where the input was > 0 (exactly where p > 0), else p + 1.
template <typename T>
L2O_HD T elu_grad_from_output(T p) {
  return p > T(0) ? T(1) : p + T(1);
}

template <typename T>
L2O_HD T tanh_act(T x) {
  return tanh(x);
}
// Float tanh as a [13/6] rational minimax approximation on [-7.905, 7.905] (Eigen 3.4's
// generic_fast_tanh_float coefficients), clamped outside, where it rounds to exactly +-1. Error
// <= 3e-7 relative over [-86, 86] including tiny arguments (test_activation_math), and about half
// the instructions of an exp-based tanh: no exp, no small-argument series, no sign fix-up. The
// LSTM cell evaluates 3 tanh per unit and coordinate-step (bench/NOTES.md row 14). NaN propagates
// (both clamp comparisons are false for NaN).
template <>
L2O_HD float tanh_act<float>(float x) {
  constexpr float kClamp = 7.90531110763549805f;
  x = x > kClamp ? kClamp : x;
  x = x < -kClamp ? -kClamp : x;
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

// exp, log and asinh as L2O-Scale's per-parameter features use them: the library in double (the
// finite-difference checks), the branch-free approximations above in float.
template <typename T>
L2O_HD T exp_act(T x) {
  return exp(x);
}
template <>
L2O_HD float exp_act<float>(float x) {
  return exp_approx(x);
}
template <typename T>
L2O_HD T log_act(T x) {
  return log(x);
}
template <>
L2O_HD float log_act<float>(float x) {
  return log_approx(x);
}
template <typename T>
L2O_HD T asinh_act(T x) {
  return asinh(x);
}
// Float asinh: its Taylor series below 1/2 (keeps tiny arguments' relative accuracy), else
// sign(x) ln(|x| + sqrt(x^2 + 1)); both are computed and one selected, so it vectorises. Error <=
// 3e-7 relative. Beyond 1e18 (where x^2 + 1 loses the 1) ln 2|x|, as the library.
template <>
L2O_HD float asinh_act<float>(float x) {
  const float a = x < 0.0f ? -x : x;
  const float a2 = a * a;
  // asinh a = a + a^3 (-1/6 + 3/40 a^2 - 15/336 a^4 + ...) to the a^17 term: 4e-8 relative at 1/2
  float s = 0.0115518009f;  // 2027025 / 175472640
  s = s * a2 - 0.0139648438f;
  s = s * a2 + 0.0173527644f;
  s = s * a2 - 0.0223721591f;
  s = s * a2 + 0.0303819444f;
  s = s * a2 - 0.0446428571f;
  s = s * a2 + 0.075f;
  s = s * a2 - 0.166666667f;
  s = a + a * a2 * s;
  const bool huge = a > 1e18f;  // selects of computed values, as in log_approx: one log, no branch
  const float t = a + sqrt(a2 + 1.0f);
  const float big = log_approx(huge ? a : t) + (huge ? 0.693147181f : 0.0f);
  const float r = a < 0.5f ? s : big;
  return x < 0.0f ? -r : r;
}

template <typename T>
L2O_HD T activate(Activation a, T z) {
  switch (a) {
    case Activation::sigmoid: return sigmoid(z);
    case Activation::relu: return z > T(0) ? z : T(0);
    default: return tanh_act(z);
  }
}

// Derivative expressed through the activation's output y = act(z) (what the forward pass keeps).
template <typename T>
L2O_HD T activate_grad_from_output(Activation a, T y) {
  switch (a) {
    case Activation::sigmoid: return y * (T(1) - y);
    case Activation::relu: return y > T(0) ? T(1) : T(0);
    default: return T(1) - y * y;
  }
}

}  // namespace l2o
