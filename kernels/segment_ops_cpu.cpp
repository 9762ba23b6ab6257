#include "kernels/segment_ops.h"

namespace l2o {

template <typename T>
void suffix_sum_steps_cpu(int64_t steps, int64_t n, T* x) {
  for (int64_t t = steps - 2; t >= 0; --t)
    for (int64_t i = 0; i < n; ++i) x[t * n + i] += x[(t + 1) * n + i];
}

template void suffix_sum_steps_cpu<float>(int64_t, int64_t, float*);
template void suffix_sum_steps_cpu<double>(int64_t, int64_t, double*);

}  // namespace l2o
