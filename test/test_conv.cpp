// Conv optimizee ops and the whole ConvNet against central finite differences (double), plus
// parameter counts and the loss at init on real MNIST.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fd_check.h"
#include "test/alignment_check.h"
#include "kernels/conv.h"
#include "engine/evaluate.h"
#include "engine/imitation.h"
#include "engine/segment.h"
#include "learners/hand_optimizers.h"
#include "learners/l2o_dm.h"
#include "optimizees/convnet.h"

using namespace l2o;
using l2o_test::central_diff;
using l2o_test::require_close;

namespace {

std::vector<double> randn(int64_t count, uint64_t seed, double std = 1.0) {
  Rng rng(seed, 11);
  std::vector<double> v(count);
  for (auto& x : v) x = rng.normal() * std;
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

const double kRtol = 1e-5, kAtol = 1e-8;

Dataset tiny_images(int64_t n, int channels, int side, int classes, uint64_t seed) {
  Dataset d;
  d.name = "tiny";
  d.n = n;
  d.channels = channels;
  d.height = d.width = side;
  d.num_classes = classes;
  Rng rng(seed, 9);
  d.images.resize(n * d.dim());
  for (auto& x : d.images) x = static_cast<float>(rng.uniform());
  d.labels.resize(n);
  for (auto& y : d.labels) y = static_cast<int32_t>(rng.below(classes));
  return d;
}

}  // namespace

TEST_CASE("conv/pool output sizes follow VALID floor division", "[conv]") {
  REQUIRE(conv_out_size(28, 3, 1) == 26);
  REQUIRE(pool2_out_size(26) == 13);
  REQUIRE(conv_out_size(13, 5, 1) == 9);
  REQUIRE(pool2_out_size(9) == 4);
  REQUIRE(conv_out_size(32, 3, 2) == 15);
  REQUIRE(pool2_out_size(15) == 7);
  REQUIRE(conv_out_size(7, 5, 2) == 2);
  REQUIRE(pool2_out_size(2) == 1);
}

TEST_CASE("conv2d forward matches a direct loop", "[conv]") {
  ConvShape s;
  s.n = 2, s.c_in = 3, s.h = 9, s.w = 7, s.c_out = 4, s.k = 3, s.stride = 2;
  auto x = randn(s.in_size(), 1), w = randn(s.weight_size(), 2), b = randn(s.c_out, 3);
  std::vector<double> y(s.out_size()), col(s.col_size());
  conv2d_forward_cpu(s, x.data(), w.data(), b.data(), y.data(), col.data());
  const int64_t ho = s.h_out(), wo = s.w_out();
  REQUIRE(ho == 4);
  REQUIRE(wo == 3);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t co = 0; co < s.c_out; ++co)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          double ref = b[co];
          for (int64_t ci = 0; ci < s.c_in; ++ci)
            for (int64_t a = 0; a < s.k; ++a)
              for (int64_t c = 0; c < s.k; ++c)
                ref += w[((co * s.c_in + ci) * s.k + a) * s.k + c] *
                       x[((n * s.c_in + ci) * s.h + i * s.stride + a) * s.w + j * s.stride + c];
          REQUIRE(y[((n * s.c_out + co) * ho + i) * wo + j] == Approx(ref).epsilon(1e-12).margin(1e-12));
        }
}

TEST_CASE("conv2d backward matches finite differences (stride 1 and 2, odd sizes)", "[conv]") {
  for (int64_t stride : {1, 2}) {
    ConvShape s;
    s.n = 2, s.c_in = 3, s.h = 7, s.w = 9, s.c_out = 5, s.k = 3, s.stride = stride;
    INFO("stride " << stride);
    auto x = randn(s.in_size(), 10 + stride), w = randn(s.weight_size(), 20 + stride),
         b = randn(s.c_out, 30 + stride), r = randn(s.out_size(), 40 + stride);
    std::vector<double> y(s.out_size()), col(s.col_size()), dcol(s.col_size());
    auto objective = [&] {
      conv2d_forward_cpu(s, x.data(), w.data(), b.data(), y.data(), col.data());
      return dot(r, y);
    };
    std::vector<double> dx(x.size()), dw(w.size()), db(b.size());
    conv2d_backward_cpu(s, x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data(), col.data(), dcol.data());
    require_close(dx, central_diff(x, objective), kRtol, kAtol);
    require_close(dw, central_diff(w, objective), kRtol, kAtol);
    require_close(db, central_diff(b, objective), kRtol, kAtol);
  }
}

