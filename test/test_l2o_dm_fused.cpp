// The fused two-layer L2O-DM ops (the CPU twins of the CUDA kernels): equal to the blocked
// learner step by step, and their segment backward matches finite differences.
#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/rng.h"
#include "kernels/l2o_dm_fused.h"
#include "kernels/l2o_dm_fused_fixed.h"
#include "learners/l2o_dm.h"
#include "test/fd_check.h"

using namespace l2o;

namespace {

std::vector<double> random_vec(int64_t n, double scale, uint64_t seed) {
  Rng r(seed, 11);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * (2 * r.uniform() - 1);
  return v;
}

}  // namespace

TEST_CASE("fused L2O-DM step and backward equal the blocked learner", "[lstm][fused]") {
  for (double log_k : {5.0, 0.0}) {
    L2oDmConfig cfg;
    cfg.log_k = log_k;
    const int64_t n = 300, warm = 3, steps = 5;  // 300 coordinates: two of the learner's 256-row blocks
    L2oDm<double> dm(cfg);
    const L2oDmFusedShape s = fused_shape(cfg, n, steps);
    REQUIRE(s.num_params() == dm.num_params());
    std::vector<double> phi(dm.num_params());
    dm.init_params(3, phi.data());
    dm.reset(n, steps);
    std::vector<double> state(s.state_size(), 0.0), saved(s.saved_size(), -7.0), c_init, ws(s.workspace_size());
    std::vector<double> u_ref(n), u(n), dl_du(steps * n);
    for (int64_t t = 0; t < warm + steps; ++t) {
      if (t == warm) {
        dm.begin_segment();
        c_init = state;
      }
      const bool save = t >= warm;
      // Gradients spanning LogAndSign's clipped and unclipped ranges.
      auto g = random_vec(n, 1.0, 100 + t);
      for (int64_t i = 0; i < n; ++i) g[i] *= std::pow(10.0, -6.0 * (i % 7) / 6.0);
      dm.step(phi.data(), g.data(), u_ref.data(), save);
      l2o_dm_fused_step_cpu<double>(s, phi.data(), g.data(), state.data(), save ? saved.data() : nullptr,
                                    t - warm, u.data(), nullptr);
      for (int64_t i = 0; i < n; ++i) {
        INFO("log_k " << log_k << " step " << t << " coordinate " << i);
        REQUIRE(std::fabs(u[i] - u_ref[i]) <= 1e-13 + 1e-11 * std::fabs(u_ref[i]));
      }
    }
    dl_du = random_vec(steps * n, 1.0, 9);
    std::vector<double> dphi_ref(dm.num_params()), dphi(dm.num_params(), NAN);
    dm.backward(phi.data(), dl_du.data(), dphi_ref.data());
    l2o_dm_fused_backward_cpu<double>(s, phi.data(), steps, saved.data(), c_init.data(), dl_du.data(), ws.data(),
                                      dphi.data());
    l2o_test::require_close(dphi, dphi_ref, 1e-9, 1e-12);
  }
}

TEST_CASE("fused L2O-DM segment backward matches finite differences", "[lstm][fused]") {
  L2oDmFusedShape s;
  s.n = 5;
  s.slots = 4;
  s.in = 2;
  s.H0 = 3;
  s.H1 = 4;
  s.output_scale = 0.5;  // large enough that phi's effect is well above the difference noise
  const int64_t steps = 3, n = s.n;
  auto phi = random_vec(s.num_params(), 0.6, 1);
  auto state0 = random_vec(s.state_size(), 0.8, 2);  // a carried-in state: c_init matters
  auto r = random_vec(steps * n, 1.0, 3);
  std::vector<std::vector<double>> g;
  for (int64_t t = 0; t < steps; ++t) g.push_back(random_vec(n, 0.05, 10 + t));
  std::vector<double> state, saved(s.saved_size()), u(n), ws(s.workspace_size());
  auto objective = [&]() {  // sum_t <r_t, u_t> as a function of phi
    state = state0;
    double f = 0;
    for (int64_t t = 0; t < steps; ++t) {
      l2o_dm_fused_step_cpu<double>(s, phi.data(), g[t].data(), state.data(), saved.data(), t, u.data(), nullptr);
      for (int64_t i = 0; i < n; ++i) f += r[t * n + i] * u[i];
    }
    return f;
  };
  objective();
  std::vector<double> dphi(s.num_params());
  l2o_dm_fused_backward_cpu<double>(s, phi.data(), steps, saved.data(), state0.data(), r.data(), ws.data(),
                                    dphi.data());
  l2o_test::require_close(dphi, l2o_test::central_diff(phi, objective), 1e-6, 1e-9);
}

