// Imitation learning: the loss gradient against finite differences (double precision), and the
// teacher driving the optimizee.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/imitation.h"
#include "learners/hand_optimizers.h"
#include "learners/l2o_dm.h"
#include "optimizees/quadratic.h"
#include "test/fd_check.h"
#include "test/small_dm_problem.h"

using namespace l2o;

TEST_CASE("imitation loss gradient matches finite differences", "[imitation]") {
  l2o_test::SmallDmProblem p(9, 2);
  auto& dm = p.dm;
  auto& q = p.q;
  std::vector<double>& phi = p.phi;
  const std::vector<double>& theta0 = p.theta0;
  const int64_t n = q.num_params(), steps = 4;
  const double omega = 0.7;
  HandOptimizerConfig tc;
  tc.type = "adam";
  tc.lr = 0.05;
  auto teacher = make_hand_optimizer(tc);

  teacher->reset(n);
  dm.reset(n, steps);
  std::vector<double> theta = theta0, dl_du, u, dphi(phi.size());
  std::vector<float> delta, g;
  Rng batches(2, kStreamBatch);
  ImitationResult r = imitation_segment<double>(dm, phi.data(), q, *teacher, theta.data(), batches, steps, omega,
                                                dl_du, u, delta, g, dphi.data());
  REQUIRE(r.finite);

  // The teacher's trajectory does not depend on phi: record (g_t, delta_t) once.
  std::vector<std::vector<double>> gs, deltas;
  {
    teacher->reset(n);
    std::vector<double> th = theta0, gd(n);
    std::vector<float> gf(n), df(n);
    Batch none;
    for (int64_t t = 0; t < steps; ++t) {
      q.loss_and_grad(th.data(), none, gd.data());
      for (int64_t i = 0; i < n; ++i) gf[i] = static_cast<float>(gd[i]);
      teacher->update(gf.data(), df.data());
      gs.push_back(gd);
      deltas.emplace_back(df.begin(), df.end());
      for (int64_t i = 0; i < n; ++i) th[i] += df[i];
    }
    // The segment advanced theta by the teacher's updates, not the learner's.
    for (int64_t i = 0; i < n; ++i) REQUIRE(theta[i] == Approx(th[i]).margin(1e-12));
  }
  auto objective = [&]() {
    std::vector<double> uu(n);
    dm.reset(n, steps);
    double s = 0;
    for (int64_t t = 0; t < steps; ++t) {
      dm.step(phi.data(), gs[t].data(), uu.data(), false);
      for (int64_t i = 0; i < n; ++i) s += omega / (2.0 * n) * (deltas[t][i] - uu[i]) * (deltas[t][i] - uu[i]);
    }
    return s;
  };
  REQUIRE(r.loss == Approx(objective()).epsilon(1e-10));
  l2o_test::require_close(dphi, l2o_test::central_diff(phi, objective), 1e-5, 1e-9);
}
