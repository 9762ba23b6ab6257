// Hand-designed optimizers checked against steps worked out by hand, in both the PyTorch forms
// (the "_torch" names) and TensorFlow 1's (the plain names, docs/fidelity.md), plus an independent
// double-precision re-derivation for Adam and a convergence sanity test.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/optim.h"
#include "learners/hand_optimizers.h"

using l2o::HandOptimizerConfig;
using l2o::make_hand_optimizer;

namespace {

// The 3-coordinate gradient sequence every hand check uses.
const float kG[3][3] = {{1.0f, -2.0f, 0.5f}, {0.5f, 1.0f, -1.0f}, {-1.0f, 0.5f, 2.0f}};

// |got - ref| <= atol + rtol*|ref| with a finite, non-zero reference (DESIGN.md 3.7).
void check_close(const float* got, const std::vector<double>& ref, double atol = 1e-7, double rtol = 2e-5) {
  for (size_t i = 0; i < ref.size(); ++i) {
    INFO("coordinate " << i << ": got " << got[i] << ", expected " << ref[i]);
    REQUIRE(std::isfinite(ref[i]));
    REQUIRE(ref[i] != 0.0);
    REQUIRE(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i]));
  }
}

std::unique_ptr<l2o::UpdateRule> make(const std::string& type, double lr) {
  HandOptimizerConfig cfg;
  cfg.type = type;
  cfg.lr = lr;
  return make_hand_optimizer(cfg);
}

// Runs the three hand steps and compares each against expected[step].
void check_three_steps(l2o::UpdateRule& rule, const std::vector<std::vector<double>>& expected) {
  rule.reset(3);
  float u[3];
  for (size_t t = 0; t < expected.size(); ++t) {
    INFO("step " << t + 1);
    rule.update(kG[t], u);
    check_close(u, expected[t]);
  }
}

}  // namespace

TEST_CASE("sgd: u = -lr g", "[optim]") {
  auto opt = make("sgd", 0.1);
  // -0.1 * g for each gradient; no state.
  check_three_steps(*opt, {{-0.1, 0.2, -0.05}, {-0.05, -0.1, 0.1}, {0.1, -0.05, -0.2}});
}

TEST_CASE("momentum (heavy ball) matches hand-computed steps", "[optim]") {
  auto opt = make("momentum", 0.1);  // mu = 0.9
  // v1 = g1 = (1, -2, 0.5)                           -> u1 = (-0.1, 0.2, -0.05)
  // v2 = 0.9 v1 + g2 = (1.4, -0.8, -0.55)            -> u2 = (-0.14, 0.08, 0.055)
  // v3 = 0.9 v2 + g3 = (0.26, -0.22, 1.505)          -> u3 = (-0.026, 0.022, -0.1505)
  check_three_steps(*opt, {{-0.1, 0.2, -0.05}, {-0.14, 0.08, 0.055}, {-0.026, 0.022, -0.1505}});
}

TEST_CASE("nag (PyTorch nesterov) matches hand-computed steps and differs from heavy ball", "[optim]") {
  auto opt = make("nag", 0.1);
  // Same buffer v as heavy ball, u = -lr (g + 0.9 v):
  // g1 + 0.9 v1 = 1.9 g1 = (1.9, -3.8, 0.95)                  -> u1 = (-0.19, 0.38, -0.095)
  // g2 + 0.9 v2 = (0.5+1.26, 1-0.72, -1-0.495) = (1.76, 0.28, -1.495)   -> u2 = (-0.176, -0.028, 0.1495)
  // g3 + 0.9 v3 = (-1+0.234, 0.5-0.198, 2+1.3545) = (-0.766, 0.302, 3.3545)
  //                                                           -> u3 = (0.0766, -0.0302, -0.33545)
  check_three_steps(*opt, {{-0.19, 0.38, -0.095}, {-0.176, -0.028, 0.1495}, {0.0766, -0.0302, -0.33545}});

  auto hb = make("momentum", 0.1);
  hb->reset(3);
  opt->reset(3);
  float u_hb[3], u_nag[3];
  hb->update(kG[0], u_hb);
  opt->update(kG[0], u_nag);
  for (int i = 0; i < 3; ++i) REQUIRE(std::fabs(u_hb[i] - u_nag[i]) > 1e-3f);
}

