// Per-element math for the convolutional optimizees, shared by CPU and CUDA code.
// Layout everywhere: NCHW, contiguous (image n, channel c, row i, column j at ((n*C + c)*H + i)*W + j).
#pragma once
#include <cstdint>

#include "kernels/common.h"

namespace l2o {

// Output side of a VALID convolution: floor((in - k) / stride) + 1 (0 if the kernel does not fit).
L2O_HD int64_t conv_out_size(int64_t in, int64_t k, int64_t stride) { return in < k ? 0 : (in - k) / stride + 1; }

// Output side of the 2x2 stride-2 max-pool, VALID (floor): 26 -> 13, 9 -> 4, 15 -> 7, 2 -> 1.
L2O_HD int64_t pool2_out_size(int64_t in) { return in / 2; }

// The 2x2 max-pool's choice for output (i, j) of a plane xp (h, w) (row stride w): the index i*w + j
// within the plane of the first maximum in row-major window order (ties go to the earlier value; a NaN
// is chosen only when it comes first).
template <typename T>
L2O_HD int64_t pool2_argmax(const T* xp, int64_t w, int64_t i, int64_t j) {
  int64_t best = (2 * i) * w + 2 * j;
  for (int64_t di = 0; di < 2; ++di)
    for (int64_t dj = 0; dj < 2; ++dj) {
      const int64_t idx = (2 * i + di) * w + 2 * j + dj;
      if (xp[idx] > xp[best]) best = idx;
    }
  return best;
}

template <typename T>
L2O_HD T relu_fwd(T x) {
  return x > T(0) ? x : T(0);
}

// dL/dx from dL/dy and y = relu(x) (y > 0 exactly where x > 0).
template <typename T>
L2O_HD T relu_bwd(T dy, T y) {
  return y > T(0) ? dy : T(0);
}

// Training-mode batch norm, per channel over M = N*H*W values with batch mean mu and biased
// variance var: xhat = (x - mu) * inv_std, inv_std = 1/sqrt(var + eps), y = gamma*xhat + beta.
template <typename T>
L2O_HD T bn_fwd(T x, T mean, T inv_std, T gamma, T beta) {
  return gamma * ((x - mean) * inv_std) + beta;
}

// dL/dx = gamma*inv_std * (dy - mean(dy) - xhat * mean(dy*xhat)), the means over the channel's M values.
template <typename T>
L2O_HD T bn_bwd(T dy, T xhat, T gamma, T inv_std, T mean_dy, T mean_dy_xhat) {
  return gamma * inv_std * (dy - mean_dy - xhat * mean_dy_xhat);
}

}  // namespace l2o
