// Optimizee gradients against central finite differences, in double precision.
#include <catch2/catch.hpp>
#include <cmath>

#include "optimizees/mlp.h"
#include "optimizees/quadratic.h"
#include "test/alignment_check.h"

using namespace l2o;

namespace {

// Max relative error between the analytic gradient and central differences over all coordinates.
double max_grad_error(OptimizeeT<double>& opt, std::vector<double> theta, const Batch& batch) {
  const int64_t n = opt.num_params();
  std::vector<double> g(n);
  opt.loss_and_grad(theta.data(), batch, g.data());
  double worst = 0, gmax = 0;
  const double h = 1e-6;
  for (int64_t i = 0; i < n; ++i) {
    const double keep = theta[i];
    theta[i] = keep + h;
    const double fp = opt.loss_and_grad(theta.data(), batch, nullptr);
    theta[i] = keep - h;
    const double fm = opt.loss_and_grad(theta.data(), batch, nullptr);
    theta[i] = keep;
    const double fd = (fp - fm) / (2 * h);
    worst = std::max(worst, std::fabs(fd - g[i]) / (1e-7 + std::fabs(fd) + std::fabs(g[i])));
    gmax = std::max(gmax, std::fabs(g[i]));
  }
  REQUIRE(gmax > 1e-4);  // the check is not vacuous: gradients are far from zero
  return worst;
}

Dataset tiny_dataset(int64_t n, int side, int classes, uint64_t seed) {
  Dataset d;
  d.name = "tiny";
  d.n = n;
  d.height = d.width = side;
  d.num_classes = classes;
  Rng rng(seed, 9);
  d.images.resize(n * side * side);
  for (auto& x : d.images) x = static_cast<float>(rng.uniform());
  d.labels.resize(n);
  for (auto& y : d.labels) y = static_cast<int32_t>(rng.below(classes));
  return d;
}

}  // namespace

TEST_CASE("quadratic gradient matches finite differences", "[optimizee]") {
  Quadratic<double> q(5, 4, 0.5);  // larger init than the default so the gradient is not tiny
  std::vector<double> theta(q.num_params());
  q.init(7, theta.data());
  Batch b;
  REQUIRE(max_grad_error(q, theta, b) < 1e-6);
}

TEST_CASE("quadratic instance depends only on the seed", "[optimizee]") {
  Quadratic<float> a(128, 10, 0.01), b(128, 10, 0.01);
  REQUIRE(a.num_params() == 1280);
  std::vector<float> ta(1280), tb(1280);
  a.init(3, ta.data());
  b.init(3, tb.data());
  REQUIRE(ta == tb);
  Batch none;
  REQUIRE(a.loss_and_grad(ta.data(), none, nullptr) == b.loss_and_grad(tb.data(), none, nullptr));
  b.init(4, tb.data());
  REQUIRE(ta != tb);
  // At x ~ 0 the loss is mean ||y||^2 with y ~ U[0,1)^10: about 10/3.
  const float f0 = a.loss_and_grad(ta.data(), none, nullptr);
  REQUIRE(f0 > 2.5f);
  REQUIRE(f0 < 4.2f);
}

TEST_CASE("MLP gradients match finite differences for each activation and depth", "[optimizee]") {
  Dataset d = tiny_dataset(40, 3, 4, 11);
  for (Activation act : {Activation::sigmoid, Activation::relu, Activation::tanh}) {
    for (auto hidden : {std::vector<int64_t>{5}, std::vector<int64_t>{4, 3}}) {
      Mlp<double> mlp("t", d, hidden, act, 6, 0.5);
      std::vector<double> theta(mlp.num_params());
      mlp.init(5, theta.data());
      Rng rng(1, kStreamBatch);
      Batch b;
      mlp.sample_batch(rng, b);
      INFO("activation " << static_cast<int>(act) << " layers " << hidden.size());
      REQUIRE(max_grad_error(mlp, theta, b) < 1e-6);
    }
  }
}

TEST_CASE("MLP gradient bits do not depend on the buffers' alignment", "[optimizee]") {
  Dataset d = tiny_dataset(200, 28, 10, 2);
  Mlp<float> mlp("mlp_orig", d, {20}, Activation::sigmoid, 128, 0.01);
  std::vector<float> theta(mlp.num_params());
  mlp.init(1, theta.data());
  Rng rng(4, kStreamBatch);
  Batch b;
  mlp.sample_batch(rng, b);
  REQUIRE(std::isfinite(l2o_test::require_grad_bits_independent_of_alignment(mlp, theta, b)));
}

TEST_CASE("MLP-orig shape: 15,910 parameters and loss ln(10) at init", "[optimizee]") {
  Dataset d = tiny_dataset(200, 28, 10, 2);
  Mlp<float> mlp("mlp_orig", d, {20}, Activation::sigmoid, 128, 0.01);
  REQUIRE(mlp.num_params() == 784 * 20 + 20 + 20 * 10 + 10);
  std::vector<float> theta(mlp.num_params());
  mlp.init(1, theta.data());
  Rng rng(1, kStreamBatch);
  Batch b;
  mlp.sample_batch(rng, b);
  REQUIRE(b.idx.size() == 128);
  for (int32_t i : b.idx) REQUIRE((i >= 0 && i < 200));
  // With N(0, 0.01^2) weights the logits are near zero, so the loss is close to ln(10).
  REQUIRE(mlp.loss_and_grad(theta.data(), b, nullptr) == Approx(std::log(10.0)).epsilon(0.01));
}