TEST_CASE("adam_torch matches hand-computed steps including bias correction", "[optim]") {
  auto opt = make("adam_torch", 0.1);  // b1 0.9, b2 0.999, eps 1e-8
  // t=1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2 -> u = -lr g/(|g| + eps) ~ -0.1 sign(g)
  //      (eps shifts it by ~1e-9: below the tolerance)
  // t=2: m = 0.09 g1 + 0.1 g2 = (0.14, -0.08, -0.055), bc1 = 1 - 0.81 = 0.19
  //      v = 0.000999 g1^2 + 0.001 g2^2 = (0.001249, 0.004996, 0.00124975), bc2 = 1 - 0.998001 = 0.001999
  //      m_hat = (0.736842, -0.421053, -0.289474), sqrt(v_hat) = (0.790451, 1.580901, 0.790688)
  //      u = -0.1 m_hat / sqrt(v_hat) = (-0.0932180, 0.0266337, 0.0366104)
  opt->reset(3);
  float u[3];
  opt->update(kG[0], u);
  check_close(u, {-0.1, 0.1, -0.1});
  opt->update(kG[1], u);
  check_close(u, {-0.0932180, 0.0266337, 0.0366104}, 1e-7, 1e-5);

  // t=3: the same formula re-derived in double, independently of the float kernel.
  double m[3], v[3];
  for (int i = 0; i < 3; ++i) {
    m[i] = 0.9 * (0.9 * 0.1 * kG[0][i] + 0.1 * kG[1][i]) + 0.1 * kG[2][i];
    v[i] = 0.999 * (0.999 * 0.001 * kG[0][i] * kG[0][i] + 0.001 * kG[1][i] * kG[1][i]) +
           0.001 * kG[2][i] * kG[2][i];
  }
  std::vector<double> ref(3);
  for (int i = 0; i < 3; ++i)
    ref[i] = -0.1 * (m[i] / (1 - 0.9 * 0.9 * 0.9)) / (std::sqrt(v[i] / (1 - 0.999 * 0.999 * 0.999)) + 1e-8);
  opt->update(kG[2], u);
  check_close(u, ref, 1e-7, 1e-4);  // bc2 at t=3 is ~0.003: float rounding of 1-b2^t dominates
}

TEST_CASE("adagrad_torch matches hand-computed steps", "[optim]") {
  auto opt = make("adagrad_torch", 0.1);  // eps 1e-10
  // s1 = (1, 4, 0.25)      -> u1 = -0.1 g/|g| = (-0.1, 0.1, -0.1)
  // s2 = (1.25, 5, 1.25)   -> u2 = -0.1 (0.5/1.118034, 1/2.236068, -1/1.118034) = (-0.0447214, -0.0447214, 0.0894427)
  // s3 = (2.25, 5.25, 5.25)-> u3 = -0.1 (-1/1.5, 0.5/2.291288, 2/2.291288)    = (0.0666667, -0.0218218, -0.0872872)
  check_three_steps(*opt, {{-0.1, 0.1, -0.1},
                           {-0.0447214, -0.0447214, 0.0894427},
                           {0.0666667, -0.0218218, -0.0872872}});
}

TEST_CASE("rmsprop_torch matches hand-computed steps", "[optim]") {
  auto opt = make("rmsprop_torch", 0.01);  // alpha 0.99, eps 1e-8
  // s1 = 0.01 g1^2 = (0.01, 0.04, 0.0025), sqrt = (0.1, 0.2, 0.05) -> u1 = -0.01 (10, -10, 10)
  // s2 = 0.99 s1 + 0.01 g2^2 = (0.0124, 0.0496, 0.012475), sqrt = (0.1113553, 0.2227106, 0.1116915)
  //      -> u2 = -0.01 (4.490133, 4.490133, -8.953213)
  // s3 = 0.99 s2 + 0.01 g3^2 = (0.022276, 0.051604, 0.05235025), sqrt = (0.1492515, 0.2271651, 0.2288018)
  //      -> u3 = -0.01 (-6.700100, 2.201042, 8.741191)
  check_three_steps(*opt, {{-0.1, 0.1, -0.1},
                           {-0.0449013, -0.0449013, 0.0895321},
                           {0.0670010, -0.0220104, -0.0874119}});
}

