// The CPU L2O-Scale step runs its parameters in blocks of 8 lanes (kernels/l2o_scale_cpu.cpp); the
// CUDA twin runs l2o_scale_math.h's per-parameter functions one thread per parameter. Here the two
// orders of the same arithmetic are compared on the CPU, records and state included, over tensors
// that are not multiples of the block (so short blocks, and a tensor of one parameter).
#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/l2o_scale_ops.h"
#include "kernels/rng.h"
#include "learners/l2o_scale.h"

using namespace l2o;
using namespace l2o::lsc;

namespace {

// One step as the CUDA twin sequences it (kernels/l2o_scale.cu): the per-parameter functions over
// each tensor, with its level 1 between the features and the finish, then the global level.
template <typename T>
void per_parameter_step(const L2oScaleShape& s, const T* phi, const T* g, const L2oScaleState<T>& st, int64_t slot,
                        T* u) {
  const L2oScaleLayout& L = s.L;
  const int64_t n = s.n;
  T* gr = st.rec_g + slot * L.wg;
  for (int j = 0; j < L.H2; ++j) gr[L.g_h2p + j] = st.h2[j];
  double sum = 0;
  for (int64_t p = 0; p < n; ++p) sum += st.lr[p];
  gr[L.g_meanlr] = static_cast<T>(sum / n);
  for (int k = 0; k < s.tensors; ++k) {
    const int64_t o = s.offs[k], m = s.offs[k + 1] - o;
    T* tr = st.rec_t + (slot * s.tensors + k) * L.wt;
    for (int j = 0; j < kS; ++j) {
      bool forced = true;
      for (int64_t i = 0; i < m; ++i) forced = forced && st.ms[(o + i) * kS + j] == T(0);
      tr[L.t_forced + j] = forced ? T(1) : T(0);
    }
    lsc_tensor_bias(L, phi, st.h1 + k * L.H1, gr + L.g_h2p, tr);
    T* x1 = tr + L.t_x1;
    for (int j = 0; j < L.X1; ++j) x1[j] = 0;
    double sq = 0;
    for (int64_t p = o; p < o + m; ++p) {
      T* R = st.rec_p + (slot * n + p) * L.wp;
      lsc_param_forward(L, phi, static_cast<const T*>(tr), gr[L.g_meanlr], g[p], st.h0 + p * L.H0, st.acc + p * kS,
                        st.ms + p * kS, st.scl[p], st.inp[p], st.lr[p], R);
      for (int j = 0; j < L.H0; ++j) x1[j] += R[L.o_h0n + j];
      for (int j = 0; j < kF; ++j) x1[L.H0 + j] += R[L.o_f + j];
      const T dr = lsc_param_direction(L, phi, R);
      sq += static_cast<double>(dr) * dr;
    }
    for (int j = 0; j < L.X1; ++j) x1[j] /= static_cast<T>(m);
    lsc_tensor_level1(L, phi, gr + L.g_h2p, tr);
    for (int j = 0; j < L.H1; ++j) st.h1[k * L.H1 + j] = tr[L.t_h1n + j];
    const T rms = std::sqrt(static_cast<T>(sq / m) + T(1e-16));
    tr[L.t_rms] = rms;
    for (int64_t p = o; p < o + m; ++p)
      u[p] = lsc_param_finish(L, phi, rms, st.rec_p + (slot * n + p) * L.wp, st.h0 + p * L.H0, st.acc + p * kS,
                              st.ms + p * kS, st.scl + p, st.inp + p, st.lr + p);
  }
  lsc_global_level2(L, phi, st.rec_t + (slot * s.tensors + s.tensors - 1) * L.wt + L.t_h1n, gr);
  for (int j = 0; j < L.H2; ++j) st.h2[j] = gr[L.g_h2n + j];
}

template <typename T>
double worst_relative(const std::vector<T>& a, const std::vector<T>& b, double floor) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(std::isfinite(static_cast<double>(a[i])));
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])) / (floor + std::fabs(double(b[i]))));
  }
  return worst;
}

// tolerance: relative, above an absolute floor (float: the polynomial approximations contract into
// FMAs differently in scalar and in vector code, by an ulp or so a step; double is exact).
template <typename T>
void compare_orders(double tolerance, double floor) {
  L2oScaleConfig cfg;
  cfg.hidden = {10, 20, 20};
  L2oScale<T> host(cfg);
  const std::vector<int64_t> sizes = {13, 1, 8, 21};
  const int64_t n = 43, steps = 4;
  host.set_tensor_sizes(sizes);
  host.reset(n, steps);
  std::vector<T> phi(host.num_params());
  host.init_params(5, phi.data());
  Rng rng(7, 3);
  for (auto& w : phi) w += static_cast<T>(0.05 * (2 * rng.uniform() - 1));  // zero-initialised blocks too
  host.build_initial_state(phi.data());
  const L2oScaleShape s = host.shape();
  std::vector<T> state_a = host.host_state(), state_b = state_a;
  std::vector<T> rec_a(s.records_size(), T(0)), rec_b = rec_a;
  const L2oScaleState<T> a = l2o_scale_state_view(s, state_a.data(), rec_a.data());
  const L2oScaleState<T> b = l2o_scale_state_view(s, state_b.data(), rec_b.data());
  std::vector<T> u_a(n), u_b(n), g(n);
  double umax = 0;
  for (int64_t t = 0; t < steps + 2; ++t) {
    for (int64_t i = 0; i < n; ++i)  // magnitudes from 1 to 1e-4, a zero gradient at the first step
      g[i] = (t == 0 && i == 9) ? T(0) : static_cast<T>((2 * rng.uniform() - 1) * std::pow(10.0, -double(i % 5)));
    const int64_t slot = std::min(t, steps);  // the last two steps reuse the scratch record
    l2o_scale_step_cpu<T>(s, phi.data(), g.data(), a, slot, u_a.data());
    per_parameter_step<T>(s, phi.data(), g.data(), b, slot, u_b.data());
    INFO("step " << t);
    CHECK(worst_relative(u_a, u_b, floor) <= tolerance);
    for (T x : u_b) umax = std::max(umax, std::fabs(double(x)));
  }
  CHECK(worst_relative(state_a, state_b, floor) <= tolerance);
  CHECK(worst_relative(rec_a, rec_b, floor) <= tolerance);
  CHECK(umax > 1e-6);
}

}  // namespace

TEST_CASE("the blocked CPU L2O-Scale step equals the per-parameter functions of the CUDA twin", "[l2o_scale]") {
  SECTION("double") { compare_orders<double>(1e-13, 1e-300); }
  SECTION("float") { compare_orders<float>(1e-3, 1e-6); }  // measured 5e-5 (records), 4e-7 (u)
}