TEST_CASE("fused L2O-DM step applies theta += u and rejects shapes it cannot run", "[lstm][fused]") {
  L2oDmFusedShape s;
  s.n = 9;
  auto phi = random_vec(s.num_params(), 0.3, 4);
  auto g = random_vec(s.n, 0.1, 5);
  std::vector<double> state(s.state_size(), 0.0), u(s.n), theta(s.n, 1.5);
  l2o_dm_fused_step_cpu<double>(s, phi.data(), g.data(), state.data(), nullptr, 0, u.data(), theta.data());
  for (int64_t i = 0; i < s.n; ++i) REQUIRE(theta[i] == 1.5 + u[i]);
  REQUIRE(std::fabs(u[0]) > 0);
  s.H1 = kFusedMaxHidden + 1;
  REQUIRE_THROWS_WITH(l2o_dm_fused_step_cpu<double>(s, phi.data(), g.data(), state.data(), nullptr, 0, u.data(),
                                                    nullptr),
                      Catch::Contains("2 LSTM layers of 1..32 units") && Catch::Contains("hidden [20, 33]"));
}

// The 20-20 fast path (fixed sizes, packed phi: what the CUDA kernels run) does the generic code's
// arithmetic in the same order. The CPU twin's outputs were bit-identical before and after it moved
// to the fast path (bench/NOTES.md), but a compiler may contract multiply-adds differently in the
// two code shapes, so this test allows a few ulp.
TEST_CASE("fused L2O-DM fast path equals the generic per-coordinate code", "[lstm][fused]") {
  auto close = [](const std::vector<float>& a, const std::vector<float>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      INFO("index " << i);
      REQUIRE(std::fabs(a[i] - b[i]) <= 1e-6f * std::fabs(a[i]) + 1e-9f);
    }
  };
  for (int in : {2, 1}) {
    L2oDmFusedShape s;
    s.n = 1;
    s.slots = 4;
    s.in = in;
    s.log_k = in == 2 ? 5.0 : 0.0;
    const FusedDims<float> d = s.dims<float>();
    REQUIRE(fused_fixed_in(d) == in);
    std::vector<float> phi(s.num_params()), pk(s.num_params());
    Rng r(7, 1);
    for (auto& x : phi) x = static_cast<float>(0.6 * r.uniform() - 0.3);
    for (int j = 0; j < static_cast<int>(pk.size()); ++j) pk[j] = phi[fused_packed_source(j, in, s.H0, s.H1)];
    std::vector<float> st_a(s.state_size()), saved_a(s.saved_size()), saved_b(s.saved_size());
    for (auto& x : st_a) x = static_cast<float>(r.uniform() - 0.5);
    std::vector<float> st_b = st_a, c_init = st_a, dl_du(s.slots);
    for (int64_t t = 0; t < s.slots; ++t) {
      const float g = static_cast<float>((r.uniform() - 0.5) * std::pow(10.0, -2.0 * t));
      const float ua = fused_coord_step(d, phi.data(), g, st_a.data(), saved_a.data() + t);
      const float ub = in == 2 ? fused_coord_step_fixed<float, 2, 20, 20>(d, pk.data(), g, st_b.data(), saved_b.data() + t)
                               : fused_coord_step_fixed<float, 1, 20, 20>(d, pk.data(), g, st_b.data(), saved_b.data() + t);
      close({ua}, {ub});
      dl_du[t] = static_cast<float>(r.uniform() - 0.5);
    }
    close(st_a, st_b);
    close(saved_a, saved_b);
    std::vector<float> dz_a(4 * 40 * s.slots), dz_b(dz_a.size());
    const int64_t dz1 = 4 * 20 * s.slots;
    fused_coord_bptt(d, phi.data(), s.slots, saved_a.data(), c_init.data(), dl_du.data(), dz_a.data(),
                     dz_a.data() + dz1);
    if (in == 2)
      fused_coord_bptt_fixed<float, 2, 20, 20>(d, pk.data(), s.slots, saved_b.data(), c_init.data(), dl_du.data(),
                                               dz_b.data(), dz_b.data() + dz1);
    else
      fused_coord_bptt_fixed<float, 1, 20, 20>(d, pk.data(), s.slots, saved_b.data(), c_init.data(), dl_du.data(),
                                               dz_b.data(), dz_b.data() + dz1);
    close(dz_a, dz_b);
  }
}