TEST_CASE("batch norm (training mode) backward matches finite differences", "[conv]") {
  const int64_t n = 3, c = 4;
  const int64_t hw = GENERATE(5, 37);  // 37: the 16-lane sums' full blocks and their remainder
  auto x = randn(n * c * hw, 50, 2.0), gamma = randn(c, 51), beta = randn(c, 52), r = randn(n * c * hw, 53);
  std::vector<double> y(x.size()), xhat(x.size()), inv_std(c);
  auto objective = [&] {
    batchnorm_forward_cpu(n, c, hw, x.data(), gamma.data(), beta.data(), 1e-5, y.data(), xhat.data(),
                          inv_std.data());
    // r . y plus a non-linear term so the mean-and-scale directions (which r . y alone nearly ignores) matter
    double f = dot(r, y);
    for (double v : y) f += 0.25 * v * v;
    return f;
  };
  objective();
  // per channel: mean 0, variance var/(var+eps) ~ 1 before gamma/beta
  for (int64_t ch = 0; ch < c; ++ch) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) m += xhat[(i * c + ch) * hw + j];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) v += xhat[(i * c + ch) * hw + j] * xhat[(i * c + ch) * hw + j];
    REQUIRE(std::fabs(m / (n * hw)) < 1e-12);
    REQUIRE(v / (n * hw) == Approx(1.0).epsilon(1e-4));
  }
  std::vector<double> dy(y.size());
  for (size_t i = 0; i < y.size(); ++i) dy[i] = r[i] + 0.5 * y[i];
  std::vector<double> dx(x.size()), dgamma(c), dbeta(c);
  batchnorm_backward_cpu(n, c, hw, dy.data(), xhat.data(), gamma.data(), inv_std.data(), dx.data(), dgamma.data(),
                         dbeta.data());
  require_close(dx, central_diff(x, objective), kRtol, kAtol);
  require_close(dgamma, central_diff(gamma, objective), kRtol, kAtol);
  require_close(dbeta, central_diff(beta, objective), kRtol, kAtol);
}

TEST_CASE("ReLU and 2x2 max-pool backward match finite differences", "[conv]") {
  SECTION("relu") {
    auto x = randn(37, 60), r = randn(37, 61);
    for (auto& v : x)
      if (std::fabs(v) < 1e-3) v = 0.5;  // keep away from the kink
    std::vector<double> y(x.size()), dx(x.size());
    auto objective = [&] {
      relu_forward_cpu(static_cast<int64_t>(x.size()), x.data(), y.data());
      return dot(r, y);
    };
    objective();
    relu_backward_cpu(static_cast<int64_t>(x.size()), y.data(), r.data(), dx.data());
    require_close(dx, central_diff(x, objective), kRtol, kAtol);
  }
  SECTION("max-pool, odd sizes (floor)") {
    const int64_t nc = 3, h = 7, w = 5;  // -> 3x2; last row and column dropped
    auto x = randn(nc * h * w, 62), r = randn(nc * 3 * 2, 63);
    std::vector<double> y(r.size()), dx(x.size());
    std::vector<int32_t> am(r.size());
    auto objective = [&] {
      maxpool2x2_forward_cpu(nc, h, w, x.data(), y.data(), am.data());
      return dot(r, y);
    };
    objective();
    for (int64_t p = 0; p < nc; ++p)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          const double* xp = &x[p * h * w];
          const double ref = std::max(std::max(xp[2 * i * w + 2 * j], xp[2 * i * w + 2 * j + 1]),
                                      std::max(xp[(2 * i + 1) * w + 2 * j], xp[(2 * i + 1) * w + 2 * j + 1]));
          REQUIRE(y[(p * 3 + i) * 2 + j] == ref);
        }
    maxpool2x2_backward_cpu(nc, h, w, r.data(), am.data(), dx.data());
    require_close(dx, central_diff(x, objective), kRtol, kAtol);
    for (int64_t p = 0; p < nc; ++p)
      for (int64_t j = 0; j < w; ++j) REQUIRE(dx[p * h * w + 6 * w + j] == 0.0);  // the cut-off row
  }
}

