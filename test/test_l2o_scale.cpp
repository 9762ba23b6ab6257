// L2O-Scale: its parameter layout and initialisers, its steps against an independent
// double-precision transcription of the authors' hierarchical_rnn.py / rnn_cells.py / utils.py
// (sharing no code with the learner), its segment backward against finite differences (double)
// on an optimizee of 3 tensors, and its config through the engine.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <numeric>

#include "engine/learner_io.h"
#include "engine/meta_step.h"
#include "kernels/rng.h"
#include "learners/l2o_scale.h"
#include "optimizees/quadratic.h"
#include "optimizees/task_batch.h"
#include "test/fd_check.h"
#include "test/temp_dir.h"

using namespace l2o;
using l2o_test::central_diff;
using l2o_test::require_close;

namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;  // rows

Vec random_vec(int64_t n, double scale, uint64_t seed) {
  Rng r(seed, 9);
  Vec v(n);
  for (auto& x : v) x = scale * (2 * r.uniform() - 1);
  return v;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The authors' HierarchicalRNN with metarun.py's flags, written out tensor by tensor as the TF
// graph computes it (matrices of rows): no shared code with the learner. Weights by block name.
struct Reference {
  std::map<std::string, Vec> w;
  int H0, H1, H2;
  double max_log_lr;
  std::vector<int64_t> sizes;
  // State per tensor (rows = its parameters), as the slot variables.
  std::vector<Mat> param, acc, ms;               // (m, H0), (m, 4), (m, 4)
  std::vector<Vec> scl_decay, inp_decay, log_lr;  // (m)
  std::vector<Vec> layer;                          // (H1) per tensor
  Vec global;

  Vec get(const std::string& name) const { return w.at(name); }

  // utils.affine: concat(inputs) @ Matrix + Bias, on every row.
  static Mat affine(const Mat& x, const Vec& W, const Vec& b, int out) {
    Mat y(x.size(), Vec(out));
    for (size_t i = 0; i < x.size(); ++i)
      for (int j = 0; j < out; ++j) {
        double s = b.empty() ? 0.0 : b[j];
        for (size_t k = 0; k < x[i].size(); ++k) s += x[i][k] * W[k * out + j];
        y[i][j] = s;
      }
    return y;
  }
  static Mat concat(const Mat& a, const Mat& b) {
    Mat y = a;
    for (size_t i = 0; i < y.size(); ++i) y[i].insert(y[i].end(), b[i].begin(), b[i].end());
    return y;
  }
  // rnn_cells.BiasGRUCell.__call__ with the injected bias (1, 3H) broadcast over rows.
  Mat bias_gru(const std::string& scope, const Mat& x, const Mat& h, const Vec& bias, int H) const {
    const Mat proj = affine(concat(x, h), get(scope + "/BiasGRUCell/gates/Affine/Matrix"),
                            get(scope + "/BiasGRUCell/gates/Affine/Bias"), 2 * H);
    Mat r(x.size(), Vec(H)), u(x.size(), Vec(H)), rh(x.size(), Vec(H));
    for (size_t i = 0; i < x.size(); ++i)
      for (int j = 0; j < H; ++j) {
        r[i][j] = sigmoid(proj[i][j] + bias[j]);
        u[i][j] = sigmoid(proj[i][H + j] + bias[H + j]);
        rh[i][j] = r[i][j] * h[i][j];
      }
    const Mat cp = affine(concat(x, rh), get(scope + "/BiasGRUCell/candidate/Affine/Matrix"),
                          get(scope + "/BiasGRUCell/candidate/Affine/Bias"), H);
    Mat out(x.size(), Vec(H));
    for (size_t i = 0; i < x.size(); ++i)
      for (int j = 0; j < H; ++j) out[i][j] = u[i][j] * h[i][j] + (1 - u[i][j]) * std::tanh(cp[i][j] + bias[2 * H + j]);
    return out;
  }

  Reference(const LearnerT<double>& l, const Vec& phi, const L2oScaleConfig& cfg, std::vector<int64_t> sz)
      : H0(int(cfg.hidden[0])), H1(int(cfg.hidden[1])), H2(int(cfg.hidden[2])), max_log_lr(cfg.max_log_lr),
        sizes(std::move(sz)) {
    for (const auto& b : l.param_blocks()) w[b.name] = Vec(phi.begin() + b.offset, phi.begin() + b.offset + b.size());
    // _initialize_state, with the engine's seeded draw of the initial log learning rates.
    Rng rng(cfg.lr_init_seed, kStreamLearnerState);
    const double lo = std::log(cfg.min_lr) / 2, hi = std::log(cfg.max_lr) / 2;
    for (int64_t m : sizes) {
      param.push_back(Mat(m, get("Level0_RNN/init_vector")));
      acc.push_back(Mat(m, Vec(4, 0.0)));
      ms.push_back(Mat(m, Vec(4, 0.0)));
      scl_decay.push_back(Vec(m, 0.0));
      inp_decay.push_back(Vec(m, 0.0));
      Vec lr(m);
      for (auto& x : lr) x = lo + (hi - lo) * rng.uniform();
      const double offset = lo + (hi - lo) * rng.uniform();
      for (auto& x : lr) x = std::min(std::max(x + offset, -33.0), max_log_lr);
      log_lr.push_back(lr);
      layer.push_back(get("Level1_RNN/init_vector"));
    }
    global = get("Level2_RNN/init_vector");
  }

  // _compute_updates for one step: returns theta_{t+1} - theta_t (= -update_step).
  Vec step(const Vec& g_all) {
    double sum_lr = 0, count = 0;
    for (const auto& v : log_lr)
      for (double x : v) sum_lr += x, ++count;
    const double mean_log_lr = sum_lr / count;
    Vec out;
    Vec last_layer_state;
    std::vector<Mat> new_param = param;
    std::vector<Vec> new_layer = layer;
    int64_t off = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      const int64_t m = sizes[k];
      // _compute_scaled_and_ms_grads
      Vec decay[4];
      decay[0] = inp_decay[k];
      for (int i = 1; i < 4; ++i) {
        decay[i] = decay[i - 1];
        for (auto& d : decay[i]) d = std::sqrt(d);
      }
      Mat scaled(m, Vec(4)), new_acc(m, Vec(4)), new_ms(m, Vec(4));
      for (int i = 0; i < 4; ++i) {
        bool all_zero = true;
        for (int64_t r = 0; r < m; ++r) all_zero = all_zero && ms[k][r][i] == 0.0;
        for (int64_t r = 0; r < m; ++r) {
          const double g = g_all[off + r];
          const double a = g * (1 - decay[i][r]) + acc[k][r][i] * decay[i][r];
          const double sd = all_zero ? 0.0 : scl_decay[k][r];
          const double v = (1 - sd) * (a * a + 1e-12) + sd * ms[k][r][i];
          const double x = a / std::sqrt(v + 1e-16);
          scaled[r][i] = std::log(x + std::sqrt(1 + x * x));  // utils.asinh
          new_acc[r][i] = a;
          new_ms[r][i] = v;
        }
      }
      // rnn_input: scaled (4), products (3), log mean squares about their mean (4), relative lr (1).
      Mat input(m);
      for (int64_t r = 0; r < m; ++r) {
        Vec& in = input[r];
        for (int i = 0; i < 4; ++i) in.push_back(scaled[r][i]);
        for (int i = 0; i < 3; ++i) in.push_back(scaled[r][i] * scaled[r][i + 1]);
        double lm[4], avg = 0;
        for (int i = 0; i < 4; ++i) avg += (lm[i] = std::log(new_ms[r][i] + 1e-16)) / 4;
        for (int i = 0; i < 4; ++i) in.push_back(lm[i] - avg);
        in.push_back(log_lr[k][r] - mean_log_lr);
      }
      // _update_rnn_cells
      const Mat pb = affine(Mat{layer[k]}, get("PerTensor/Layer0_RNN/Param/Affine/Matrix"),
                            get("PerTensor/Layer0_RNN/Param/Affine/Bias"), 3 * H0);
      const Mat gb = affine(Mat{global}, get("PerTensor/Layer0_RNN/Global/Affine/Matrix"),
                            get("PerTensor/Layer0_RNN/Global/Affine/Bias"), 3 * H0);
      Vec total(3 * H0);
      for (int j = 0; j < 3 * H0; ++j) total[j] = pb[0][j] + gb[0][j];
      const Mat h0 = bias_gru("PerTensor/Layer0_RNN", input, param[k], total, H0);
      Vec layer_input(H0 + 12, 0.0);
      for (int64_t r = 0; r < m; ++r) {
        for (int j = 0; j < H0; ++j) layer_input[j] += h0[r][j] / double(m);
        for (int j = 0; j < 12; ++j) layer_input[H0 + j] += input[r][j] / double(m);
      }
      const Mat lb = affine(Mat{global}, get("PerTensor/Layer1_RNN/Affine/Matrix"),
                            get("PerTensor/Layer1_RNN/Affine/Bias"), 3 * H1);
      const Mat h1 = bias_gru("PerTensor/Layer1_RNN", Mat{layer_input}, Mat{layer[k]}, lb[0], H1);
      new_layer[k] = h1[0];
      last_layer_state = h1[0];
      // _compute_rnn_state_projections
      Vec delta(m);
      double msq = 0;
      for (int64_t r = 0; r < m; ++r) {
        double d = 0;
        for (int j = 0; j < H0; ++j) d += h0[r][j] * get("update_weights")[j];
        for (int i = 0; i < 4; ++i) d += scaled[r][i] * get("PerTensor/GradsToDelta/Matrix")[i];
        delta[r] = d;
        msq += d * d / double(m);
      }
      const double lrm = sigmoid(get("PerTensor/learning_rate_momentum_logit")[0]);
      for (int64_t r = 0; r < m; ++r) {
        auto proj = [&](const std::string& wname, const std::string& bname) {
          double s = get(bname)[0];
          for (int j = 0; j < H0; ++j) s += h0[r][j] * get(wname)[j];
          return s;
        };
        double step_log_lr = log_lr[k][r] + proj("learning_rate_weights", "learning_rate_bias");
        step_log_lr = std::min(std::max(step_log_lr, -33.0), max_log_lr);
        const double lr_param = std::exp(step_log_lr + get("PerTensor/param_stepsize_offset")[0]);
        out.push_back(-lr_param * delta[r] / std::sqrt(msq + 1e-16));
        scl_decay[k][r] = sigmoid(proj("scl_decay_weights", "scl_decay_bias"));
        inp_decay[k][r] = sigmoid(proj("inp_decay_weights", "inp_decay_bias"));
        log_lr[k][r] = lrm * log_lr[k][r] + (1 - lrm) * step_log_lr;
      }
      new_param[k] = h0;
      acc[k] = new_acc;
      ms[k] = new_ms;
      off += m;
    }
    param = new_param;
    layer = new_layer;
    // _compute_updated_global_state([layer_state]): the last tensor's state, no injected bias.
    global = bias_gru("Layer2_RNN", Mat{last_layer_state}, Mat{global}, Vec(3 * H2, 0.0), H2)[0];
    return out;
  }
};

