// The L2O-Scale ops against their CPU twins (several tensors of uneven sizes, a carried-in state),
// and the CUDA learner against the CPU learner over segments, an epoch reset and a carried state.
#include <string>
#include <utility>

#include "kernels/l2o_scale_ops.h"
#include "learners/l2o_scale.h"
#include "learners/learner_factory.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

std::vector<float> init_phi(const L2oScale<float>& l, uint64_t seed) {
  std::vector<float> phi(l.num_params());
  l.init_params(seed, phi.data());
  const auto noise = random_floats(l.num_params(), -0.05f, 0.05f, seed + 1);  // zero-initialised blocks too
  for (size_t i = 0; i < phi.size(); ++i) phi[i] += noise[i];
  return phi;
}

// Gradients over several magnitudes (the momenta are RMS-normalised).
std::vector<float> gradients(int64_t n, uint64_t seed) {
  auto g = random_floats(n, -1.0f, 1.0f, seed);
  for (int64_t i = 0; i < n; ++i) g[i] *= std::pow(10.0f, -static_cast<float>(i % 5));
  return g;
}

// n split into up to three tensors of uneven sizes.
std::vector<int64_t> split(int64_t n) {
  if (n < 3) return {n};
  const int64_t a = n / 2, b = n / 3;
  return {a, b, n - a - b};
}

// One tolerance per part of `got` (offset, size, name): a part far smaller than the largest (the
// mean squares go as g^2) is then checked at its own scale. An all-zero reference part must be zero.
struct Part {
  int64_t offset, size;
  std::string name;
};
void require_close_parts(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<Part>& parts,
                         double rtol, double atol_frac) {
  for (const Part& p : parts) {
    const std::vector<float> g(got.begin() + p.offset, got.begin() + p.offset + p.size);
    const std::vector<float> r(ref.begin() + p.offset, ref.begin() + p.offset + p.size);
    bool all_zero = true;
    for (float v : r) all_zero = all_zero && v == 0.0f;
    INFO("part " << p.name);
    if (all_zero)
      REQUIRE(g == r);
    else
      require_close(g, r, rtol, atol_frac, p.name.c_str());
  }
}

std::vector<Part> state_parts(const L2oScaleShape& s) {
  const int64_t n = s.n;
  std::vector<Part> v;
  int64_t at = 0;
  for (auto [size, name] : std::vector<std::pair<int64_t, const char*>>{{n * s.L.H0, "h0"},
                                                                         {n * lsc::kS, "acc"},
                                                                         {n * lsc::kS, "ms"},
                                                                         {n, "scl"},
                                                                         {n, "inp"},
                                                                         {n, "lr"},
                                                                         {s.tensors * s.L.H1, "h1"},
                                                                         {s.L.H2, "h2"}}) {
    v.push_back({at, size, name});
    at += size;
  }
  REQUIRE(at == s.state_size());
  return v;
}

std::vector<Part> phi_parts(const L2oScale<float>& l) {
  std::vector<Part> v;
  for (const ParamBlock& b : l.param_blocks()) v.push_back({b.offset, b.size(), b.name});
  return v;
}

}  // namespace

