// One truncated-BPTT segment of meta-training (DESIGN.md section 1): run the learner for `steps`
// optimizee steps on the segment's meta-loss (MetaObjective), optimizee gradients detached, so
// dL/du_t = sum_{s>t} dL/df_s g_s and the backward never touches the optimizee again.
#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "engine/backend.h"
#include "kernels/common.h"
#include "kernels/segment_ops.h"
#include "learners/learner.h"
#include "optimizees/optimizee.h"

namespace l2o {

// training.meta_loss over a segment's losses f_0 .. f_T (f_t at theta_t on its own minibatch):
//  sum: L = sum_{t=0..T} f_t (L2O-DM's, RNNprop's objective), dL/df_t = 1.
//  mean_log_ratio: the authors' L2O-Scale (trainable_optimizer.py:586-607, use_log_objective on,
//   use_numerator_epsilon off): the T+1 values (f_0, f_0, f_1, .., f_{T-1}) (the start counted twice,
//   T:517 and T:363; f_T never), c = f_init + 1e-6, L = mean_k log(v_k / c + 1e-6), so
//   dL/df_t = 1 / ((T+1)(f_t + 1e-6 c)) for 1 <= t < T and 0 for t = T. f_init is the loss at the
//   epoch's first theta (T:505-508), a constant: the epoch's first segment sets it.
enum class MetaLossKind { sum, mean_log_ratio };
struct MetaObjective {
  MetaLossKind kind = MetaLossKind::sum;
  double f_init = NAN;  // mean_log_ratio: NaN until the epoch's first segment sets it
};

template <typename T>
struct SegmentResult {
  double meta_loss = 0;   // the MetaObjective's value (sum: of the losses at theta_0 .. theta_steps)
  double final_loss = 0;  // the loss at theta_steps
  bool finite = true;     // false: a loss or update was NaN/Inf; dphi was not computed
};

// Advances theta (n) and the learner's state in place; writes dphi unless the segment diverged.
// dl_du: workspace of steps * n values; u: workspace of n values. objective: null = the sum.
template <typename T>
SegmentResult<T> meta_segment(LearnerT<T>& learner, const T* phi, OptimizeeT<T>& opt, T* theta, Rng& batches,
                              int64_t steps, std::vector<T>& dl_du, std::vector<T>& u, T* dphi,
                              MetaObjective* objective = nullptr) {
  SegmentResult<T> r;
  const bool log_ratio = objective && objective->kind == MetaLossKind::mean_log_ratio;
  // Frozen coordinates get no update, so no upstream gradient either (the device path has no mask).
  const CoordRanges frozen = opt.learner_frozen();
  if constexpr (std::is_same_v<T, float>) {  // both on the CUDA backend: the device-resident path
    if (log_ratio && frozen.empty() && segment_on_device(learner, opt))  // it computes the sum only
      throw InputError(kMeanLogRatioNotOnDevice);
    if (!log_ratio && frozen.empty() &&
        meta_segment_device(learner, phi, opt, theta, batches, steps, dphi, &r.meta_loss, &r.final_loss, &r.finite))
      return r;
  }
  const int64_t n = opt.num_params();
  dl_du.resize(steps * n);
  u.resize(n);
  std::vector<T> g0(n);
  Batch batch;
  learner.begin_segment();
  double c = 0;                                     // mean_log_ratio: f_init + 1e-6
  std::vector<double> df(log_ratio ? steps : 0);    // and dL/df_t for t = 1..T (g_t's row t-1)
  for (int64_t t = 0; t <= steps; ++t) {
    // g_t is only needed as learner input (t < steps) and as upstream for u_{t-1} (t > 0):
    // it is stored at dl_du[t-1], then scaled by dL/df_t and suffix-summed in place below.
    T* g = t == 0 ? g0.data() : &dl_du[(t - 1) * n];
    opt.sample_batch(batches, batch);
    const T f = opt.loss_and_grad(theta, batch, g);
    const double fd = static_cast<double>(f);
    if (!log_ratio) {
      r.meta_loss += fd;
    } else {
      if (t == 0) {
        if (std::isnan(objective->f_init)) objective->f_init = fd;
        c = objective->f_init + 1e-6;
      }
      const double w = 1.0 / static_cast<double>(steps + 1), term = w * std::log(fd / c + 1e-6);
      if (t < steps) r.meta_loss += t == 0 ? 2 * term : term;
      if (t > 0) df[t - 1] = t < steps ? w / (fd + 1e-6 * c) : 0.0;  // f_T is not in the objective
      if (!std::isfinite(r.meta_loss)) r.finite = false;
    }
    if (!std::isfinite(fd)) r.finite = false;
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
  for (int64_t t = 0; t < static_cast<int64_t>(df.size()); ++t) {  // after the steps: the learner saw raw g
    T* row = &dl_du[t * n];
    if (df[t] == 0.0) std::fill(row, row + n, T(0));
    else for (int64_t i = 0; i < n; ++i) row[i] *= static_cast<T>(df[t]);
  }
  suffix_sum_steps_cpu(steps, n, dl_du.data());
  for (int64_t t = 0; t < steps && !frozen.empty(); ++t) zero_ranges(frozen, &dl_du[t * n]);
  learner.backward(phi, dl_du.data(), dphi);
  for (int64_t i = 0; i < learner.num_params(); ++i)
    if (!std::isfinite(static_cast<double>(dphi[i]))) r.finite = false;
  return r;
}

}  // namespace l2o
