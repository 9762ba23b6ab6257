// The fused L2O-DM kernels against their CPU twins at the op-test sizes.
#include "kernels/l2o_dm_fused.h"
#include "learners/l2o_dm.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

L2oDmFusedShape dm_shape(int64_t n, int64_t slots, bool log_and_sign) {
  L2oDmFusedShape s;
  s.n = n;
  s.slots = slots;
  s.in = log_and_sign ? 2 : 1;
  s.log_k = log_and_sign ? 5.0 : 0.0;
  return s;
}

std::vector<float> init_phi(const L2oDmFusedShape& s, uint64_t seed) {
  L2oDmConfig c;
  if (s.in == 1) c.log_k = 0;
  L2oDm<float> dm(c);
  std::vector<float> phi(dm.num_params());
  dm.init_params(seed, phi.data());
  return phi;
}

// Gradients over many magnitudes, so LogAndSign's clipped and linear parts are both used.
std::vector<float> gradients(int64_t n, uint64_t seed) {
  auto g = random_floats(n, -1.0f, 1.0f, seed);
  for (int64_t i = 0; i < n; ++i) g[i] *= std::pow(10.0f, -static_cast<float>(i % 9));
  return g;
}

}  // namespace

TEST_CASE("fused L2O-DM step: GPU matches the CPU twin", "[gpu][fused]") {
  for (bool las : {true, false}) {
    for (int64_t n : sizes()) {
      INFO("n = " << n << (las ? ", LogAndSign" : ", raw gradient"));
      const L2oDmFusedShape s = dm_shape(n, 3, las);
      const auto phi = init_phi(s, 5);
      const auto state0 = random_floats(s.state_size(), -0.8f, 0.8f, 1);  // a carried-in state
      const auto g = gradients(n, 2);
      const auto theta0 = random_floats(n, -1.0f, 1.0f, 3);
      std::vector<float> state = state0, saved(s.saved_size(), 0.0f), u(n), theta = theta0;
      l2o_dm_fused_step_cpu<float>(s, phi.data(), g.data(), state.data(), saved.data(), 1, u.data(), theta.data());

      Guarded<float> d_phi(phi), d_g(g), d_state(state0), d_saved{std::vector<float>(s.saved_size(), 0.0f)},
          d_u{std::vector<float>(n, 0.0f)}, d_theta(theta0);
      l2o_dm_fused_step_cuda(s, d_phi.data(), d_g.data(), d_state.data(), d_saved.data(), 1, d_u.data(),
                             d_theta.data());
      require_close(d_u.get(), u, 1e-4, 1e-5, "u");
      require_close(d_state.get(), state, 1e-4, 1e-5, "state");
      require_close(d_saved.get(), saved, 1e-4, 1e-5, "saved activations");
      require_close(d_theta.get(), theta, 1e-5, 1e-6, "theta");
    }
  }
}

TEST_CASE("fused L2O-DM segment backward: GPU matches the CPU twin", "[gpu][fused]") {
  for (int64_t n : sizes()) {
    INFO("n = " << n);
    const int64_t steps = 3;
    const L2oDmFusedShape s = dm_shape(n, 4, true);
    const auto phi = init_phi(s, 6);
    std::vector<float> state = random_floats(s.state_size(), -0.5f, 0.5f, 7), c_init = state;
    std::vector<float> saved(s.saved_size(), 0.0f), u(n);
    for (int64_t t = 0; t < steps; ++t) {
      const auto g = gradients(n, 10 + t);
      l2o_dm_fused_step_cpu<float>(s, phi.data(), g.data(), state.data(), saved.data(), t, u.data(), nullptr);
    }
    const auto dl_du = random_floats(steps * n, -1.0f, 1.0f, 8);
    std::vector<float> ws(s.workspace_size()), dphi(s.num_params());
    l2o_dm_fused_backward_cpu<float>(s, phi.data(), steps, saved.data(), c_init.data(), dl_du.data(), ws.data(),
                                     dphi.data());

    Guarded<float> d_phi(phi), d_saved(saved), d_c(c_init), d_du(dl_du), d_ws{std::vector<float>(s.workspace_size())};
    Guarded<float> d_dphi{std::vector<float>(s.num_params(), NAN)};
    l2o_dm_fused_backward_cuda(s, d_phi.data(), steps, d_saved.data(), d_c.data(), d_du.data(), d_ws.data(),
                               d_dphi.data());
    // Sums over up to 47,730 terms in another order: a looser relative bound, scaled by max |dphi|.
    require_close(d_dphi.get(), dphi, 1e-3, 1e-4, "dphi");
    d_ws.get();  // the workspace's guards too
  }
}

// The kernels not covered above: the generic (not 20-20) step and BPTT kernels, and the 20-20
// fast path's BPTT without LogAndSign (one input feature). H0 = H1 = 32 (12,833 weights, 51 KB)
// needs the opt-in to more than 48 KB of dynamic shared memory (phi_smem).
TEST_CASE("fused L2O-DM generic sizes and the one-feature BPTT: GPU matches the CPU twin", "[gpu][fused]") {
  for (int H0 : {20, 7, 32}) {
    for (int64_t n : {int64_t{33}, int64_t{257}}) {
      INFO("H0 = " << H0 << ", n = " << n);
      L2oDmFusedShape s = dm_shape(n, 3, H0 != 20);
      s.H0 = H0;
      s.H1 = H0 == 7 ? 12 : H0;
      const int64_t steps = 3;
      const auto phi = random_floats(s.num_params(), -0.3f, 0.3f, 9);
      std::vector<float> state = random_floats(s.state_size(), -0.5f, 0.5f, 10), c_init = state;
      std::vector<float> saved(s.saved_size(), 0.0f), u(n);
      Guarded<float> d_phi(phi), d_state(state), d_saved{saved}, d_u{u};
      for (int64_t t = 0; t < steps; ++t) {
        const auto g = gradients(n, 20 + t);
        Guarded<float> d_g(g);
        l2o_dm_fused_step_cpu<float>(s, phi.data(), g.data(), state.data(), saved.data(), t, u.data(), nullptr);
        l2o_dm_fused_step_cuda(s, d_phi.data(), d_g.data(), d_state.data(), d_saved.data(), t, d_u.data(), nullptr);
        require_close(d_u.get(), u, 1e-4, 1e-5, "u");
      }
      require_close(d_state.get(), state, 1e-4, 1e-5, "state");
      const auto dl_du = random_floats(steps * n, -1.0f, 1.0f, 11);
      std::vector<float> ws(s.workspace_size()), dphi(s.num_params());
      l2o_dm_fused_backward_cpu<float>(s, phi.data(), steps, saved.data(), c_init.data(), dl_du.data(), ws.data(),
                                       dphi.data());
      Guarded<float> d_sv(saved), d_c(c_init), d_du(dl_du), d_ws{std::vector<float>(s.workspace_size())};
      Guarded<float> d_dphi{std::vector<float>(s.num_params(), NAN)};
      l2o_dm_fused_backward_cuda(s, d_phi.data(), steps, d_sv.data(), d_c.data(), d_du.data(), d_ws.data(),
                                 d_dphi.data());
      require_close(d_dphi.get(), dphi, 1e-3, 1e-4, "dphi");
    }
  }
}
