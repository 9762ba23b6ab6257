// Softmax cross-entropy for one row of logits, shared by CPU and CUDA code.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace l2o {

// Returns -log softmax(z)[label]; writes dlogits = scale * (softmax(z) - onehot(label)).
// Max-subtracted so large logits do not overflow. When the label's logit leads, the loss is
// log1p(r), r the other classes' summed exp(z - max): log(1 + r) rounds every r below 2^-24 to 1,
// so well-trained optimizees read a loss of exactly 0 (TensorFlow's op does the same); log1p keeps
// them down to float's range. Only the returned loss differs from log(sum): dlogits is unchanged.
template <typename T>
L2O_HD T softmax_xent_row(const T* z, int64_t classes, int32_t label, T* dlogits, T scale) {
  T mx = z[0];
  for (int64_t c = 1; c < classes; ++c) mx = z[c] > mx ? z[c] : mx;
  T sum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    dlogits[c] = exp(z[c] - mx);  // kept for r below, then overwritten
    sum += dlogits[c];
  }
  T rest = 0;
  for (int64_t c = 0; c < classes; ++c) rest += c == label ? T(0) : dlogits[c];
  const T log_sum = log(sum);
  for (int64_t c = 0; c < classes; ++c) {
    T p = exp(z[c] - mx - log_sum);
    dlogits[c] = scale * (p - (c == label ? T(1) : T(0)));
  }
  return z[label] == mx ? log1p(rest) : log_sum + mx - z[label];
}

}  // namespace l2o
