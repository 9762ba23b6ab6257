// One imitation-learning segment (REFERENCE.md section 5): an analytical teacher drives the
// optimizee and the learner, fed the teacher's gradients, is trained to reproduce its updates:
// L = sum_t omega/(2n) ||delta_t - u_t||^2, so dL/du_t = omega (u_t - delta_t)/n goes through the
// same Learner::backward as the meta-loss. The teacher updates every coordinate; the loss covers
// only the ones a learned optimizer updates (n of them: not the optimizee's learner_frozen()).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "learners/learner.h"
#include "learners/update_rule.h"
#include "optimizees/optimizee.h"

namespace l2o {

struct ImitationResult {
  double loss = 0;        // the imitation loss of the segment
  double final_loss = 0;  // the optimizee loss at the last step (what the teacher reached)
  bool finite = true;
};

// Advances theta (n) by the teacher's updates and the learner's state; writes dphi unless a
// loss, update or gradient was non-finite. Workspaces: dl_du (steps*n), u and delta (n).
template <typename T>
ImitationResult imitation_segment(LearnerT<T>& learner, const T* phi, OptimizeeT<T>& opt, UpdateRule& teacher,
                                  T* theta, Rng& batches, int64_t steps, double omega, std::vector<T>& dl_du,
                                  std::vector<T>& u, std::vector<float>& delta, std::vector<float>& g, T* dphi) {
  const int64_t n = opt.num_params();
  dl_du.resize(steps * n);
  u.resize(n);
  delta.resize(n);
  g.resize(n);
  std::vector<T> gt(n);
  ImitationResult r;
  Batch batch;
  learner.begin_segment();
  const CoordRanges frozen = opt.learner_frozen();
  std::vector<uint8_t> keep(n, 1);
  zero_ranges(frozen, keep.data());
  const double w = omega / static_cast<double>(n - ranges_size(frozen));
  for (int64_t t = 0; t < steps; ++t) {
    opt.sample_batch(batches, batch);
    const T f = opt.loss_and_grad(theta, batch, gt.data());
    r.final_loss = f;
    if (!std::isfinite(static_cast<double>(f))) {
      r.finite = false;
      return r;
    }
    for (int64_t i = 0; i < n; ++i) g[i] = static_cast<float>(gt[i]);
    teacher.update(g.data(), delta.data());
    learner.step(phi, gt.data(), u.data(), true);
    T* d = &dl_du[t * n];
    for (int64_t i = 0; i < n; ++i) {
      const double diff = keep[i] ? static_cast<double>(u[i]) - delta[i] : 0.0;
      r.loss += 0.5 * w * diff * diff;
      d[i] = static_cast<T>(w * diff);
      theta[i] += static_cast<T>(delta[i]);
    }
  }
  if (!std::isfinite(r.loss)) {
    r.finite = false;
    return r;
  }
  learner.backward(phi, dl_du.data(), dphi);
  for (int64_t i = 0; i < learner.num_params(); ++i)
    if (!std::isfinite(static_cast<double>(dphi[i]))) r.finite = false;
  return r;
}

}  // namespace l2o
