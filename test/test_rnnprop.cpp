// RNNprop: its step against an independent double-precision transcription of the authors'
// formulas, its segment backward against finite differences (double), the moment reset, and the
// learner's config and checkpoints through the engine.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>

#include "engine/learner_io.h"
#include "kernels/rng.h"
#include "learners/rnnprop.h"
#include "test/fd_check.h"
#include "test/temp_dir.h"

using namespace l2o;
using l2o_test::central_diff;
using l2o_test::require_close;

namespace {

std::vector<double> random_vec(int64_t n, double scale, uint64_t seed) {
  Rng r(seed, 9);
  std::vector<double> v(n);
  for (auto& x : v) x = scale * (2 * r.uniform() - 1);
  return v;
}

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// One coordinate of RNNprop written out from meta_rnnprop_train.py and networks.py (RNNprop,
// StandardDeepLSTM with preprocess "fc", tanh_output) and Sonnet's LSTM: no shared code with
// the engine. phi is addressed by the learner's parameter block names.
struct Reference {
  std::map<std::string, const double*> p;
  int P, H0, H1;
  double m = 0, v = 0;
  std::vector<double> h0, c0, h1, c1;
  int64_t t = 0;
  bool swap_inputs = false;  // a mistake to catch: [g~, m~] instead of [m~, g~]

  Reference(const Rnnprop<double>& l, const std::vector<double>& phi) {
    for (const auto& b : l.param_blocks()) p[b.name] = phi.data() + b.offset;
    P = static_cast<int>(l.config().projection);
    H0 = static_cast<int>(l.config().hidden[0]);
    H1 = static_cast<int>(l.config().hidden[1]);
    h0.assign(H0, 0);
    c0.assign(H0, 0);
    h1.assign(H1, 0);
    c1.assign(H1, 0);
  }
  // Sonnet LSTM: [x, h] W + b split into i, j, f, o; c' = s(f + 1) c + s(i) tanh(j); h' = s(o) tanh(c').
  static void lstm(const std::vector<double>& x, const double* w, const double* b, std::vector<double>& h,
                   std::vector<double>& c) {
    const int H = static_cast<int>(h.size()), K = static_cast<int>(x.size()) + H;
    std::vector<double> xh = x;
    xh.insert(xh.end(), h.begin(), h.end());
    for (int u = 0; u < H; ++u) {
      double z[4];
      for (int gte = 0; gte < 4; ++gte) {
        z[gte] = b[gte * H + u];
        for (int k = 0; k < K; ++k) z[gte] += xh[k] * w[k * 4 * H + gte * H + u];
      }
      c[u] = sig(z[2] + 1.0) * c[u] + sig(z[0]) * std::tanh(z[1]);
      h[u] = sig(z[3]) * std::tanh(c[u]);
    }
  }
  double step(double g) {
    ++t;
    m = 0.95 * m + 0.05 * g;
    v = 0.95 * v + 0.05 * g * g;
    const double mh = m / (1 - std::pow(0.95, t)), vh = v / (1 - std::pow(0.95, t));
    double x0 = mh / (std::sqrt(vh) + 1e-8), x1 = g / (std::sqrt(vh) + 1e-8);
    if (swap_inputs) std::swap(x0, x1);
    std::vector<double> proj(P);
    for (int k = 0; k < P; ++k) {
      const double z = x0 * p["input_projection/w"][k] + x1 * p["input_projection/w"][P + k] + p["input_projection/b"][k];
      proj[k] = z > 0 ? z : std::exp(z) - 1;  // tf.nn.elu (TF 1's Elu: exp(x) - 1)
    }
    lstm(proj, p["lstm_0/w"], p["lstm_0/b"], h0, c0);
    lstm(h0, p["lstm_1/w"], p["lstm_1/b"], h1, c1);
    double o = p["linear/b"][0];
    for (int k = 0; k < H1; ++k) o += h1[k] * p["linear/w"][k];
    return 0.01 * std::tanh(o);
  }
};

// Non-zero biases everywhere, so every parameter block is exercised.
std::vector<double> test_phi(const Rnnprop<double>& l, uint64_t seed) {
  std::vector<double> phi(l.num_params());
  l.init_params(seed, phi.data());
  const auto noise = random_vec(l.num_params(), 0.2, seed + 100);
  for (size_t i = 0; i < phi.size(); ++i) phi[i] += noise[i];
  return phi;
}

}  // namespace