// Non-trivial weights everywhere (the authors' init has zero lr weights and candidate biases).
Vec test_phi(const LearnerT<double>& l, uint64_t seed, double noise) {
  Vec phi(l.num_params());
  l.init_params(seed, phi.data());
  const auto r = random_vec(l.num_params(), noise, seed + 100);
  for (size_t i = 0; i < phi.size(); ++i) phi[i] += r[i];
  return phi;
}

// Every block but the init vectors (the segment's initial state is a constant) gets gradient.
void require_every_block_trained(const LearnerT<double>& l, const Vec& fd) {
  for (const auto& b : l.param_blocks()) {
    double mx = 0;
    for (int64_t i = 0; i < b.size(); ++i) mx = std::max(mx, std::fabs(fd[b.offset + i]));
    INFO("block " << b.name << ": max |dL/dphi| " << mx);
    if (b.name.find("init_vector") != std::string::npos)
      REQUIRE(mx == 0.0);
    else
      REQUIRE(mx > 1e-7);
  }
}

L2oScaleConfig small_config() {
  L2oScaleConfig c;
  c.hidden = {3, 4, 5};
  c.min_lr = 0.05;  // updates of order 0.1: a well-conditioned finite-difference check
  c.max_lr = 0.5;
  return c;
}

}  // namespace