TEST_CASE("ConvNet loss gradient matches finite differences", "[conv]") {
  struct Case {
    int channels, side;
    ConvNetArch arch;
  };
  std::vector<Case> cases = {
      {2, 10, {{{3, 3, 1}, {4, 3, 1}}, true}},   // 10 -> 8 -> 4 -> 2 -> 1
      {3, 19, {{{3, 3, 2}, {4, 2, 2}}, true}},   // 19 -> 9 -> 4 -> 2 -> 1, both stride 2
      {1, 11, {{{3, 2, 1}, {2, 3, 1}}, false}},  // 11 -> 10 -> 5 -> 3 -> 1, linear logits
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    INFO("case " << ci);
    const Case& k = cases[ci];
    Dataset d = tiny_images(12, k.channels, k.side, 5, 70 + ci);
    ConvNet<double> net("t", d, k.arch, 4, 0.3);
    std::vector<double> theta(net.num_params());
    net.init(5 + ci, theta.data());
    // move BN gamma/beta and biases off their init values so their gradients are generic
    Rng rng(99, 1);
    for (auto& v : theta) v += 0.1 * rng.normal();
    Rng brng(3, kStreamBatch);
    Batch batch;
    net.sample_batch(brng, batch);
    REQUIRE(batch.idx.size() == 4);
    std::vector<double> g(theta.size());
    const double loss = net.loss_and_grad(theta.data(), batch, g.data());
    REQUIRE(std::isfinite(loss));
    REQUIRE(net.loss_and_grad(theta.data(), batch, nullptr) == loss);
    auto fd = central_diff(theta, [&] { return net.loss_and_grad(theta.data(), batch, nullptr); });
    require_close(g, fd, kRtol, kAtol);
  }
}

TEST_CASE("ConvNet batch norm uses the authors' epsilon 1e-3 (tf.layers.batch_normalization default)", "[conv]") {
  // One 1x1 conv block (1 -> 1 channel) on 2x2 images, pooled to 1x1, FC 1 -> 2, linear logits.
  // With a small kernel (0.01, as at init) the conv output's batch variance is ~1e-5, so the
  // epsilon dominates the normalisation: eps 1e-3 and 1e-5 give clearly different losses.
  REQUIRE(kBnEps == 1e-3);
  Dataset d;
  d.name = "bn_eps";
  d.n = 2;
  d.channels = 1;
  d.height = d.width = 2;
  d.num_classes = 2;
  d.images = {0.0f, 0.25f, 0.5f, 1.0f, 0.75f, 0.125f, 0.0f, 0.5f};
  d.labels = {0, 1};
  ConvNetArch arch;
  arch.blocks = {{1, 1, 1}};
  arch.relu_logits = false;
  ConvNet<double> net("bn_eps", d, arch, 2, 0.01);
  REQUIRE(net.num_params() == 8);  // w, bias, gamma, beta, FC W (1x2), FC b (2)
  const double w = 0.01, gamma = 1.5, beta = 0.1;
  const std::vector<double> theta = {w, 0.0, gamma, beta, 1.0, -1.0, 0.05, -0.05};
  Batch batch;
  batch.idx = {0, 1};
  auto expected = [&](double eps) {
    double mu = 0, var = 0;
    for (float x : d.images) mu += w * x;
    mu /= 8;
    for (float x : d.images) var += (w * x - mu) * (w * x - mu);
    var /= 8;  // biased, as TF's training-mode batch norm normalises with
    double loss = 0;
    for (int i = 0; i < 2; ++i) {
      double p = 0;  // max-pool over ReLU(BN) >= 0
      for (int j = 0; j < 4; ++j)
        p = std::max(p, std::max(0.0, gamma * (w * d.images[i * 4 + j] - mu) / std::sqrt(var + eps) + beta));
      const double l0 = p + 0.05, l1 = -p - 0.05;
      const double m = std::max(l0, l1), lse = m + std::log(std::exp(l0 - m) + std::exp(l1 - m));
      loss += lse - (d.labels[i] == 0 ? l0 : l1);
    }
    return loss / 2;
  };
  const double got = net.loss_and_grad(theta.data(), batch, nullptr);
  REQUIRE(got == Approx(expected(1e-3)).epsilon(1e-12));
  REQUIRE(std::fabs(expected(1e-3) - expected(1e-5)) > 0.1);  // the test can tell the two apart
}

