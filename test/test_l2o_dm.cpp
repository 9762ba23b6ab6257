// Finite-difference checks (double precision) of the LSTM ops, the learner's segment backward
// and the full meta-gradient of a short segment.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/segment.h"
#include "test/fd_check.h"
#include "test/small_dm_problem.h"
#include "kernels/lstm.h"
#include "learners/l2o_dm.h"
#include "optimizees/quadratic.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace l2o;
using l2o_test::central_diff;
using l2o_test::require_close;

namespace {

std::vector<double> random_vec(int64_t n, double scale, uint64_t seed) {
  Rng r(seed, 7);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * (2 * r.uniform() - 1);
  return v;
}

}  // namespace

TEST_CASE("LSTM layer step backward matches finite differences", "[lstm]") {
  const int64_t n = 7, in = 3, H = 4, K = in + H;
  auto xh = random_vec(n * K, 1.0, 1), w = random_vec(K * 4 * H, 0.7, 2), b = random_vec(4 * H, 0.5, 3);
  auto c_prev = random_vec(n * H, 1.0, 4), rh = random_vec(n * H, 1.0, 5), rc = random_vec(n * H, 1.0, 6);
  std::vector<double> z(n * 4 * H), gates(n * 4 * H), c(n * H), h(n * H);
  // Scalar objective: <rh, h> + <rc, c>, a function of xh, w, b, c_prev.
  auto objective = [&]() {
    lstm_layer_forward_cpu<double>(n, in, H, xh.data(), w.data(), b.data(), 1.0, c_prev.data(), z.data(),
                                   gates.data(), c.data(), h.data());
    double s = 0;
    for (int64_t i = 0; i < n * H; ++i) s += rh[i] * h[i] + rc[i] * c[i];
    return s;
  };
  objective();
  std::vector<double> dc = rc, dz(n * 4 * H), dxh(n * K), dw(K * 4 * H, 0.0), db(4 * H, 0.0);
  lstm_layer_backward_cpu<double>(n, in, H, xh.data(), w.data(), gates.data(), c_prev.data(), c.data(), rh.data(),
                                  dc.data(), dz.data(), dxh.data(), dw.data(), db.data());
  auto fd = [&](std::vector<double>& v) { return central_diff(v, objective); };
  require_close(dxh, fd(xh), 1e-6, 1e-9);
  require_close(dw, fd(w), 1e-6, 1e-9);
  require_close(db, fd(b), 1e-6, 1e-9);
  require_close(dc, fd(c_prev), 1e-6, 1e-9);
}

TEST_CASE("L2O-DM has 5,141 parameters in Sonnet's layout", "[lstm]") {
  L2oDm<float> dm(L2oDmConfig{});
  REQUIRE(dm.num_params() == 5141);
  REQUIRE(dm.param_blocks().size() == 6);
  REQUIRE(dm.param_blocks()[0].name == "lstm_0/w");
  REQUIRE(dm.param_blocks()[0].shape == std::vector<int64_t>{22, 80});
  REQUIRE(dm.param_blocks()[2].shape == std::vector<int64_t>{40, 80});
  L2oDmConfig quad;
  quad.log_k = 0;
  REQUIRE(L2oDm<float>(quad).num_params() == 21 * 80 + 80 + 40 * 80 + 80 + 21);
}