TEST_CASE("L2O-Scale has the authors' 31 variables, shapes and initialisers", "[l2o_scale]") {
  L2oScale<float> l(L2oScaleConfig{});
  const auto& b = l.param_blocks();
  REQUIRE(b.size() == 31);
  REQUIRE(b[0].name == "Level0_RNN/init_vector");
  REQUIRE(b[3].name == "PerTensor/Layer0_RNN/BiasGRUCell/gates/Affine/Matrix");
  REQUIRE(b[3].shape == std::vector<int64_t>{22, 20});
  REQUIRE(b[11].shape == std::vector<int64_t>{42, 40});  // level 1: [mean(h0, features) (22), h1 (20)]
  REQUIRE(b[17].shape == std::vector<int64_t>{40, 40});
  REQUIRE(b[15].name == "PerTensor/Layer1_RNN/Affine/Matrix");
  REQUIRE(b[15].shape == std::vector<int64_t>{20, 60});
  REQUIRE(b[25].name == "PerTensor/learning_rate_momentum_logit");
  REQUIRE(b[25].shape.empty());
  // 50 + 440+20 + 220+10 + 600+30 + 600+30 + 1680+40 + 840+20 + 1200+60 + 1600+40 + 800+20 + 10+4+10+1+1+1+10+1+10+1
  REQUIRE(l.num_params() == 8349);  // the checkpoint's 31 LOL/ variables hold as many
  std::vector<float> phi(l.num_params());
  l.init_params(3, phi.data());
  auto block = [&](const std::string& name) {
    for (const auto& x : b)
      if (x.name == name) return std::vector<float>(phi.begin() + x.offset, phi.begin() + x.offset + x.size());
    FAIL("no block " << name);
    return std::vector<float>{};
  };
  for (float x : block("PerTensor/Layer0_RNN/BiasGRUCell/gates/Affine/Bias")) REQUIRE(x == 2.2f);
  for (float x : block("PerTensor/Layer0_RNN/BiasGRUCell/candidate/Affine/Bias")) REQUIRE(x == 0.0f);
  for (float x : block("learning_rate_weights")) REQUIRE(x == 0.0f);
  REQUIRE(block("scl_decay_bias")[0] == 3.2f);
  REQUIRE(block("inp_decay_bias")[0] == 2.2f);
  REQUIRE(block("PerTensor/learning_rate_momentum_logit")[0] == 3.2f);
  REQUIRE(block("PerTensor/param_stepsize_offset")[0] == -1.0f);
  for (float x : block("Level1_RNN/init_vector")) REQUIRE((x >= -1 && x <= 1));
  const auto g2d = block("PerTensor/GradsToDelta/Matrix");  // N(1/4, 0.05^2)
  for (float x : g2d) REQUIRE(std::fabs(x - 0.25f) < 0.25f);
  double sq = 0;  // gates ~ N(0, (0.5/sqrt(22))^2)
  const auto gw = block("PerTensor/Layer0_RNN/BiasGRUCell/gates/Affine/Matrix");
  for (float x : gw) sq += double(x) * x;
  REQUIRE(std::sqrt(sq / gw.size()) == Approx(0.5 / std::sqrt(22.0)).epsilon(0.15));
}