TEST_CASE("conv_mnist and conv_cifar parameter counts", "[conv]") {
  // conv_mnist: 3*3*1*16+16 (conv1) + 2*16 (BN1) + 5*5*16*32+32 (conv2) + 2*32 (BN2) + 512*10+10 (FC)
  //           = 160 + 32 + 12832 + 64 + 5130 = 18218
  // conv_cifar: 3*3*3*16+16 + 2*16 + 5*5*16*32+32 + 2*32 + 32*1*1*10+10
  //           = 448 + 32 + 12832 + 64 + 330 = 13706
  Dataset mnist_like = tiny_images(1, 1, 28, 10, 1), cifar_like = tiny_images(1, 3, 32, 10, 2);
  ConvNet<float> m("m", mnist_like, conv_arch_by_name("conv_mnist"), 8, 0.01);
  ConvNet<float> c("c", cifar_like, conv_arch_by_name("conv_cifar"), 8, 0.01);
  REQUIRE(m.num_params() == 18218);
  REQUIRE(c.num_params() == 13706);
  REQUIRE_THROWS_AS(conv_arch_by_name("conv_imagenet"), InputError);
  // too small an image for the blocks is an input error, not a crash
  Dataset small = tiny_images(1, 1, 8, 10, 3);
  REQUIRE_THROWS_AS(ConvNet<float>("s", small, conv_arch_by_name("conv_mnist"), 8, 0.01), InputError);
}

TEST_CASE("conv problems: init, names, loss ~ ln 10 at init on MNIST", "[conv]") {
  ProblemConfig cfg = problem_config_by_name("conv_mnist");
  cfg.data_dir = L2O_SOURCE_DIR "/data";
  auto opt = make_optimizee<float>(cfg);
  REQUIRE(opt->name() == "conv_mnist");
  REQUIRE(opt->num_params() == 18218);
  std::vector<float> theta(opt->num_params()), theta2(opt->num_params()), g(opt->num_params());
  opt->init(1, theta.data());
  opt->init(1, theta2.data());
  REQUIRE(theta == theta2);
  // conv1 kernel ~ N(0, 0.01^2), bias 0, gamma 1, beta 0
  REQUIRE(theta[0] != 0.0f);
  REQUIRE(std::fabs(theta[0]) < 0.06f);
  REQUIRE(theta[144] == 0.0f);
  REQUIRE(theta[160] == 1.0f);
  REQUIRE(theta[176] == 0.0f);
  Rng brng(1, kStreamBatch);
  Batch batch;
  opt->sample_batch(brng, batch);
  REQUIRE(batch.idx.size() == 128);
  const float loss = opt->loss_and_grad(theta.data(), batch, g.data());
  REQUIRE(loss == Approx(std::log(10.0)).margin(0.1));
  double gn = 0;
  for (float v : g) gn += double(v) * v;
  REQUIRE(std::isfinite(gn));
  REQUIRE(gn > 0);

  ProblemConfig sc = problem_config_by_name("conv_cifar_standin");
  sc.data_dir = L2O_SOURCE_DIR "/data";
  auto standin = make_optimizee<float>(sc);
  REQUIRE(standin->name().find("standin") != std::string::npos);
  REQUIRE(standin->num_params() == 13706);
  standin->init(1, theta.data());
  Batch b2;
  standin->sample_batch(brng, b2);
  const float l2 = standin->loss_and_grad(theta.data(), b2, g.data());
  REQUIRE(l2 == Approx(std::log(10.0)).margin(0.1));
  REQUIRE(problem_config_by_name("conv_cifar").dataset == "cifar10");
}

// As for the MLP (test_optimizees): the same gradient bits wherever theta and grad sit.
TEST_CASE("ConvNet gradient bits do not depend on the buffers' alignment", "[conv]") {
  // 16 and 20 channels, 20 classes and a batch of 64: long enough for Eigen's vectorised reductions.
  Dataset d = tiny_images(12, 2, 10, 20, 71);
  ConvNet<float> net("t", d, {{{16, 3, 1}, {20, 3, 1}}, true}, 64, 0.3);
  std::vector<float> theta(net.num_params());
  net.init(6, theta.data());
  Rng rng(5, kStreamBatch);
  Batch batch;
  net.sample_batch(rng, batch);
  l2o_test::require_grad_bits_independent_of_alignment(net, theta, batch);
}

namespace {

// Moves only the given coordinates (by +0.05 each step); learned() as asked.
class RangesRule : public UpdateRule {
 public:
  RangesRule(CoordRanges r, bool learned) : r_(std::move(r)), learned_(learned) {}
  std::string name() const override { return learned_ ? "learned" : "hand"; }
  void reset(int64_t n) override { n_ = n; }
  void update(const float*, float* u) override {
    std::fill(u, u + n_, 0.0f);
    for (const auto& x : r_) std::fill(u + x.first, u + x.second, 0.05f);
  }
  bool learned() const override { return learned_; }