TEST_CASE("learner segment backward matches finite differences of <r, u>", "[lstm]") {
  // Spans several blocks (kBlockRows) with a partial last block, and carries state into the segment.
  L2oDmConfig cfg;
  cfg.hidden = {3, 2};
  cfg.output_scale = 0.5;
  L2oDm<double> dm(cfg);
  const int64_t n = L2oDm<double>::kBlockRows + 5, steps = 3;
  std::vector<double> phi(dm.num_params());
  dm.init_params(1, phi.data());
  std::vector<std::vector<double>> grads;
  for (int64_t t = 0; t < steps + 1; ++t) grads.push_back(random_vec(n, 0.3, 10 + t));
  auto r = random_vec(steps * n, 1.0, 20);
  std::vector<double> u(n);
  const std::vector<double> phi0 = phi;  // the state entering the segment is a constant (truncation)
  auto objective = [&](bool keep_for_backward) {
    dm.reset(n, steps);
    dm.step(phi0.data(), grads[steps].data(), u.data(), false);  // state from a previous segment
    dm.begin_segment();
    double s = 0;
    for (int64_t t = 0; t < steps; ++t) {
      dm.step(phi.data(), grads[t].data(), u.data(), keep_for_backward);
      for (int64_t i = 0; i < n; ++i) s += r[t * n + i] * u[i];
    }
    return s;
  };
  objective(true);
  std::vector<double> dphi(dm.num_params());
  dm.backward(phi.data(), r.data(), dphi.data());
  require_close(dphi, central_diff(phi, [&] { return objective(false); }), 1e-5, 1e-8);
}

TEST_CASE("meta-gradient of a full segment matches finite differences (detached optimizee gradients)", "[lstm]") {
  l2o_test::SmallDmProblem p(3, 5);
  auto& dm = p.dm;
  auto& q = p.q;
  std::vector<double>& phi = p.phi;
  const std::vector<double>& theta0 = p.theta0;
  const int64_t n = q.num_params(), steps = 3;

  std::vector<double> theta = theta0, dl_du, u, dphi(phi.size());
  dm.reset(n, steps);
  Rng batches(5, kStreamBatch);
  auto res = meta_segment<double>(dm, phi.data(), q, theta.data(), batches, steps, dl_du, u, dphi.data());
  REQUIRE(res.finite);

  // Reference: the gradients g_t the learner saw are frozen (that is what "detached" means), so
  // L(phi') = sum_t f(theta_t(phi')) with theta_{t+1} = theta_t + m_phi'(g_t frozen).
  std::vector<std::vector<double>> frozen;
  {
    std::vector<double> th = theta0, g(n), uu(n);
    Batch none;
    dm.reset(n, steps);
    for (int64_t t = 0; t < steps; ++t) {
      q.loss_and_grad(th.data(), none, g.data());
      frozen.push_back(g);
      dm.step(phi.data(), g.data(), uu.data(), false);
      for (int64_t i = 0; i < n; ++i) th[i] += uu[i];
    }
  }
  auto objective = [&]() {
    std::vector<double> th = theta0, uu(n);
    Batch none;
    dm.reset(n, steps);
    double s = q.loss_and_grad(th.data(), none, nullptr);
    for (int64_t t = 0; t < steps; ++t) {
      dm.step(phi.data(), frozen[t].data(), uu.data(), false);
      for (int64_t i = 0; i < n; ++i) th[i] += uu[i];
      s += q.loss_and_grad(th.data(), none, nullptr);
    }
    return s;
  };
  REQUIRE(res.meta_loss == Approx(objective()).epsilon(1e-12));
  require_close(dphi, central_diff(phi, objective), 1e-5, 1e-8);
}