TEST_CASE("L2O-Scale steps match a transcription of the authors' forward pass", "[l2o_scale]") {
  for (double max_log_lr : {33.0, -6.0}) {  // -6 clips part of the initial and stepped learning rates
    INFO("max_log_lr " << max_log_lr);
    L2oScaleConfig cfg;
    cfg.hidden = {5, 6, 4};
    cfg.max_log_lr = max_log_lr;
    cfg.lr_init_seed = 11;
    L2oScale<double> l(cfg);
    const Vec phi = test_phi(l, 4, 0.3);
    const std::vector<int64_t> sizes = {4, 1, 3};
    const int64_t n = 8;
    l.set_tensor_sizes(sizes);
    l.reset(n, 0);
    Reference ref(l, phi, cfg, sizes);
    Vec u(n);
    double umax = 0;
    for (int t = 0; t < 7; ++t) {
      Vec g = random_vec(n, std::pow(10.0, -(t % 3)), 50 + t);  // magnitudes that vary by step
      if (t == 2) g[5] = 0;                                     // a zero gradient
      l.step(phi.data(), g.data(), u.data(), false);
      const Vec r = ref.step(g);
      for (int64_t i = 0; i < n; ++i) {
        INFO("step " << t + 1 << ", coordinate " << i);
        REQUIRE(std::fabs(u[i] - r[i]) <= 1e-12 + 1e-10 * std::fabs(r[i]));
        umax = std::max(umax, std::fabs(r[i]));
      }
    }
    REQUIRE(umax > 1e-5);
    // zero_state(): the same initial state again, so the first step repeats.
    l.zero_state();
    Reference fresh(l, phi, cfg, sizes);
    const Vec g = random_vec(n, 1.0, 50);
    l.step(phi.data(), g.data(), u.data(), false);
    const Vec r = fresh.step(g);
    for (int64_t i = 0; i < n; ++i) REQUIRE(std::fabs(u[i] - r[i]) <= 1e-12 + 1e-10 * std::fabs(r[i]));
  }
}

