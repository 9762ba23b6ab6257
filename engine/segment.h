// One truncated-BPTT segment of meta-training (DESIGN.md section 1): run the learner for `steps`
// optimizee steps, meta-loss = sum of the steps+1 losses, optimizee gradients detached, so
// dL/du_t = sum_{s>t} g_s and the backward never touches the optimizee again.
#pragma once
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/backend.h"
#include "kernels/segment_ops.h"
#include "learners/learner.h"
#include "optimizees/optimizee.h"

namespace l2o {

template <typename T>
struct SegmentResult {
  double meta_loss = 0;   // sum of the losses at theta_0 .. theta_steps
  double final_loss = 0;  // the loss at theta_steps
  bool finite = true;     // false: a loss or update was NaN/Inf; dphi was not computed
};

// Advances theta (n) and the learner's state in place; writes dphi unless the segment diverged.
// dl_du: workspace of steps * n values; u: workspace of n values.
template <typename T>
SegmentResult<T> meta_segment(LearnerT<T>& learner, const T* phi, OptimizeeT<T>& opt, T* theta, Rng& batches,
                              int64_t steps, std::vector<T>& dl_du, std::vector<T>& u, T* dphi) {
  SegmentResult<T> r;
  // Frozen coordinates get no update, so no upstream gradient either (the device path has no mask).
  const CoordRanges frozen = opt.learner_frozen();
  if constexpr (std::is_same_v<T, float>) {  // both on the CUDA backend: the device-resident path
    if (frozen.empty() &&
        meta_segment_device(learner, phi, opt, theta, batches, steps, dphi, &r.meta_loss, &r.final_loss, &r.finite))
      return r;
  }
  const int64_t n = opt.num_params();
  dl_du.resize(steps * n);
  u.resize(n);
  std::vector<T> g0(n);
  Batch batch;
  learner.begin_segment();
  for (int64_t t = 0; t <= steps; ++t) {
    // g_t is only needed as learner input (t < steps) and as upstream for u_{t-1} (t > 0):
    // it is stored at dl_du[t-1], then suffix-summed in place below.
    T* g = t == 0 ? g0.data() : &dl_du[(t - 1) * n];
    opt.sample_batch(batches, batch);
    const T f = opt.loss_and_grad(theta, batch, g);
    r.meta_loss += f;
    if (!std::isfinite(static_cast<double>(f))) r.finite = false;
    if (t == steps) {
      r.final_loss = f;
      break;
    }
    if (!r.finite) break;
    learner.step(phi, g, u.data(), true);
    zero_ranges(frozen, u.data());
    for (int64_t i = 0; i < n; ++i) theta[i] += u[i];
  }
  if (!r.finite) return r;
  suffix_sum_steps_cpu(steps, n, dl_du.data());
  for (int64_t t = 0; t < steps && !frozen.empty(); ++t) zero_ranges(frozen, &dl_du[t * n]);
  learner.backward(phi, dl_du.data(), dphi);
  for (int64_t i = 0; i < learner.num_params(); ++i)
    if (!std::isfinite(static_cast<double>(dphi[i]))) r.finite = false;
  return r;
}

}  // namespace l2o
