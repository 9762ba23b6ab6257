// Softmax cross-entropy for one row of logits, shared by CPU and CUDA code.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace l2o {

// Returns -log softmax(z)[label]; writes dlogits = scale * (softmax(z) - onehot(label)).
// Max-subtracted so large logits do not overflow.
template <typename T>
L2O_HD T softmax_xent_row(const T* z, int64_t classes, int32_t label, T* dlogits, T scale) {
  T mx = z[0];
  for (int64_t c = 1; c < classes; ++c) mx = z[c] > mx ? z[c] : mx;
  T sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += exp(z[c] - mx);
  const T log_sum = log(sum);
  for (int64_t c = 0; c < classes; ++c) {
    T p = exp(z[c] - mx - log_sum);
    dlogits[c] = scale * (p - (c == label ? T(1) : T(0)));
  }
  return log_sum + mx - z[label];
}

}  // namespace l2o