TEST_CASE("RNNprop has the authors' parameter layout and 5,481 parameters", "[rnnprop]") {
  Rnnprop<float> rp(RnnpropConfig{});
  // input_projection 2x20 + 20, lstm_1 40x80 + 80, lstm_2 40x80 + 80, linear 20 + 1.
  REQUIRE(rp.num_params() == 60 + 3280 + 3280 + 21);
  REQUIRE(rp.param_blocks().front().name == "input_projection/w");
  REQUIRE(rp.param_blocks().front().shape == std::vector<int64_t>{2, 20});
  REQUIRE(rp.param_blocks()[2].shape == std::vector<int64_t>{40, 80});
  std::vector<float> phi(rp.num_params());
  rp.init_params(3, phi.data());
  const RnnpropDims<float> d = rnnprop_shape(RnnpropConfig{}, 1, 1).dims<float>();
  for (int64_t i = d.bp(); i < d.w0(); ++i) REQUIRE(phi[i] == 0.0f);  // Sonnet Linear: zero bias
  REQUIRE(phi[d.bo()] == 0.0f);
  double sum_sq = 0;  // input projection ~ TN(1/sqrt(2)): far wider than the LSTM weights
  for (int64_t i = d.wp(); i < d.bp(); ++i) sum_sq += phi[i] * phi[i];
  REQUIRE(std::sqrt(sum_sq / 40) > 0.4);
}

TEST_CASE("RNNprop steps match a transcription of the authors' formulas", "[rnnprop]") {
  RnnpropConfig cfg;
  cfg.hidden = {5, 4};
  cfg.projection = 6;
  Rnnprop<double> rp(cfg);
  const auto phi = test_phi(rp, 4);
  const int64_t n = 3;
  rp.reset(n, 0);
  std::vector<Reference> ref(n, Reference(rp, phi));
  std::vector<double> u(n);
  for (int t = 0; t < 12; ++t) {
    const auto g = random_vec(n, std::pow(10.0, -(t % 4)), 50 + t);  // magnitudes that vary by step
    rp.step(phi.data(), g.data(), u.data(), false);
    for (int64_t i = 0; i < n; ++i) {
      INFO("step " << t + 1 << ", coordinate " << i);
      REQUIRE(std::fabs(u[i] - ref[i].step(g[i])) <= 1e-12);
    }
  }
  // zero_state() resets the moments and the bias-correction count: the first step repeats.
  rp.zero_state();
  Reference fresh(rp, phi);
  const auto g = random_vec(n, 1.0, 50);
  rp.step(phi.data(), g.data(), u.data(), false);
  REQUIRE(std::fabs(u[0] - fresh.step(g[0])) <= 1e-12);
}