TEST_CASE("adagrad (TF) starts its accumulator at 0.1 and has no epsilon", "[optim]") {
  auto opt = make("adagrad", 0.1);
  // acc1 = 0.1 + g1^2 = (1.1, 4.1, 0.35)   -> u1 = -0.1 g1/sqrt(acc1)
  // acc2 = (1.35, 5.1, 1.35)               -> u2 = -0.1 g2/sqrt(acc2)
  // acc3 = (2.35, 5.35, 5.35)              -> u3 = -0.1 g3/sqrt(acc3)
  check_three_steps(*opt, {{-0.0953463, 0.0987730, -0.0845154},
                           {-0.0430331, -0.0442807, 0.0860663},
                           {0.0652328, -0.0216169, -0.0864675}});
  // The first step at |g| = 1e-3 with lr 0.01: TF moves 0.01 * 1e-3 / sqrt(0.100001) = 3.16e-5,
  // PyTorch (accumulator from 0) moves ~lr = 0.01, about 316x more.
  const float g[1] = {1e-3f};
  float u_tf[1], u_torch[1];
  auto tf = make("adagrad", 0.01), torch = make("adagrad_torch", 0.01);
  tf->reset(1);
  torch->reset(1);
  tf->update(g, u_tf);
  torch->update(g, u_torch);
  check_close(u_tf, {-3.16226185e-5});
  check_close(u_torch, {-0.009999999});
}

TEST_CASE("rmsprop (TF) uses decay 0.9, eps 1e-10 inside the root and ms starting at 1", "[optim]") {
  auto opt = make("rmsprop", 0.01);
  // ms1 = 1 + (g1^2 - 1) 0.1 = (1, 1.3, 0.925)  -> u1 = -0.01 g1/sqrt(ms1 + 1e-10)
  check_three_steps(*opt, {{-0.01, 0.0175412, -0.00519875},
                           {-0.00519875, -0.00887357, 0.0103556},
                           {0.0103556, -0.00462646, -0.0179660}});
}

TEST_CASE("adam (TF) uses the epsilon-hat form, which differs from PyTorch's for small gradients", "[optim]") {
  // Gradients of size 1e-6, where eps = 1e-8 matters: TF's u1 = -lr_t m/(sqrt(v) + eps) with
  // lr_t = lr sqrt(1 - b2)/(1 - b1), PyTorch's u1 = -lr m_hat/(sqrt(v_hat) + eps).
  auto tf = make("adam", 0.1), torch = make("adam_torch", 0.1);
  tf->reset(3);
  torch->reset(3);
  const std::vector<std::vector<double>> want_tf = {{-0.0759747, 0.0863473, -0.0612574},
                                                    {-0.0726587, 0.0233326, 0.0285378},
                                                    {-0.00914864, 0.00539383, -0.0368755}};
  const std::vector<std::vector<double>> want_torch = {{-0.0990099, 0.0995025, -0.0980392},
                                                       {-0.0920534, 0.0264663, 0.0361531},
                                                       {-0.0109518, 0.00609281, -0.0416508}};
  for (int t = 0; t < 3; ++t) {
    INFO("step " << t + 1);
    float g[3], u[3];
    for (int i = 0; i < 3; ++i) g[i] = 1e-6f * kG[t][i];
    tf->update(g, u);
    check_close(u, want_tf[t], 1e-7, 1e-4);  // float rounding of 1 - b2^t, as for adam_torch
    torch->update(g, u);
    check_close(u, want_torch[t], 1e-7, 1e-4);
  }
}