TEST_CASE("L2O-Scale segment backward matches finite differences of <r, u>", "[l2o_scale]") {
  const L2oScaleConfig cfg = small_config();
  L2oScale<double> l(cfg);
  const std::vector<int64_t> sizes = {3, 2, 4};
  const int64_t n = 9, steps = 3;
  Vec phi = test_phi(l, 1, 0.3);
  const Vec phi0 = phi;
  std::vector<Vec> grads;
  for (int64_t t = 0; t < steps + 2; ++t) grads.push_back(random_vec(n, 0.5 * std::pow(3.0, -double(t)), 10 + t));
  const Vec r = random_vec(steps * n, 1.0, 20);
  Vec u(n);
  SECTION("after two steps: every level, the momenta, decays and learning rates carry gradient") {
    // The state entering the segment is a constant (truncation): the warm-up steps use phi0.
    auto objective = [&](bool keep) {
      l.set_tensor_sizes(sizes);
      l.reset(n, steps);
      for (int k = 0; k < 2; ++k) l.step(phi0.data(), grads[steps + k].data(), u.data(), false);
      l.begin_segment();
      double s = 0;
      for (int64_t t = 0; t < steps; ++t) {
        l.step(phi.data(), grads[t].data(), u.data(), keep);
        for (int64_t i = 0; i < n; ++i) s += r[t * n + i] * u[i];
      }
      return s;
    };
    objective(true);
    Vec dphi(l.num_params());
    l.backward(phi.data(), r.data(), dphi.data());
    const Vec fd = central_diff(phi, [&] { return objective(false); });
    require_close(dphi, fd, 1e-5, 1e-8);
    require_every_block_trained(l, fd);
  }
  SECTION("from a fresh state: the first step's forced scale decay; no gradient to the init vectors") {
    auto objective = [&](bool keep) {
      l.set_tensor_sizes(sizes);
      l.reset(n, steps);
      l.begin_segment();
      double s = 0;
      for (int64_t t = 0; t < steps; ++t) {
        l.step(phi.data(), grads[t].data(), u.data(), keep);
        for (int64_t i = 0; i < n; ++i) s += r[t * n + i] * u[i];
      }
      return s;
    };
    objective(true);
    Vec dphi(l.num_params());
    l.backward(phi.data(), r.data(), dphi.data());
    Vec fd = central_diff(phi, [&] { return objective(false); });
    // The initial state is built from phi's init vectors but is a constant of the segment.
    const int64_t init_end = l.param_blocks()[3].offset;
    for (int64_t i = 0; i < init_end; ++i) {
      REQUIRE(dphi[i] == 0.0);
      fd[i] = 0.0;
    }
    require_close(dphi, fd, 1e-5, 1e-8);
    require_every_block_trained(l, fd);
  }
}