 private:
  CoordRanges r_;
  bool learned_;
  int64_t n_ = 0;
};

}  // namespace

TEST_CASE("ConvNet: learned optimizers leave BN gamma/beta alone unless learned_trains_bn", "[conv]") {
  Dataset d = tiny_images(16, 1, 12, 10, 81);
  const ConvNetArch arch{{{4, 3, 1}, {6, 3, 1}}, true};
  ConvNet<float> frozen("f", d, arch, 8, 0.1), trains("t", d, arch, 8, 0.1, /*learned_trains_bn=*/true);
  const CoordRanges r = frozen.learner_frozen();
  REQUIRE(trains.learner_frozen().empty());
  REQUIRE(r.size() == 2);
  const ConvNetLayout lay = frozen.layout();
  for (size_t b = 0; b < 2; ++b) {
    REQUIRE(r[b].first == lay.blocks[b].off_gamma);
    REQUIRE(r[b].second == lay.blocks[b].off_beta + lay.blocks[b].conv.c_out);
  }
  REQUIRE(ranges_size(r) == 2 * (4 + 6));

  // Through evaluate() on conv_mnist: a rule that moves only gamma/beta changes nothing when it is
  // learned (the curve equals doing nothing), and does when hand-designed or with learned_trains_bn.
  ProblemConfig cfg = problem_config_by_name("conv_mnist");
  cfg.data_dir = L2O_SOURCE_DIR "/data";
  const CoordRanges bn = make_optimizee<float>(cfg)->learner_frozen();
  REQUIRE(ranges_size(bn) == 2 * (16 + 32));
  auto curve = [&](UpdateRule& rule, bool learned_trains_bn) {
    ProblemConfig c = cfg;
    c.learned_trains_bn = learned_trains_bn;
    return evaluate(rule, rule.name(), "conv_mnist", c, 3, {5}).losses.at(0);
  };
  RangesRule nothing({}, true), learned(bn, true), hand(bn, false);
  const auto still = curve(nothing, false);
  REQUIRE(curve(learned, false) == still);
  REQUIRE(curve(learned, true) != still);
  REQUIRE(curve(hand, false) != still);
}

TEST_CASE("meta and imitation segments leave a ConvNet's frozen BN coordinates alone", "[conv]") {
  Dataset d = tiny_images(16, 1, 12, 10, 82);
  const ConvNetArch arch{{{4, 3, 1}, {6, 3, 1}}, true};
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params());
  dm.init_params(4, phi.data());
  for (bool trains : {false, true}) {
    INFO("learned_trains_bn = " << trains);
    ConvNet<float> net("n", d, arch, 8, 0.1, trains);
    const int64_t n = net.num_params();
    const CoordRanges bn = ConvNet<float>("x", d, arch, 8, 0.1).learner_frozen();
    auto bn_moved = [&](const std::vector<float>& a, const std::vector<float>& b) {
      int64_t moved = 0;
      for (const auto& r : bn)
        for (int64_t i = r.first; i < r.second; ++i) moved += a[i] != b[i];
      return moved;
    };
    std::vector<float> theta(n), theta0, dl_du, u, dphi(dm.num_params()), delta, g;
    net.init(1, theta.data());
    theta0 = theta;
    dm.reset(n, 5);
    dm.zero_state();
    Rng batches(1, kStreamBatch);
    auto r = meta_segment<float>(dm, phi.data(), net, theta.data(), batches, 5, dl_du, u, dphi.data());
    REQUIRE(r.finite);
    REQUIRE(bn_moved(theta, theta0) == (trains ? ranges_size(bn) : 0));

    // Imitation: the teacher (hand-designed) trains BN either way, but a frozen coordinate adds no loss.
    HandOptimizerConfig tc;
    tc.type = "adam";
    tc.lr = 0.01;
    auto teacher = make_hand_optimizer(tc);
    teacher->reset(n);
    net.init(1, theta.data());
    dm.zero_state();
    Rng batches2(2, kStreamBatch);
    auto ri = imitation_segment<float>(dm, phi.data(), net, *teacher, theta.data(), batches2, 5, 1.0, dl_du, u,
                                       delta, g, dphi.data());
    REQUIRE(ri.finite);
    REQUIRE(bn_moved(theta, theta0) == ranges_size(bn));
    for (const auto& fr : bn)
      for (int64_t i = fr.first; i < fr.second; ++i) REQUIRE((dl_du[4 * n + i] == 0.0f) == !trains);
  }
}