TEST_CASE("the mean-log-ratio meta-gradient of a segment matches finite differences", "[lstm][meta_loss]") {
  l2o_test::SmallDmProblem p(3, 5);
  auto& dm = p.dm;
  auto& q = p.q;
  std::vector<double>& phi = p.phi;
  const std::vector<double>& theta0 = p.theta0;
  const int64_t n = q.num_params(), steps = 4;
  Batch none;
  const double f0 = q.loss_and_grad(theta0.data(), none, nullptr);

  // The epoch's first segment takes f_init = f_0.
  {
    std::vector<double> theta = theta0, dl_du, u, dphi(phi.size());
    MetaObjective first{MetaLossKind::mean_log_ratio};
    dm.reset(n, steps);
    Rng batches(5, kStreamBatch);
    REQUIRE(meta_segment<double>(dm, phi.data(), q, theta.data(), batches, steps, dl_du, u, dphi.data(), &first).finite);
    REQUIRE(first.f_init == f0);
  }
  // A later segment keeps the epoch's f_init (here not its own f_0, so the denominator is tested).
  MetaObjective later{MetaLossKind::mean_log_ratio, 3.0 * f0};
  std::vector<double> theta = theta0, dl_du, u, dphi(phi.size());
  dm.reset(n, steps);
  Rng batches(5, kStreamBatch);
  auto res = meta_segment<double>(dm, phi.data(), q, theta.data(), batches, steps, dl_du, u, dphi.data(), &later);
  REQUIRE(res.finite);
  REQUIRE(later.f_init == 3.0 * f0);

  // Reference with the learner's inputs g_t frozen: the authors' 21-value mean for T = 20, here
  // T + 1 values f_0, f_0, f_1 .. f_{T-1} (trainable_optimizer.py:505-607).
  std::vector<std::vector<double>> frozen;
  {
    std::vector<double> th = theta0, g(n), uu(n);
    dm.reset(n, steps);
    for (int64_t t = 0; t < steps; ++t) {
      q.loss_and_grad(th.data(), none, g.data());
      frozen.push_back(g);
      dm.step(phi.data(), g.data(), uu.data(), false);
      for (int64_t i = 0; i < n; ++i) th[i] += uu[i];
    }
  }
  const double c = 3.0 * f0 + 1e-6;
  auto objective = [&]() {
    std::vector<double> th = theta0, uu(n), values;
    dm.reset(n, steps);
    values.push_back(q.loss_and_grad(th.data(), none, nullptr));  // the unroll's start (T:517)
    for (int64_t t = 0; t < steps; ++t) {
      values.push_back(q.loss_and_grad(th.data(), none, nullptr));  // f(theta_t) before step t (T:363)
      dm.step(phi.data(), frozen[t].data(), uu.data(), false);
      for (int64_t i = 0; i < n; ++i) th[i] += uu[i];
    }
    double s = 0;
    for (double v : values) s += std::log(v / c + 1e-6);
    return s / static_cast<double>(values.size());
  };
  REQUIRE(res.meta_loss == Approx(objective()).epsilon(1e-12));
  require_close(dphi, central_diff(phi, objective), 1e-5, 1e-8);
  // u_{T-1} only reaches f_T, which is not in the objective: its upstream gradient is zero.
  for (int64_t i = 0; i < n; ++i) REQUIRE(dl_du[(steps - 1) * n + i] == 0.0);
}

TEST_CASE("the learner's updates and dphi are bit-identical whatever the thread count", "[lstm]") {
#ifdef _OPENMP
  // 2,600 coordinates: 11 blocks of 256 and a partial one, so thread counts split them differently.
  const int64_t n = 2600, steps = 6;
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params());
  dm.init_params(3, phi.data());
  std::vector<std::vector<float>> grads;
  for (int64_t t = 0; t < steps; ++t) {
    const auto g = random_vec(n, 1e-2, 40 + t);
    grads.emplace_back(g.begin(), g.end());
  }
  const auto r = random_vec(steps * n, 1.0, 50);
  const std::vector<float> dl_du(r.begin(), r.end());
  auto run = [&](int threads, std::vector<float>& u_all) {
    omp_set_num_threads(threads);
    dm.reset(n, steps);
    u_all.assign(steps * n, 0.0f);
    dm.begin_segment();
    for (int64_t t = 0; t < steps; ++t) dm.step(phi.data(), grads[t].data(), u_all.data() + t * n, true);
    std::vector<float> dphi(dm.num_params());
    dm.backward(phi.data(), dl_du.data(), dphi.data());
    return dphi;
  };
  const int restore = omp_get_max_threads();
  std::vector<float> u1, u2, u3;
  const auto d1 = run(1, u1), d2 = run(2, u2), d3 = run(3, u3);
  omp_set_num_threads(restore);
  REQUIRE(u2 == u1);
  REQUIRE(u3 == u1);
  REQUIRE(d2 == d1);
  REQUIRE(d3 == d1);
#else
  WARN("built without OpenMP: one thread only, nothing to compare");
#endif
}