TEST_CASE("L2O-Scale without tensor sizes sees one tensor; wrong sizes are refused", "[l2o_scale]") {
  L2oScale<double> a(small_config()), b(small_config());
  const Vec phi = test_phi(a, 2, 0.3);
  a.reset(5, 0);
  b.set_tensor_sizes({5});
  b.reset(5, 0);
  Vec ua(5), ub(5);
  const Vec g = random_vec(5, 1.0, 3);
  a.step(phi.data(), g.data(), ua.data(), false);
  b.step(phi.data(), g.data(), ub.data(), false);
  REQUIRE(ua == ub);
  b.set_tensor_sizes({2, 2});
  REQUIRE_THROWS(b.reset(5, 0));
}

TEST_CASE("L2O-Scale config: strict keys, defaults, the CUDA factory, checkpoints", "[l2o_scale]") {
  nlohmann::json j = {{"type", "l2o_scale"}};
  const LearnerConfig c = parse_learner_config(SpecNode(j, "$.learner"));
  REQUIRE(c.type == "l2o_scale");
  REQUIRE(c.l2o_scale.hidden == std::vector<int64_t>{10, 20, 20});
  REQUIRE(j["min_lr"] == 1e-6);
  REQUIRE(j["scale_decay_bias_init"] == 3.2);
  nlohmann::json bad = {{"type", "l2o_scale"}, {"hidden", {10, 20}}};
  REQUIRE_THROWS_AS(parse_learner_config(SpecNode(bad, "$.learner")), InputError);
  nlohmann::json unknown = {{"type", "l2o_scale"}, {"projection", 20}};
  REQUIRE_THROWS_AS(parse_learner_config(SpecNode(unknown, "$.learner")), InputError);
#ifdef L2O_HAVE_CUDA
  REQUIRE(make_learner<float>(c, Backend::cuda)->type() == "l2o_scale");  // test/gpu/cuda runs it on a device
#else
  try {
    make_learner<float>(c, Backend::cuda);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    REQUIRE(std::string(e.what()).find("this build has no CUDA backend") != std::string::npos);
  }
#endif
  REQUIRE_THROWS_WITH(make_learner<double>(c, Backend::cuda), "the CUDA backend runs in float only");
  auto l = make_learner<float>(c);
  REQUIRE(l->type() == "l2o_scale");
  std::vector<float> phi(l->num_params());
  l->init_params(5, phi.data());
  l2o_test::TempDir dir;
  const std::string path = dir.file("scale.safetensors");
  save_learner(path, *l, phi, j, {});
  LoadedLearner back = load_learner(path);
  REQUIRE(back.learner->type() == "l2o_scale");
  REQUIRE(back.phi == phi);
}

TEST_CASE("a meta-step trains L2O-Scale on an optimizee of three tensors", "[l2o_scale]") {
  auto tasks = make_task_batch(problem_config_by_name("quadratic"), 3, Backend::cpu);
  L2oScale<float> l(L2oScaleConfig{});
  std::vector<float> phi(l.num_params());
  l.init_params(1, phi.data());
  MetaStep ms(l, *tasks, 5);
  std::vector<float> m(phi.size()), v(phi.size());
  int64_t count = 0;
  MetaOptimizer meta(MetaOptimizerSpec{}, 0.0, m, v, count);
  ms.begin_epoch(7);
  const std::vector<float> before = phi;
  for (int s = 0; s < 2; ++s) {
    const MetaStepResult r = ms.step(phi, meta, nullptr, 1.0);
    REQUIRE(r.finite);
    REQUIRE(r.grad_norm > 0);
  }
  REQUIRE(phi != before);
}

