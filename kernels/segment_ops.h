// The meta-loss's upstream gradients: with detached optimizee gradients, dL/du_t = sum_{s>t} g_s,
// so the gradients stored at rows t = 0..steps-1 (row t holds g_{t+1}) become suffix sums in place.
#pragma once
#include <cstdint>

namespace l2o {

// x (steps, n): row t += row t+1, from t = steps-2 down to 0.
template <typename T>
void suffix_sum_steps_cpu(int64_t steps, int64_t n, T* x);
void suffix_sum_steps_cuda(int64_t steps, int64_t n, float* x);

}  // namespace l2o