TEST_CASE("adam_tf_apply_cpu steps parameters in place like adam_tf_update_cpu", "[optim]") {
  const int64_t n = 7;
  std::vector<float> p(n), p0(n), g(n), m1(n, 0.f), v1(n, 0.f), m2(n, 0.f), v2(n, 0.f), u(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = p0[i] = 0.1f * static_cast<float>(i) - 0.3f;
    g[i] = 1e-5f * std::sin(1.0f + static_cast<float>(i));
  }
  for (int64_t t = 1; t <= 3; ++t) {
    l2o::adam_tf_apply_cpu(n, p.data(), g.data(), m1.data(), v1.data(), 0.01f, 0.9f, 0.999f, 1e-8f, t);
    l2o::adam_tf_update_cpu(n, g.data(), m2.data(), v2.data(), u.data(), 0.01f, 0.9f, 0.999f, 1e-8f, t);
    for (int64_t i = 0; i < n; ++i) p0[i] += u[i];
  }
  for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(p[i] - p0[i]) <= 1e-6f);
  REQUIRE_THROWS_AS(l2o::adam_tf_apply_cpu(n, p.data(), g.data(), m1.data(), v1.data(), 0.01f, 0.9f, 0.999f, 1e-8f, 0),
                    l2o::Error);
}

TEST_CASE("reset() zeroes all state, including Adam's step counter", "[optim]") {
  for (const auto& type : l2o::hand_optimizer_names()) {
    INFO(type);
    auto opt = make(type, 0.1);
    opt->reset(3);
    float first[3], u[3];
    opt->update(kG[0], first);
    opt->update(kG[1], u);
    opt->update(kG[2], u);
    opt->reset(3);
    opt->update(kG[0], u);
    for (int i = 0; i < 3; ++i) REQUIRE(u[i] == first[i]);

    // A different size works too and starts from zero state.
    opt->reset(5);
    float g5[5] = {1.0f, -2.0f, 0.5f, 1.0f, -2.0f}, u5[5];
    opt->update(g5, u5);
    for (int i = 0; i < 5; ++i) REQUIRE(u5[i] == first[i % 3]);
  }
}

TEST_CASE("names and default learning rates", "[optim]") {
  REQUIRE(l2o::hand_optimizer_names() ==
          std::vector<std::string>{"sgd", "momentum", "nag", "adam", "adagrad", "rmsprop", "adam_torch",
                                   "adagrad_torch", "rmsprop_torch"});
  REQUIRE(make("adam", 0.01)->name() == "adam(lr=0.01)");
  REQUIRE(make("adagrad_torch", 0.01)->name() == "adagrad_torch(lr=0.01)");
  REQUIRE(make("rmsprop", 0.01)->name() == "rmsprop(lr=0.01)");
  REQUIRE(make("sgd", 0.1)->name() == "sgd(lr=0.1)");
  REQUIRE(make("nag", 0.05)->name() == "nag(lr=0.05)");
  HandOptimizerConfig cfg{"momentum", 0.01};
  cfg.momentum = 0.5;
  REQUIRE(make_hand_optimizer(cfg)->name() == "momentum(lr=0.01,momentum=0.5)");
  REQUIRE(l2o::default_lr("adam") == 0.001);
  REQUIRE(l2o::default_lr("adam_torch") == 0.001);
  for (const char* t : {"sgd", "momentum", "nag", "adagrad", "rmsprop", "adagrad_torch", "rmsprop_torch"})
    REQUIRE(l2o::default_lr(t) == 0.01);
  REQUIRE_THROWS_AS(l2o::default_lr("adma"), l2o::InputError);
}

TEST_CASE("bad optimizer configs throw InputError naming the value", "[optim]") {
  REQUIRE_THROWS_WITH(make("adma", 0.1),
                      "unknown optimizer \"adma\" (expected one of: sgd, momentum, nag, adam, adagrad, rmsprop, "
                      "adam_torch, adagrad_torch, rmsprop_torch)");
  REQUIRE_THROWS_WITH(make("adma", 0.1), Catch::Contains("unknown optimizer"));
  REQUIRE_THROWS_AS(make("adma", 0.1), l2o::InputError);
  REQUIRE_THROWS_WITH(make("sgd", 0.0), Catch::Contains("lr = 0"));
  REQUIRE_THROWS_WITH(make("adam", -0.5), Catch::Contains("lr = -0.5"));
  REQUIRE_THROWS_WITH(make("sgd", NAN), Catch::Contains("lr = nan"));

  HandOptimizerConfig cfg{"momentum", 0.01};
  cfg.momentum = 1.5;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("momentum = 1.5"));
  cfg = {"adam", 0.01};
  cfg.beta1 = 1.0;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("beta1 = 1"));
  cfg = {"adam", 0.01};
  cfg.beta2 = -0.1;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("beta2 = -0.1"));
  cfg = {"adagrad_torch", 0.01};
  cfg.eps = 0.0;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("eps = 0"));
  cfg = {"adagrad", 0.01};
  cfg.eps = 1e-8;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("TensorFlow's Adagrad has no epsilon"));
  cfg = {"rmsprop", 0.01};
  cfg.alpha = 1.0;
  REQUIRE_THROWS_WITH(make_hand_optimizer(cfg), Catch::Contains("alpha = 1"));
  // Hyperparameters a rule does not use are not checked.
  cfg = {"sgd", 0.01};
  cfg.momentum = 7.0;
  REQUIRE_NOTHROW(make_hand_optimizer(cfg));
}