TEST_CASE("L2O-Scale's carried state round-trips and refuses bad values", "[l2o_scale]") {
  L2oScaleConfig cfg;
  cfg.hidden = {3, 4, 5};
  L2oScale<double> a(cfg), b(cfg);
  std::vector<double> phi(a.num_params());
  a.init_params(2, phi.data());
  const std::vector<int64_t> sizes = {2, 3};
  for (auto* l : {&a, &b}) {
    l->set_tensor_sizes(sizes);
    l->reset(5, 0);
  }
  REQUIRE(a.carried_state().empty());  // fresh: nothing to carry yet
  Rng rng(3, 0);
  std::vector<double> g(5), ua(5), ub(5);
  for (int t = 0; t < 3; ++t) {
    for (auto& x : g) x = rng.normal();
    a.step(phi.data(), g.data(), ua.data(), false);
  }
  const std::vector<double> s = a.carried_state();
  REQUIRE(s.size() == 5 * (3 + 4 + 4 + 3) + 2 * 4 + 5);
  b.set_carried_state(s, "state.safetensors");
  for (auto& x : g) x = rng.normal();
  a.step(phi.data(), g.data(), ua.data(), false);
  b.step(phi.data(), g.data(), ub.data(), false);
  REQUIRE(ua == ub);  // the same state, the same update, bit for bit
  REQUIRE(a.carried_state() == b.carried_state());

  auto err = [&](std::vector<double> bad) {
    try {
      b.set_carried_state(bad, "ck/state.safetensors");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::vector<double> shorter(s.begin(), s.end() - 1), nan = s;
  nan[7] = std::nan("");
  CHECK(err(shorter) ==
        "ck/state.safetensors: the L2O-Scale state has 82 values, 83 expected for 5 parameters in 2 tensors");
  CHECK(err(nan) == "ck/state.safetensors: the L2O-Scale state holds NaN or Inf");
  b.set_carried_state({}, "x");  // empty: fresh again
  REQUIRE(b.carried_state().empty());
}

TEST_CASE("the authors' imported L2O-Scale loads and steps as their network", "[l2o_scale][authors]") {
  LoadedLearner l =
      load_learner(L2O_SOURCE_DIR "/docs/results/authors_models/checkpoints/l2o_scale_cl_il.safetensors");
  REQUIRE(l.learner->type() == "l2o_scale");
  nlohmann::json defaults = {{"type", "l2o_scale"}};  // the stored config is our complete default
  parse_learner_config(SpecNode(defaults, "$.learner"));
  REQUIRE(nlohmann::json::parse(l.metadata.at("learner").get<std::string>()) == defaults);
  L2oScale<double> shape(L2oScaleConfig{});
  const Vec phi(l.phi.begin(), l.phi.end());
  const std::vector<int64_t> sizes = {6, 3};  // e.g. a weight matrix and its bias
  const int64_t n = 9;
  l.learner->set_tensor_sizes(sizes);
  l.learner->reset(n, 0);
  Reference ref(shape, phi, L2oScaleConfig{}, sizes);
  std::vector<float> u(n);
  double worst = 0, umax = 0;
  for (int t = 0; t < 8; ++t) {
    std::vector<float> g(n);
    Vec gd(n);
    for (int64_t i = 0; i < n; ++i) gd[i] = g[i] = static_cast<float>(std::pow(10.0, -(i % 4)) * (t % 3 == 1 ? -1.3 : 0.7 + 0.1 * i));
    l.learner->step(l.phi.data(), g.data(), u.data(), false);
    const Vec r = ref.step(gd);
    for (int64_t i = 0; i < n; ++i) {
      worst = std::max(worst, std::fabs(u[i] - r[i]) / (1e-9 + 1e-4 * std::fabs(r[i])));
      umax = std::max(umax, std::fabs(r[i]));
    }
  }
  CHECK(umax > 1e-5);  // learning rates start in [1e-6, 1e-2]: small but non-trivial updates
  CHECK(worst <= 1.0);
}
