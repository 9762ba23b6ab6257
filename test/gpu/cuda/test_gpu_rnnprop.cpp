// The fused RNNprop kernels against their CPU twins, and the CUDA learner against the CPU learner
// over whole segments (the device step counter, the moment reset).
#include "kernels/rnnprop_fused.h"
#include "learners/learner_factory.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

RnnpropFusedShape rp_shape(int64_t n, int64_t slots) {
  RnnpropFusedShape s;
  s.n = n;
  s.slots = slots;
  return s;
}

std::vector<float> init_phi(uint64_t seed) {
  Rnnprop<float> rp(RnnpropConfig{});
  std::vector<float> phi(rp.num_params());
  rp.init_params(seed, phi.data());
  const auto noise = random_floats(rp.num_params(), -0.05f, 0.05f, seed + 1);  // non-zero biases too
  for (size_t i = 0; i < phi.size(); ++i) phi[i] += noise[i];
  return phi;
}

// Gradients over many magnitudes (the moments normalise them; tiny ones stress eps).
std::vector<float> gradients(int64_t n, uint64_t seed) {
  auto g = random_floats(n, -1.0f, 1.0f, seed);
  for (int64_t i = 0; i < n; ++i) g[i] *= std::pow(10.0f, -static_cast<float>(i % 11));
  return g;
}

}  // namespace

TEST_CASE("fused RNNprop steps and segment backward: GPU matches the CPU twin", "[gpu][fused][rnnprop]") {
  for (int64_t n : sizes()) {
    INFO("n = " << n);
    const int64_t steps = 4;
    const RnnpropFusedShape s = rp_shape(n, steps);
    const auto phi = init_phi(5);
    std::vector<float> state = random_floats(s.state_size(), -0.5f, 0.5f, 1);
    for (int64_t i = 0; i < 2 * n; ++i) state[i] = std::fabs(state[i]);  // v >= 0 (row 1); m any sign
    const std::vector<float> c_init = state;
    std::vector<float> saved(s.saved_size(), 0.0f), u(n), theta = random_floats(n, -1.0f, 1.0f, 3);
    Guarded<float> d_phi(phi), d_state(state), d_saved{saved}, d_u{u}, d_theta(theta);
    Guarded<int64_t> d_t{std::vector<int64_t>{3}};  // a carried-in count: bias correction of steps 4..7
    int64_t t = 3;
    for (int64_t k = 0; k < steps; ++k) {
      const auto g = gradients(n, 10 + k);
      Guarded<float> d_g(g);
      rnnprop_fused_step_cpu<float>(s, &t, phi.data(), g.data(), state.data(), saved.data(), k, u.data(),
                                    theta.data());
      rnnprop_fused_step_cuda(s, d_t.data(), d_phi.data(), d_g.data(), d_state.data(), d_saved.data(), k, d_u.data(),
                              d_theta.data());
      require_close(d_u.get(), u, 1e-4, 1e-5, "u");
    }
    REQUIRE(d_t.get()[0] == t);
    require_close(d_state.get(), state, 1e-4, 1e-5, "state");
    require_close(d_saved.get(), saved, 1e-4, 1e-5, "saved activations");
    require_close(d_theta.get(), theta, 1e-5, 1e-6, "theta");

    const auto dl_du = random_floats(steps * n, -1.0f, 1.0f, 8);
    std::vector<float> ws(s.workspace_size()), dphi(s.num_params());
    rnnprop_fused_backward_cpu<float>(s, phi.data(), steps, saved.data(), c_init.data(), dl_du.data(), ws.data(),
                                      dphi.data());
    Guarded<float> d_sv(saved), d_c(c_init), d_du(dl_du), d_ws{std::vector<float>(s.workspace_size())};
    Guarded<float> d_dphi{std::vector<float>(s.num_params(), NAN)};
    rnnprop_fused_backward_cuda(s, d_phi.data(), steps, d_sv.data(), d_c.data(), d_du.data(), d_ws.data(),
                                d_dphi.data());
    require_close(d_dphi.get(), dphi, 1e-3, 1e-4, "dphi");
    d_ws.get();
  }
}

TEST_CASE("the CUDA RNNprop learner equals the CPU learner over segments and a moment reset", "[gpu][rnnprop]") {
  LearnerConfig cfg;
  cfg.type = "rnnprop";
  auto cpu = make_learner<float>(cfg, Backend::cpu);
  auto gpu = make_learner<float>(cfg, Backend::cuda);
  const int64_t n = 1000, steps = 5;
  const auto phi = init_phi(11);
  cpu->reset(n, steps);
  gpu->reset(n, steps);
  compare_learners_over_segments(*cpu, *gpu, phi, n, steps, gradients, {1e-4, 1e-5}, {1e-3, 1e-4});
}