TEST_CASE("adam_apply_cpu steps parameters in place like adam_update_cpu", "[optim]") {
  const int64_t n = 7;  // awkward size
  std::vector<float> p(n), p0(n), g(n), m1(n, 0.f), v1(n, 0.f), m2(n, 0.f), v2(n, 0.f), u(n);
  for (int64_t i = 0; i < n; ++i) {
    p[i] = p0[i] = 0.1f * static_cast<float>(i) - 0.3f;
    g[i] = std::sin(1.0f + static_cast<float>(i));
  }
  for (int64_t t = 1; t <= 3; ++t) {
    l2o::adam_apply_cpu(n, p.data(), g.data(), m1.data(), v1.data(), 0.01f, 0.9f, 0.999f, 1e-8f, t);
    l2o::adam_update_cpu(n, g.data(), m2.data(), v2.data(), u.data(), 0.01f, 0.9f, 0.999f, 1e-8f, t);
    for (int64_t i = 0; i < n; ++i) p0[i] += u[i];
  }
  // Tiny slack: -O3 -march=native may contract the two loops' arithmetic differently (FMA).
  for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(p[i] - p0[i]) <= 1e-6f);
  REQUIRE_THROWS_AS(
      l2o::adam_update_cpu(n, g.data(), m2.data(), v2.data(), u.data(), 0.01f, 0.9f, 0.999f, 1e-8f, 0),
      l2o::Error);
}

TEST_CASE("every hand optimizer minimises a diagonal quadratic", "[optim]") {
  // f(x) = 0.5 sum a_i x_i^2, grad = a x, from x0 = (1, -2, 3) with a = (1, 2, 3); f(x0) = 18.
  const double a[3] = {1, 2, 3};
  auto f = [&](const float* x) {
    double s = 0;
    for (int i = 0; i < 3; ++i) s += 0.5 * a[i] * x[i] * x[i];
    return s;
  };
  struct Case {
    const char* type;
    double lr;
  };
  // lr chosen per rule: SGD/momentum stable for lr*max(a) < 2 (resp. (1+mu)); the adaptive ones
  // take ~lr-sized steps, so their lr bounds the final distance.
  for (Case c : {Case{"sgd", 0.1}, Case{"momentum", 0.05}, Case{"nag", 0.05}, Case{"adam", 0.05},
                 Case{"adagrad", 0.5}, Case{"rmsprop", 0.03}, Case{"adam_torch", 0.05},
                 Case{"adagrad_torch", 0.5}, Case{"rmsprop_torch", 0.03}}) {
    INFO(c.type << " lr=" << c.lr);
    auto opt = make(c.type, c.lr);
    float x[3] = {1.0f, -2.0f, 3.0f}, g[3], u[3];
    const double f0 = f(x);
    opt->reset(3);
    for (int step = 0; step < 200; ++step) {
      for (int i = 0; i < 3; ++i) g[i] = static_cast<float>(a[i]) * x[i];
      opt->update(g, u);
      for (int i = 0; i < 3; ++i) x[i] += u[i];
    }
    const double f_end = f(x);
    INFO("f0 = " << f0 << ", f(x_200) = " << f_end);
    REQUIRE(std::isfinite(f_end));
    REQUIRE(f_end < 1e-2 * f0);
  }
}