TEST_CASE("the authors' imported RNNprop optimizers step as their network", "[rnnprop][authors]") {
  for (const std::string name : {"rnnprop", "rnnprop_cl_il"}) {
    INFO("model " << name);
    LoadedLearner l = load_learner(L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/" + name + ".safetensors");
    REQUIRE(l.learner->type() == "rnnprop");
    nlohmann::json defaults = {{"type", "rnnprop"}};  // the stored config is our complete default
    parse_learner_config(SpecNode(defaults, "$.learner"));
    REQUIRE(nlohmann::json::parse(l.metadata.at("learner").get<std::string>()) == defaults);
    Rnnprop<double> shape(RnnpropConfig{});
    const std::vector<double> phi(l.phi.begin(), l.phi.end());
    const int64_t n = 6;
    l.learner->reset(n, 0);
    std::vector<Reference> ref(n, Reference(shape, phi)), swapped = ref;
    for (auto& r : swapped) r.swap_inputs = true;
    std::vector<float> u(n);
    double worst = 0, worst_swapped = 0, umax = 0;
    for (int t = 0; t < 8; ++t) {
      std::vector<float> g(n);
      for (int64_t i = 0; i < n; ++i) g[i] = static_cast<float>(std::pow(10.0, -i) * (t % 3 == 1 ? -1.3 : 0.7));
      l.learner->step(l.phi.data(), g.data(), u.data(), false);
      for (int64_t i = 0; i < n; ++i) {
        const double r = ref[i].step(g[i]), rs = swapped[i].step(g[i]);
        worst = std::max(worst, std::fabs(u[i] - r) / (1e-7 + 1e-4 * std::fabs(r)));
        worst_swapped = std::max(worst_swapped, std::fabs(u[i] - rs) / (1e-7 + 1e-4 * std::fabs(r)));
        umax = std::max(umax, std::fabs(r));
      }
    }
    CHECK(umax > 1e-3);  // non-trivial updates
    CHECK(worst <= 1.0);
    CHECK(worst_swapped > 100);
  }
}

TEST_CASE("RNNprop segment backward matches finite differences of <r, u>", "[rnnprop]") {
  RnnpropConfig cfg;
  cfg.hidden = {4, 3};
  cfg.projection = 5;
  cfg.output_scale = 0.5;
  Rnnprop<double> rp(cfg);
  const int64_t n = 6, steps = 3;
  auto phi = test_phi(rp, 1);
  const std::vector<double> phi0 = phi;  // the state entering the segment is a constant (truncation)
  std::vector<std::vector<double>> grads;
  for (int64_t t = 0; t < steps + 2; ++t) grads.push_back(random_vec(n, 0.5, 10 + t));
  const auto r = random_vec(steps * n, 1.0, 20);
  std::vector<double> u(n);
  auto objective = [&](bool keep) {
    rp.reset(n, steps);
    for (int k = 0; k < 2; ++k) rp.step(phi0.data(), grads[steps + k].data(), u.data(), false);
    rp.begin_segment();
    double s = 0;
    for (int64_t t = 0; t < steps; ++t) {
      rp.step(phi.data(), grads[t].data(), u.data(), keep);
      for (int64_t i = 0; i < n; ++i) s += r[t * n + i] * u[i];
    }
    return s;
  };
  objective(true);
  std::vector<double> dphi(rp.num_params());
  rp.backward(phi.data(), r.data(), dphi.data());
  require_close(dphi, central_diff(phi, [&] { return objective(false); }), 1e-5, 1e-8);
  // Every block gets a gradient (a missed reduction would leave one at zero).
  for (const auto& b : rp.param_blocks()) {
    double mx = 0;
    for (int64_t i = 0; i < b.size(); ++i) mx = std::max(mx, std::fabs(dphi[b.offset + i]));
    INFO(b.name);
    REQUIRE(mx > 1e-6);
  }
}

TEST_CASE("RNNprop configs are read strictly and its checkpoints name their learner", "[rnnprop]") {
  nlohmann::json cfg = {{"type", "rnnprop"}};
  const LearnerConfig c = parse_learner_config(SpecNode(cfg, "$.learner"));
  REQUIRE(c.type == "rnnprop");
  REQUIRE(cfg["projection"] == 20);  // defaults written back
  REQUIRE(cfg["beta1"] == 0.95);
  nlohmann::json bad = {{"type", "rnnprop"}, {"hidden", {20, 20, 20}}};
  REQUIRE_THROWS_WITH(parse_learner_config(SpecNode(bad, "$.learner")),
                      Catch::Contains("$.learner.hidden") && Catch::Contains("at most 2 layers"));
  nlohmann::json dm_key = {{"type", "rnnprop"}, {"log_k", 5}};  // an L2O-DM key is not RNNprop's
  REQUIRE_THROWS_WITH(parse_learner_config(SpecNode(dm_key, "$.learner")), Catch::Contains("$.learner.log_k"));

  l2o_test::TempDir dir("rnnprop_ckpt");
  auto learner = make_learner<float>(c);
  std::vector<float> phi(learner->num_params());
  learner->init_params(7, phi.data());
  const std::string path = dir.file("rp.safetensors");
  save_learner(path, *learner, phi, cfg, {});
  LoadedLearner back = load_learner(path);
  REQUIRE(back.learner->type() == "rnnprop");
  REQUIRE(back.phi == phi);
  // An L2O-DM checkpoint's tensors do not fit an RNNprop config: the file and tensor are named.
  auto dm = make_learner<float>(LearnerConfig{});
  std::vector<float> dm_phi(dm->num_params(), 0.01f);
  const std::string mixed = dir.file("mixed.safetensors");
  save_learner(mixed, *dm, dm_phi, cfg, {});
  REQUIRE_THROWS_WITH(load_learner(mixed), Catch::Contains(mixed) && Catch::Contains("input_projection/w"));
}

TEST_CASE("the blocked RNNprop learner matches the fused twins the CUDA kernels are tested against",
          "[rnnprop][fused]") {
  RnnpropConfig cfg;
  Rnnprop<double> rp(cfg);
  const auto phi = test_phi(rp, 9);
  const int64_t n = CoordinatewiseLstm<double>::kBlockRows + 37, steps = 4;  // a partial second block
  RnnpropFusedShape s = rnnprop_shape(cfg, n, steps);
  std::vector<double> state(s.state_size(), 0.0), saved(s.saved_size()), ws(s.workspace_size()), c_init;
  std::vector<double> u(n), u_fused(n);
  int64_t t = 0;
  rp.reset(n, steps);
  for (int seg = 0; seg < 2; ++seg) {  // the second segment starts from a carried-in state and count
    rp.begin_segment();
    c_init = state;
    for (int64_t k = 0; k < steps; ++k) {
      const auto g = random_vec(n, std::pow(10.0, -k), 30 + 10 * seg + k);
      rp.step(phi.data(), g.data(), u.data(), true);
      rnnprop_fused_step_cpu<double>(s, &t, phi.data(), g.data(), state.data(), saved.data(), k, u_fused.data(),
                                     nullptr);
      for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(u[i] - u_fused[i]) <= 1e-13);
    }
    const auto r = random_vec(steps * n, 1.0, 70 + seg);
    std::vector<double> dphi(rp.num_params()), dphi_fused(rp.num_params());
    rp.backward(phi.data(), r.data(), dphi.data());
    rnnprop_fused_backward_cpu<double>(s, phi.data(), steps, saved.data(), c_init.data(), r.data(), ws.data(),
                                       dphi_fused.data());
    require_close(dphi, dphi_fused, 1e-10, 1e-12);
  }
}