TEST_CASE("L2O-Scale ops: the CUDA step and segment backward match the CPU twins", "[gpu][l2o_scale]") {
  for (int64_t n : sizes()) {
    INFO("n = " << n);
    const int64_t steps = 3;
    L2oScale<float> host(L2oScaleConfig{});
    host.set_tensor_sizes(split(n));
    host.reset(n, steps);
    const auto phi = init_phi(host, 3);
    host.build_initial_state(phi.data());
    // Two CPU steps first: the ops then start from a carried-in state with non-zero mean squares.
    std::vector<float> u(n), state, records(host.shape().records_size(), 0.0f);
    for (int k = 0; k < 2; ++k) host.step(phi.data(), gradients(n, 50 + k).data(), u.data(), false);
    state = host.host_state();
    L2oScaleShape s = host.shape();
    L2oScaleState<float> cpu = l2o_scale_state_view(s, state.data(), records.data());
    const std::vector<int64_t> offs = host.tensor_offsets();
    Guarded<int64_t> d_offs(offs);
    L2oScaleShape ds = s;
    ds.offs = d_offs.data();
    const std::vector<float> state0 = state;
    const auto dl_du = random_floats(steps * n, -1.0f, 1.0f, 8);
    Guarded<float> d_phi(phi), d_du(dl_du);
    // The GPU's sequence: steps from state0, then the backward. Records and workspace start as NaN,
    // so an entry read before it is written shows up in u or dphi.
    struct GpuRun {
      std::vector<float> u, state, dphi;
    };
    auto run_gpu = [&](bool compare) {
      GpuRun out;
      Guarded<float> d_state(state0), d_rec{std::vector<float>(records.size(), NAN)}, d_u(u);
      L2oScaleState<float> gpu = l2o_scale_state_view(ds, d_state.data(), d_rec.data());
      for (int64_t k = 0; k < steps; ++k) {
        const auto g = gradients(n, 10 + k);
        Guarded<float> d_g(g);
        if (compare) l2o_scale_step_cpu<float>(s, phi.data(), g.data(), cpu, k, u.data());
        l2o_scale_step_cuda(ds, d_phi.data(), d_g.data(), gpu, k, d_u.data());
        out.u = d_u.get();
        if (compare) require_close(out.u, u, 1e-3, 1e-5, "u");
      }
      out.state = d_state.get();
      Guarded<float> d_ws{std::vector<float>(s.workspace_size(), NAN)};
      Guarded<float> d_dphi{std::vector<float>(host.num_params(), NAN)};
      l2o_scale_backward_cuda(ds, d_phi.data(), steps, gpu, d_du.data(), d_ws.data(), d_dphi.data());
      out.dphi = d_dphi.get();
      d_ws.get();  // the guard regions
      d_rec.get();
      return out;
    };
    const GpuRun first = run_gpu(true);
    require_close(first.state, state, 1e-3, 1e-5, "state");
    require_close_parts(first.state, state, state_parts(s), 1e-3, 1e-4);

    std::vector<float> ws(s.workspace_size()), dphi(host.num_params());
    l2o_scale_backward_cpu<float>(s, phi.data(), steps, cpu, dl_du.data(), ws.data(), dphi.data());
    require_close(first.dphi, dphi, 2e-3, 1e-4, "dphi");
    // Per parameter block: a block whose gradient is far below the largest one's (the levels fed
    // back through the next step's biases) is checked at its own scale.
    require_close_parts(first.dphi, dphi, phi_parts(host), 2e-3, 1e-3);

    // Deterministic (kernels/l2o_scale.cu): the same inputs give the same bits.
    const GpuRun second = run_gpu(false);
    REQUIRE(second.u == first.u);
    REQUIRE(second.state == first.state);
    REQUIRE(second.dphi == first.dphi);
  }
}

TEST_CASE("the CUDA L2O-Scale learner equals the CPU learner over segments, a reset and a carried state",
          "[gpu][l2o_scale]") {
  LearnerConfig cfg;
  cfg.type = "l2o_scale";
  auto cpu = make_learner<float>(cfg, Backend::cpu);
  auto gpu = make_learner<float>(cfg, Backend::cuda);
  const int64_t n = 1000, steps = 4;
  const auto phi = init_phi(L2oScale<float>(L2oScaleConfig{}), 11);
  for (auto* l : {cpu.get(), gpu.get()}) {
    l->set_tensor_sizes({600, 390, 10});
    l->reset(n, steps);
  }
  compare_learners_over_segments(*cpu, *gpu, phi, n, steps, gradients, {1e-3, 1e-5}, {2e-3, 1e-4});
  // The carried state moves from the CUDA learner to the CPU one (a resumed run may change backend).
  const std::vector<float> carried = gpu->carried_state();
  require_close(carried, cpu->carried_state(), 1e-3, 1e-5, "carried state");
  cpu->set_carried_state(carried, "gpu");
  std::vector<float> u_cpu(n), u_gpu(n);
  const auto g = gradients(n, 999);
  cpu->step(phi.data(), g.data(), u_cpu.data(), false);
  gpu->step(phi.data(), g.data(), u_gpu.data(), false);
  require_close(u_gpu, u_cpu, 1e-4, 1e-6, "u after the carried state");
}
