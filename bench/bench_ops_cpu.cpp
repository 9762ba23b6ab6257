// Benchmarks of the CPU backend (issue 7): per-op microbenchmarks, the machine's fp32 GEMM rate,
// the FLOP floor of a 20-step L2O-DM meta-iteration on MLP-orig, and end-to-end times for K tasks.
//
//   bench_ops_cpu [--max-seconds S] [--json FILE] [--only GROUPS] [--learners L,L] [--n N] [--tasks K,K,...]
//                 [--data DIR] [--gemm-sizes N,N,...] [--min-reps R] [--backend cpu]
//
//   groups (--only, comma-separated; default all): lstm, learner, mlp, optim, gemm, act (float
//                sigmoid/tanh rates, for the activation floor), e2e
//   --learners   the learner group's learners [l2o_dm,rnnprop,l2o_scale]
//   --n          coordinates for the lstm/learner/optim ops [15910 = MLP-orig]; e2e always uses MLP-orig
//   --tasks      task counts K for e2e [1,8]: K optimizee instances (seeds) whose coordinates are
//                concatenated for one learner of K*n coordinates; the optimizee runs per task
//   --data       directory holding mnist/t10k-*-ubyte [data] (mlp and e2e groups)
//   --max-seconds  total time cap [120], split over the planned benchmarks by weight; benchmarks
//                left when it is spent are reported as skipped
//   --json       write one JSON line per benchmark (and the floor) to FILE
//   --backend    only "cpu" here; a CUDA twin is a separate binary with the same flags
//
// Every op is verified before it is timed (float result vs the double instantiation of the same
// op, or vs a naive double loop; tolerances in the table); a mismatch skips the op's timing and
// makes the exit code 1. Costs come from kernels/op_cost.h. Threads: OMP_NUM_THREADS.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "bench/bench_harness.h"
#include "engine/backend.h"
#include "engine/meta_step.h"
#include "engine/numerics.h"
#include "engine/segment.h"
#include "kernels/activation_math.h"
#include "kernels/lstm.h"
#include "kernels/op_cost.h"
#include "kernels/optim.h"
#include "kernels/rng.h"
#include "learners/l2o_dm.h"
#include "learners/learner_factory.h"
#include "optimizees/optimizee.h"
#include "optimizees/task_batch.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace l2o;
using namespace l2o::bench;

namespace {

constexpr int64_t kSteps = 20;                        // the segment length of the paper's training
constexpr int64_t kBlock = L2oDm<float>::kBlockRows;  // the engine's coordinate block
const std::vector<int64_t> kHidden = {20, 20};
const std::vector<int64_t> kMlpSizes = {784, 20, 10};
constexpr int64_t kMlpBatch = 128;
const char* kBench = "ops_cpu";

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

template <class To, class From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

struct Args {
  double max_seconds = 120;
  std::string json, data = "data", backend = "cpu";
  std::vector<std::string> only = {"lstm", "learner", "mlp", "optim", "gemm", "act", "e2e"};
  std::vector<std::string> learners = {"l2o_dm", "rnnprop", "l2o_scale"};  // of the learner group
  int64_t n = 15910;
  std::vector<int> tasks = {1, 8};
  std::vector<int64_t> gemm_sizes = {256, 512, 1024};
  int min_reps = 3;
  bool want(const std::string& g) const { return std::find(only.begin(), only.end(), g) != only.end(); }
};

// Everything measured, for the tables and the floor.
struct State {
  Args args;
  int threads = 1;
  std::vector<Result> results;
  bool failed = false;
  std::string shape_n;
  Result& add(Result r) {
    r.threads = r.threads ? r.threads : threads;
    if (r.check.done && !r.check.ok) failed = true;
    results.push_back(std::move(r));
    return results.back();
  }
  const Result* find(const std::string& op) const {
    for (const auto& r : results)
      if (r.op == op && !r.skipped) return &r;
    return nullptr;
  }
};

// Times fn unless the check failed.
template <class F>
void timed(State& st, Result r, double budget, F&& fn, TimeOptions o = {}) {
  o.min_reps = std::max(1, st.args.min_reps);
  time_if_verified(r, fn, budget, o);
  st.add(std::move(r));
}

// ------------------------------------------------------------------------------------------------
// LSTM layer ops over n coordinates in the engine's blocks of kBlock, in parallel like L2oDm.
template <class T>
struct LayerBufs {
  int64_t n, in, H, K, G, blocks;
  std::vector<T> xh, w, b, cprev, z, gates, c, h, dh, dc, dz, dxh, dw, db;
  LayerBufs(int64_t n_, int64_t in_, int64_t H_)
      : n(n_), in(in_), H(H_), K(in_ + H_), G(4 * H_), blocks((n_ + kBlock - 1) / kBlock) {
    xh.resize(K * n);
    w.resize(K * G);
    b.resize(G);
    cprev.resize(H * n);
    z.resize(G * n);
    gates.resize(G * n);
    c.resize(H * n);
    h.resize(H * n);
    dh.resize(H * n);
    dc.resize(H * n);
    dz.resize(G * n);
    dxh.resize(K * n);
    dw.assign(blocks * K * G, T(0));
    db.assign(blocks * G, T(0));
  }
  template <class U>
  void copy_inputs_from(const LayerBufs<U>& o) {
    xh = cast<T>(o.xh);
    w = cast<T>(o.w);
    b = cast<T>(o.b);
    cprev = cast<T>(o.cprev);
    gates = cast<T>(o.gates);
    c = cast<T>(o.c);
    dh = cast<T>(o.dh);
    dc = cast<T>(o.dc);
  }
  void forward() {
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kBlock, nb = std::min(kBlock, n - r0);
      lstm_layer_forward_cpu<T>(nb, in, H, &xh[r0 * K], w.data(), b.data(), T(1), &cprev[r0 * H], &z[r0 * G],
                                &gates[r0 * G], &c[r0 * H], &h[r0 * H]);
    }
  }
  void backward() {
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kBlock, nb = std::min(kBlock, n - r0);
      lstm_layer_backward_cpu<T>(nb, in, H, &xh[r0 * K], w.data(), &gates[r0 * G], &cprev[r0 * H], &c[r0 * H],
                                 &dh[r0 * H], &dc[r0 * H], &dz[r0 * G], &dxh[r0 * K], &dw[blk * K * G],
                                 &db[blk * G]);
    }
  }
};

void bench_lstm_layer(State& st, int64_t in, int64_t H, bool backward, double budget) {
  const int64_t n = st.args.n;
  LayerBufs<float> f(n, in, H);
  fill_normal(f.xh, 1, 0.5);
  fill_normal(f.w, 2, 1.0 / std::sqrt(double(f.K)));
  fill_normal(f.b, 3, 0.1);
  fill_normal(f.cprev, 4, 0.5);
  fill_normal(f.dh, 5, 1e-2);
  fill_normal(f.dc, 6, 1e-2);
  f.forward();  // consistent gates and c for the backward
  LayerBufs<double> d(n, in, H);
  d.copy_inputs_from(f);
  const auto dc0 = f.dc;
  Result r;
  r.group = "lstm";
  r.op = std::string(backward ? "lstm_layer_backward" : "lstm_layer_forward") + "_in" + std::to_string(in);
  r.shape = "n=" + std::to_string(n) + " in=" + std::to_string(in) + " H=" + std::to_string(H) + " blocks of " +
            std::to_string(kBlock);
  if (!backward) {
    f.forward();
    d.forward();
    r.check.merge(compare("gates vs double", f.gates.data(), d.gates.data(), f.gates.size(), 1e-6, 1e-5));
    r.check.merge(compare("c vs double", f.c.data(), d.c.data(), f.c.size(), 1e-6, 1e-5));
    r.check.merge(compare("h vs double", f.h.data(), d.h.data(), f.h.size(), 1e-6, 1e-5));
    r.check.what = "float vs double instantiation (gates, c, h)";
    r.cost = lstm_layer_forward_cost(n, in, H);
    timed(st, std::move(r), budget, [&] { f.forward(); });
  } else {
    f.backward();
    d.backward();
    r.check.merge(compare("dz", f.dz.data(), d.dz.data(), f.dz.size(), 1e-5, 1e-4));
    r.check.merge(compare("dxh", f.dxh.data(), d.dxh.data(), f.dxh.size(), 1e-5, 1e-4));
    r.check.merge(compare("dc", f.dc.data(), d.dc.data(), f.dc.size(), 1e-5, 1e-4));
    r.check.merge(compare("dw", f.dw.data(), d.dw.data(), f.dw.size(), 1e-5, 1e-4));
    r.check.merge(compare("db", f.db.data(), d.db.data(), f.db.size(), 1e-5, 1e-4));
    r.check.what = "float vs double instantiation (dz, dxh, dc, dw, db)";
    r.cost = lstm_layer_backward_cost(n, in, H);
    timed(st, std::move(r), budget, [&] {
      f.dc = dc0;  // keep dc bounded across repeats (a 4*H*n-byte copy, < 1% of the op)
      f.backward();
    });
  }
}

// ------------------------------------------------------------------------------------------------
// The learners (learners/l2o_dm.h, rnnprop.h, l2o_scale.h): step, 20-step segment forward, segment
// backward. L2O-Scale sees the n coordinates as one tensor.
struct LearnerInputs {
  int64_t n;
  std::vector<std::vector<float>> grads;  // (steps, n)
  std::vector<float> dl_du;               // (steps, n)
  explicit LearnerInputs(int64_t n_) : n(n_), grads(kSteps, std::vector<float>(n_)), dl_du(kSteps * n_) {
    for (int64_t t = 0; t < kSteps; ++t) fill_normal(grads[t], 100 + t, 1e-3);
    fill_normal(dl_du, 99, 1e-2);
  }
};

LearnerConfig learner_config(const std::string& type) {
  LearnerConfig c;
  c.type = type;
  return c;
}

// Float learner vs the double learner on the same phi and inputs: all 20 updates, then dphi.
Check verify_learner(const std::string& type, int64_t nv) {
  LearnerInputs in(nv);
  auto f = make_learner<float>(learner_config(type));
  auto d = make_learner<double>(learner_config(type));
  std::vector<float> phi(f->num_params()), dphi(f->num_params()), u(nv);
  f->init_params(0, phi.data());
  std::vector<double> phid = cast<double>(phi), dphid(f->num_params()), ud(nv);
  f->reset(nv, kSteps);
  d->reset(nv, kSteps);
  f->begin_segment();
  d->begin_segment();
  Check c;
  for (int64_t t = 0; t < kSteps; ++t) {
    f->step(phi.data(), in.grads[t].data(), u.data(), true);
    const auto gd = cast<double>(in.grads[t]);
    d->step(phid.data(), gd.data(), ud.data(), true);
    c.merge(compare("u_" + std::to_string(t), u.data(), ud.data(), nv, 1e-4, 1e-4));
  }
  f->backward(phi.data(), in.dl_du.data(), dphi.data());
  const auto dl = cast<double>(in.dl_du);
  d->backward(phid.data(), dl.data(), dphid.data());
  c.merge(compare("dphi", dphi.data(), dphid.data(), dphi.size(), 1e-4, 1e-3));
  c.what = "float vs double " + type + ", n=" + std::to_string(nv) + " (20 updates, dphi)";
  return c;
}

OpCost learner_step_cost(const std::string& type, int64_t n) {
  if (type == "rnnprop") {
    const RnnpropConfig rp;
    return rnnprop_step_cost(n, rp.projection, rp.hidden);
  }
  if (type == "l2o_scale") return l2o_scale_step_cost(n, L2oScaleConfig{}.hidden[0]);
  return l2o_dm_step_cost(n, kHidden, true);
}

OpCost learner_backward_cost(const std::string& type, int64_t n) {
  if (type == "rnnprop") {
    const RnnpropConfig rp;
    return rnnprop_backward_cost(n, kSteps, rp.projection, rp.hidden, kBlock);
  }
  if (type == "l2o_scale") return l2o_scale_backward_cost(n, kSteps, L2oScaleConfig{}.hidden[0]);
  return l2o_dm_backward_cost(n, kSteps, kHidden, true, kBlock);
}

// type: "l2o_dm", "rnnprop" or "l2o_scale" (default configs); which: "step", "fwd" or "bwd".
void bench_learner(State& st, const std::string& type, const std::string& which, double budget) {
  const int64_t n = st.args.n;
  // Verified once per learner, on up to 2,085 coordinates (8 full blocks and a 37-coordinate tail).
  static std::map<std::string, Check> checks;
  Check& check = checks[type];
  if (!check.done) check = verify_learner(type, std::min<int64_t>(n, 8 * kBlock + 37));
  LearnerInputs in(n);
  auto learner = make_learner<float>(learner_config(type));
  LearnerT<float>& dm = *learner;
  std::vector<float> phi(dm.num_params()), dphi(dm.num_params()), u(n);
  dm.init_params(0, phi.data());
  dm.reset(n, kSteps);
  Result r;
  r.group = "learner";
  r.check = check;
  const OpCost step = learner_step_cost(type, n);
  if (which == "step") {
    r.op = type + "_step_eval";
    r.shape = "n=" + std::to_string(n) + ", save=false";
    r.cost = step;
    int64_t t = 0;
    timed(st, std::move(r), budget, [&] { dm.step(phi.data(), in.grads[t++ % kSteps].data(), u.data(), false); });
  } else if (which == "fwd") {
    r.op = type + "_segment_forward";
    r.shape = "n=" + std::to_string(n) + ", 20 saved steps";
    r.cost = step.scaled(kSteps);
    timed(st, std::move(r), budget, [&] {
      dm.begin_segment();
      for (int64_t t = 0; t < kSteps; ++t) dm.step(phi.data(), in.grads[t].data(), u.data(), true);
    });
  } else {
    dm.begin_segment();
    for (int64_t t = 0; t < kSteps; ++t) dm.step(phi.data(), in.grads[t].data(), u.data(), true);
    r.op = type + "_segment_backward";
    r.shape = "n=" + std::to_string(n) + ", 20 steps BPTT";
    r.cost = learner_backward_cost(type, n);
    timed(st, std::move(r), budget, [&] { dm.backward(phi.data(), in.dl_du.data(), dphi.data()); });
  }
}

// ------------------------------------------------------------------------------------------------
// The MLP-orig optimizee (optimizees/mlp.h through make_optimizee): loss, loss + gradient.
ProblemConfig mlp_orig_config(const Args& a) {
  ProblemConfig cfg = problem_config_by_name("mlp_orig");
  cfg.data_dir = a.data;
  return cfg;
}

void bench_mlp(State& st, bool with_grad, double budget) {
  const ProblemConfig cfg = mlp_orig_config(st.args);
  auto f = make_optimizee<float>(cfg);
  auto d = make_optimizee<double>(cfg);
  const int64_t n = f->num_params();
  std::vector<float> theta(n), grad(n);
  f->init(0, theta.data());
  std::vector<double> thetad = cast<double>(theta), gradd(n);
  Rng rng(0, kStreamBatch);
  Batch batch;
  f->sample_batch(rng, batch);
  Result r;
  r.group = "mlp";
  r.op = with_grad ? "mlp_orig_loss_and_grad" : "mlp_orig_loss";
  r.shape = "784-20-10 sigmoid, batch 128, n=" + std::to_string(n);
  r.threads = 1;
  const float lf = f->loss_and_grad(theta.data(), batch, with_grad ? grad.data() : nullptr);
  const double ld = d->loss_and_grad(thetad.data(), batch, with_grad ? gradd.data() : nullptr);
  r.check.merge(compare("loss", &lf, &ld, 1, 0, 1e-5));
  if (with_grad) r.check.merge(compare("grad", grad.data(), gradd.data(), n, 1e-5, 1e-3));
  r.check.what = with_grad ? "float vs double Mlp (loss, grad)" : "float vs double Mlp (loss)";
  r.cost = with_grad ? mlp_forward_backward_cost(kMlpSizes, kMlpBatch) : mlp_forward_cost(kMlpSizes, kMlpBatch);
  timed(st, std::move(r), budget,
        [&] { (void)f->loss_and_grad(theta.data(), batch, with_grad ? grad.data() : nullptr); });
}

// ------------------------------------------------------------------------------------------------
// Elementwise optimizers (kernels/optim.h) vs naive double loops written from PyTorch's formulas.
void bench_optim(State& st, OptimOp op, double budget) {
  const int64_t n = st.args.n;
  const OptimBenchArgs oa;
  const float lr = oa.lr, mu = oa.mu, b1 = oa.b1, b2 = oa.b2, eps = oa.eps, alpha = oa.alpha;
  const int64_t t = oa.t;
  std::vector<float> g(n), s1(n), s2(n), u(n);
  fill_normal(g, 11, 1e-2);
  fill_normal(s1, 12, 1e-3);  // momentum buffer / Adam m / param
  fill_normal(s2, 13, 1e-2);
  for (auto& x : s2) x = x * x;  // second moments are positive
  std::vector<float> p(n);  // adam_apply's parameters
  fill_normal(p, 14, 1.0);
  // Naive double reference from the same state.
  std::vector<double> rs1 = cast<double>(s1), rs2 = cast<double>(s2), ru(n), rp = cast<double>(p);
  const double bc1 = 1 - std::pow(double(b1), double(t)), bc2 = 1 - std::pow(double(b2), double(t));
  for (int64_t i = 0; i < n; ++i) {
    const double gi = g[i];
    switch (op) {
      case OptimOp::sgd: ru[i] = -double(lr) * gi; break;
      case OptimOp::momentum:
        rs1[i] = double(mu) * rs1[i] + gi;
        ru[i] = -double(lr) * rs1[i];
        break;
      case OptimOp::nag:
        rs1[i] = double(mu) * rs1[i] + gi;
        ru[i] = -double(lr) * (gi + double(mu) * rs1[i]);
        break;
      case OptimOp::adam:
      case OptimOp::adam_apply:  // m in s1, v in s2
        rs1[i] = double(b1) * rs1[i] + (1 - double(b1)) * gi;
        rs2[i] = double(b2) * rs2[i] + (1 - double(b2)) * gi * gi;
        ru[i] = -double(lr) * (rs1[i] / bc1) / (std::sqrt(rs2[i] / bc2) + double(eps));
        rp[i] += ru[i];
        break;
      case OptimOp::adagrad:
        rs2[i] += gi * gi;
        ru[i] = -double(lr) * gi / (std::sqrt(rs2[i]) + double(eps));
        break;
      case OptimOp::rmsprop:
        rs2[i] = double(alpha) * rs2[i] + (1 - double(alpha)) * gi * gi;
        ru[i] = -double(lr) * gi / (std::sqrt(rs2[i]) + double(eps));
        break;
    }
  }
  auto call = [&] { optim_cpu(op, n, oa, g.data(), s1.data(), s2.data(), u.data(), p.data()); };
  call();
  Result r;
  r.group = "optim";
  r.op = optim_op_name(op);
  r.shape = "n=" + std::to_string(n);
  r.threads = 1;
  if (op == OptimOp::adam_apply) {
    r.check.merge(compare("param", p.data(), rp.data(), n, 1e-6, 1e-5));
  } else {
    r.check.merge(compare("u", u.data(), ru.data(), n, 1e-6, 1e-5));
  }
  if (op != OptimOp::sgd && op != OptimOp::adagrad && op != OptimOp::rmsprop)
    r.check.merge(compare("state1", s1.data(), rs1.data(), n, 1e-6, 1e-5));
  if (op == OptimOp::adam || op == OptimOp::adam_apply || op == OptimOp::adagrad || op == OptimOp::rmsprop)
    r.check.merge(compare("state2", s2.data(), rs2.data(), n, 1e-6, 1e-5));
  r.check.what = "naive double loop (update and state)";
  r.cost = optim_cost(op, n);
  timed(st, std::move(r), budget, call);
}

// ------------------------------------------------------------------------------------------------
// fp32 GEMM rate with Eigen (EIGEN_DONT_PARALLELIZE: each GEMM single-threaded; the multi-thread
// rate runs independent GEMMs side by side, as the engine parallelises over coordinate blocks).
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MapC = Eigen::Map<const RowMat>;
using MapM = Eigen::Map<RowMat>;

// Sampled entries of C = A B (A: m x k, B: k x n, row-major) vs double dot products.
Check verify_gemm_samples(const float* a, const float* b, const float* c, int64_t m, int64_t n, int64_t k,
                          const std::string& what) {
  std::vector<float> got;
  std::vector<double> ref;
  Rng r(5, 5);
  for (int s = 0; s < 64; ++s) {
    const int64_t i = r.below(uint32_t(m)), j = r.below(uint32_t(n));
    double acc = 0;
    for (int64_t q = 0; q < k; ++q) acc += double(a[i * k + q]) * double(b[q * n + j]);
    got.push_back(c[i * n + j]);
    ref.push_back(acc);
  }
  return compare(what, got.data(), ref.data(), int64_t(got.size()), 1e-5, 1e-4);
}

void bench_gemm_square(State& st, int64_t N, bool all_threads, double budget) {
  const int T = all_threads ? st.threads : 1;
  std::vector<std::vector<float>> A(T, std::vector<float>(N * N)), B = A, C = A;
  for (int i = 0; i < T; ++i) {
    fill_normal(A[i], 20 + i, 1.0);
    fill_normal(B[i], 40 + i, 1.0);
  }
  auto run = [&] {
#pragma omp parallel for num_threads(T) schedule(static, 1)
    for (int i = 0; i < T; ++i) MapM(C[i].data(), N, N).noalias() = MapC(A[i].data(), N, N) * MapC(B[i].data(), N, N);
  };
  run();
  Result r;
  r.group = "gemm";
  r.op = "gemm_square" + std::to_string(N) + (all_threads ? "_all_threads" : "_1_thread");
  r.shape = std::to_string(T) + " x (" + std::to_string(N) + "^3)";
  r.threads = T;
  r.check = verify_gemm_samples(A[0].data(), B[0].data(), C[0].data(), N, N, N, "C=AB samples vs double");
  r.cost.gemm_flops = r.cost.flops = T * gemm_flops(N, N, N);
  r.cost.bytes = T * 3.0 * N * N * 4;
  timed(st, std::move(r), budget, run, TimeOptions{3, 30, 1e-3});
}

// The machine's rate for the shared float sigmoid / tanh (activation_math.h), the cell math's
// bottleneck, on an L1-resident array per thread: the floor's second term (floor_report).
void bench_activation(State& st, bool tanh_fn, bool all_threads, double budget) {
  // kReps passes per parallel region, so the region's wake-up (tens of us with a passive wait
  // policy) is small against its ~0.2 ms of work.
  constexpr int64_t kLen = 4096, kReps = 64;
  const int T = all_threads ? st.threads : 1;
  std::vector<std::vector<float>> x(T, std::vector<float>(kLen)), y = x;
  for (int i = 0; i < T; ++i) fill_normal(x[i], 60 + i, 3.0);
  auto run = [&] {
#pragma omp parallel for num_threads(T) schedule(static, 1)
    for (int i = 0; i < T; ++i) {
      const float* __restrict xi = x[i].data();
      float* __restrict yi = y[i].data();
      for (int64_t rep = 0; rep < kReps; ++rep) {
        if (tanh_fn) {
#pragma omp simd
          for (int64_t j = 0; j < kLen; ++j) yi[j] = tanh_act(xi[j]);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < kLen; ++j) yi[j] = sigmoid(xi[j]);
        }
      }
    }
  };
  run();
  std::vector<double> ref(kLen);
  for (int64_t j = 0; j < kLen; ++j) {
    const double v = x[0][j];
    ref[j] = tanh_fn ? std::tanh(v) : 1.0 / (1.0 + std::exp(-v));
  }
  Result r;
  r.group = "act";
  r.op = std::string(tanh_fn ? "tanh" : "sigmoid") + (all_threads ? "_all_threads" : "_1_thread");
  r.shape = std::to_string(T) + " x " + std::to_string(kReps) + " x " + std::to_string(kLen) + " floats (L1)";
  r.threads = T;
  r.check = compare(tanh_fn ? "tanh_act<float> vs double" : "sigmoid<float> vs double", y[0].data(), ref.data(), kLen,
                    1e-6, 1e-6);
  (tanh_fn ? r.cost.tanhs : r.cost.sigmoids) = double(T) * kLen * kReps;
  r.cost.flops = r.cost.activation_flops();
  r.cost.bytes = 2.0 * T * kLen * kReps * 4;
  timed(st, std::move(r), budget, run, TimeOptions{3, 50, 1e-3});
  Result& done = st.results.back();
  if (!done.skipped) done.extra["ns_per_activation"] = done.t.median_ms * 1e6 / (double(T) * kLen * kReps);
}

// The LSTM's GEMM shapes per coordinate block, over n coordinates, all threads (as L2oDm runs
// them): fwd z = w^T xh (4H x K x nb; the engine's lstm_gates_cpu, or Eigen for the unblocked
// comparison row), dxh = w dz (K x 4H x nb) and dw += xh dz^T (K x nb x 4H), both Eigen as in the
// engine.
void bench_gemm_lstm(State& st, const std::string& kind, int64_t in, bool blocked, double budget) {
  const int64_t n = st.args.n, H = 20, K = in + H, G = 4 * H, blocks = (n + kBlock - 1) / kBlock;
  std::vector<float> w(K * G), xh(K * n), z(G * n), dz(G * n), dxh(K * n), dw(blocks * K * G, 0.0f);
  fill_normal(w, 1, 0.2);
  fill_normal(xh, 2, 1.0);
  fill_normal(dz, 3, 1.0);
  const int64_t bs = blocked ? kBlock : n, nblk = blocked ? blocks : 1;
  const std::vector<float> zero_b(G, 0.0f);
  auto run = [&] {
#pragma omp parallel for schedule(static) if (blocked)
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const int64_t r0 = blk * bs, nb = std::min(bs, n - r0);
      if (kind == "fwd" && blocked) {  // the engine's own kernel (zero bias: z = w^T xh)
        lstm_gates_cpu<float>(nb, in, H, &xh[r0 * K], w.data(), zero_b.data(), &z[r0 * G]);
      } else if (kind == "fwd") {  // Eigen, for comparison
        MapM(&z[r0 * G], G, nb).noalias() = MapC(w.data(), K, G).transpose() * MapC(&xh[r0 * K], K, nb);
      } else if (kind == "dxh") {
        MapM(&dxh[r0 * K], K, nb).noalias() = MapC(w.data(), K, G) * MapC(&dz[r0 * G], G, nb);
      } else {
        MapM(&dw[blk * K * G], K, G).noalias() += MapC(&xh[r0 * K], K, nb) * MapC(&dz[r0 * G], G, nb).transpose();
      }
    }
  };
  run();
  Result r;
  r.group = "gemm";
  r.op = "gemm_lstm_" + kind + "_in" + std::to_string(in) + (blocked ? "" : "_unblocked");
  r.threads = blocked ? st.threads : 1;
  char shape[128];
  if (kind == "fwd")
    std::snprintf(shape, sizeof shape, "(%lldx%lld)(%lldx%lld)", (long long)G, (long long)K, (long long)K,
                  (long long)bs);
  else if (kind == "dxh")
    std::snprintf(shape, sizeof shape, "(%lldx%lld)(%lldx%lld)", (long long)K, (long long)G, (long long)G,
                  (long long)bs);
  else
    std::snprintf(shape, sizeof shape, "(%lldx%lld)(%lldx%lld) +=", (long long)K, (long long)bs, (long long)bs,
                  (long long)G);
  r.shape = std::string(shape) + (blocked ? " x " + std::to_string(blocks) + " blocks, n=" + std::to_string(n) : "") +
            (kind == "fwd" ? (blocked ? ", lstm_gates_cpu" : ", Eigen") : ", Eigen");
  // Verify the first block against double dot products (wT / dzT materialised for the sampler).
  const int64_t nb0 = std::min(bs, n);
  if (kind == "fwd") {
    std::vector<float> wT(G * K), z0(G * nb0), x0(K * nb0);
    for (int64_t i = 0; i < K; ++i)
      for (int64_t j = 0; j < G; ++j) wT[j * K + i] = w[i * G + j];
    std::copy(xh.begin(), xh.begin() + K * nb0, x0.begin());
    std::copy(z.begin(), z.begin() + G * nb0, z0.begin());
    r.check = verify_gemm_samples(wT.data(), x0.data(), z0.data(), G, nb0, K, "samples vs double");
  } else if (kind == "dxh") {
    r.check = verify_gemm_samples(w.data(), dz.data(), dxh.data(), K, nb0, G, "samples vs double");
  } else {
    std::vector<float> dzT(nb0 * G);
    for (int64_t i = 0; i < G; ++i)
      for (int64_t j = 0; j < nb0; ++j) dzT[j * G + i] = dz[i * nb0 + j];
    std::vector<float> x0(xh.begin(), xh.begin() + K * nb0);
    r.check = verify_gemm_samples(x0.data(), dzT.data(), dw.data(), K, G, nb0, "samples vs double");
  }
  r.cost.gemm_flops = r.cost.flops = gemm_flops(G, double(n), K);
  r.cost.bytes = 4.0 * (kind == "fwd" ? (K * n + G * n + K * G) : kind == "dxh" ? (G * n + K * n + K * G)
                                                                                  : (K * n + G * n + 2.0 * nblk * K * G));
  timed(st, std::move(r), budget, [&] {
    if (kind == "dw") std::fill(dw.begin(), dw.end(), 0.0f);  // keep the accumulator bounded
    run();
  });
}

// ------------------------------------------------------------------------------------------------
// K tasks: optimizees/task_batch.h (K MLP-orig instances behind one optimizee of K*n coordinates).

// (a) K = 1 through TaskBatch gives the same segment as the engine's meta_segment on the plain
// problem (bit-identical meta-loss and dphi); (b) for K > 1, the first update of the first and the
// last task inside K*n coordinates matches a learner on that task alone, and the summed loss
// matches the tasks' own losses.
Check verify_tasks(const ProblemConfig& cfg, int K) {
  Check c;
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params()), dphi(dm.num_params()), dphi_ref(dm.num_params());
  dm.init_params(0, phi.data());
  if (K == 1) {
    auto tb_owner = make_task_batch(cfg, 1, Backend::cpu);
    TaskBatch& tb = *tb_owner;
    auto plain = make_optimizee<float>(cfg);
    const int64_t n = plain->num_params();
    std::vector<float> th(n), th_ref(n), dl, u;
    tb.init(0, th.data());
    plain->init(0, th_ref.data());
    Rng b1(0, kStreamBatch), b2(0, kStreamBatch);
    constexpr int64_t kVerifySteps = 3;  // bit-identity does not depend on the length
    dm.reset(n, kVerifySteps);
    const auto r = meta_segment<float>(dm, phi.data(), tb, th.data(), b1, kVerifySteps, dl, u, dphi.data());
    dm.reset(n, kVerifySteps);
    const auto rr =
        meta_segment<float>(dm, phi.data(), *plain, th_ref.data(), b2, kVerifySteps, dl, u, dphi_ref.data());
    const double ml = r.meta_loss, mlr = rr.meta_loss;
    c.merge(compare("meta_loss", &ml, &mlr, 1, 0, 0));
    c.merge(compare("dphi", dphi.data(), dphi_ref.data(), dm.num_params(), 0, 0));
    c.what = "K=1 TaskBatch vs engine meta_segment on the plain problem, 3 steps (bit-identical)";
    return c;
  }
  auto tb_owner = make_task_batch(cfg, K, Backend::cpu);
  TaskBatch& tb = *tb_owner;
  const int64_t n = tb.task_params(), N = tb.num_params();
  std::vector<float> th(N), g(N), u(N);
  tb.init(0, th.data());
  Rng rng(0, kStreamBatch);
  Batch batch;
  tb.sample_batch(rng, batch);
  const double loss = tb.loss_and_grad(th.data(), batch, g.data());
  double loss_ref = 0;
  dm.reset(N, kSteps);
  dm.step(phi.data(), g.data(), u.data(), false);
  for (int k : {0, K - 1}) {
    auto one = make_optimizee<float>(cfg);
    std::vector<float> t1(n), g1(n), u1(n);
    one->init(TaskBatch::task_seed(0, k), t1.data());
    Batch b;
    b.idx.assign(batch.idx.begin() + k * kMlpBatch, batch.idx.begin() + (k + 1) * kMlpBatch);
    one->loss_and_grad(t1.data(), b, g1.data());
    L2oDm<float> d1(L2oDmConfig{});
    d1.reset(n, kSteps);
    d1.step(phi.data(), g1.data(), u1.data(), false);
    c.merge(compare("u task " + std::to_string(k), u.data() + k * n, u1.data(), n, 1e-6, 1e-5));
  }
  for (int k = 0; k < K; ++k) {
    auto one = make_optimizee<float>(cfg);
    std::vector<float> t1(n);
    one->init(TaskBatch::task_seed(0, k), t1.data());
    Batch b;
    b.idx.assign(batch.idx.begin() + k * kMlpBatch, batch.idx.begin() + (k + 1) * kMlpBatch);
    loss_ref += one->loss_and_grad(t1.data(), b, nullptr);
  }
  c.merge(compare("summed loss", &loss, &loss_ref, 1, 0, 1e-6));
  c.what = "K=" + std::to_string(K) + ": task 0 and K-1 updates vs a learner on the task alone; summed loss";
  return c;
}

// verify_tasks once per K, shared by the meta-iteration and the evaluation step.
const Check& tasks_check(const ProblemConfig& cfg, int K) {
  static std::vector<std::pair<int, Check>> done;
  for (const auto& d : done)
    if (d.first == K) return d.second;
  done.emplace_back(K, verify_tasks(cfg, K));
  return done.back().second;
}

// The trainer's meta-iteration (engine/meta_step.h, as bench_meta_dump_cpu --time): a segment and
// the meta-update of phi; a new 100-step epoch (fresh theta, zeroed state) every 5 segments.
void bench_meta_iteration(State& st, int K, double budget) {
  const ProblemConfig cfg = mlp_orig_config(st.args);
  Result r;
  r.group = "e2e";
  r.op = "meta_iteration_K" + std::to_string(K);
  r.check = tasks_check(cfg, K);
  auto tb_owner = make_task_batch(cfg, K, Backend::cpu);
  TaskBatch& tb = *tb_owner;
  const int64_t N = tb.num_params();
  r.shape = "MLP-orig x " + std::to_string(K) + ", " + std::to_string(N) + " coords, 20 steps";
  L2oDm<float> dm(L2oDmConfig{});
  const int64_t p = dm.num_params();
  std::vector<float> phi(p), m(p, 0.0f), v(p, 0.0f);
  dm.init_params(0, phi.data());
  MetaStep meta_step(dm, tb, kSteps);
  int64_t segment = 0, adam_t = 0, diverged = 0;
  MetaOptimizer meta(MetaOptimizerSpec{}, 0.0, m, v, adam_t);
  double last = 0;
  r.cost = l2o_dm_step_cost(N, kHidden, true).scaled(kSteps);
  r.cost += l2o_dm_backward_cost(N, kSteps, kHidden, true, kBlock);
  r.cost += mlp_forward_backward_cost(kMlpSizes, kMlpBatch).scaled(double(K * (kSteps + 1)));
  r.cost += optim_cost(OptimOp::adam_apply, p);
  r.cost.flops += 2.0 * N * kSteps;  // suffix sums and theta += u
  r.extra["K"] = K;
  r.extra["coords"] = N;
  timed(st, std::move(r), budget, [&] {
    if (segment % 5 == 0) meta_step.begin_epoch(mix_seed(0, uint64_t(segment / 5)));
    const MetaStepResult s = meta_step.step(phi, meta);
    if (!s.finite) {
      ++diverged;
      segment = (segment / 5 + 1) * 5 - 1;
    }
    ++segment;
    last = s.loss;
  });
  st.results.back().extra["diverged_segments"] = diverged;
  st.results.back().extra["last_meta_loss"] = last;
}

// One evaluation step: K tasks' minibatch loss and gradient, the learner's step without saving,
// theta += u (l2o_eval's loop, K instances at once). Fresh instances every 100 steps.
void bench_eval_step(State& st, int K, double budget) {
  const ProblemConfig cfg = mlp_orig_config(st.args);
  auto tb_owner = make_task_batch(cfg, K, Backend::cpu);
  TaskBatch& tb = *tb_owner;
  const int64_t N = tb.num_params();
  Result r;
  r.group = "e2e";
  r.op = "eval_step_K" + std::to_string(K);
  r.shape = "MLP-orig x " + std::to_string(K) + ", " + std::to_string(N) + " coords";
  r.check = tasks_check(cfg, K);
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params()), theta(N), theta0(N), g(N), u(N);
  dm.init_params(0, phi.data());
  dm.reset(N, 1);  // nothing is saved: one slot
  tb.init(1, theta0.data());
  theta = theta0;
  Rng rng(1, kStreamBatch);
  Batch batch;
  int64_t step = 0;
  r.cost = l2o_dm_step_cost(N, kHidden, true);
  r.cost += mlp_forward_backward_cost(kMlpSizes, kMlpBatch).scaled(K);
  r.cost.flops += double(N);
  r.extra["K"] = K;
  r.extra["coords"] = N;
  timed(st, std::move(r), budget, [&] {
    if (++step % 100 == 0) {
      theta = theta0;
      dm.zero_state();
    }
    tb.sample_batch(rng, batch);
    (void)tb.loss_and_grad(theta.data(), batch, g.data());
    dm.step(phi.data(), g.data(), u.data(), false);
    for (int64_t i = 0; i < N; ++i) theta[i] += u[i];
  });
}

// ------------------------------------------------------------------------------------------------
// Output.
void print_tables(const State& st) {
  std::printf("## CPU ops (threads: %d; n = %lld coordinates unless the shape says otherwise)\n\n", st.threads,
              static_cast<long long>(st.args.n));
  std::printf("| group | op | shape | thr | verified (max err / max ref) | reps | median ms | min ms | GFLOP/s | "
              "GB/s |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : st.results) {
    if (r.group == "e2e") continue;
    const std::string ver = verify_cell(r.check);
    if (r.skipped) {
      std::printf("| %s | %s | %s | %d | %s | skipped: %s | | | | |\n", r.group.c_str(), r.op.c_str(),
                  r.shape.c_str(), r.threads, ver.c_str(), r.note.c_str());
      continue;
    }
    std::printf("| %s | %s | %s | %d | %s | %d | %s | %s | %s | %s |\n", r.group.c_str(), r.op.c_str(),
                r.shape.c_str(), r.threads, ver.c_str(), r.t.reps, fmt(r.t.median_ms, "%.4g").c_str(),
                fmt(r.t.min_ms, "%.4g").c_str(), fmt(r.gflops(), "%.1f").c_str(), fmt(r.gbps(), "%.1f").c_str());
  }
  // End-to-end, K side by side.
  bool any = false;
  for (const auto& r : st.results) any = any || r.group == "e2e";
  if (any) {
    std::printf("\n## End-to-end, MLP-orig (threads: %d)\n\n", st.threads);
    std::printf("| K | coords | verified | meta-iteration ms (20 steps) | per task ms | eval step ms | per task ms "
                "| meta GFLOP/s |\n|---|---|---|---|---|---|---|---|\n");
    for (int K : st.args.tasks) {
      const Result* m = st.find("meta_iteration_K" + std::to_string(K));
      const Result* e = st.find("eval_step_K" + std::to_string(K));
      if (!m && !e) {
        std::printf("| %d | | | skipped | | skipped | | |\n", K);
        continue;
      }
      const std::string ver = m && m->check.done ? (m->check.ok ? "ok" : "**FAIL**") : "-";
      std::printf("| %d | %lld | %s | %s | %s | %s | %s | %s |\n", K,
                  static_cast<long long>(m ? m->extra.value("coords", int64_t(0)) : e->extra.value("coords", int64_t(0))),
                  ver.c_str(), m ? fmt(m->t.median_ms, "%.1f").c_str() : "-",
                  m ? fmt(m->t.median_ms / K, "%.1f").c_str() : "-", e ? fmt(e->t.median_ms, "%.2f").c_str() : "-",
                  e ? fmt(e->t.median_ms / K, "%.2f").c_str() : "-", m ? fmt(m->gflops(), "%.1f").c_str() : "-");
    }
  }
}

// The FLOP floor of a meta-iteration: its FLOPs at the machine's measured GEMM rate (all threads,
// square GEMMs), and the learner's GEMMs at the rates measured at the engine's own shapes.
void floor_report(State& st, std::ofstream* json) {
  // The machine's fp32 GEMM rate: the best all-threads rate among this run's GEMMs (square and the
  // LSTM's shapes), so the floor is the lowest these measurements support.
  const Result* best = nullptr;
  const Result* best1 = nullptr;
  for (const auto& r : st.results) {
    if (r.group != "gemm" || r.skipped) continue;
    if (r.threads == st.threads && (!best || r.gflops() > best->gflops())) best = &r;
    if (r.threads == 1 && (!best1 || r.gflops() > best1->gflops())) best1 = &r;
  }
  bool any = false;
  for (int K : st.args.tasks) any = any || st.find("meta_iteration_K" + std::to_string(K));
  if (!best || !any) return;
  const double rate = best->gflops();  // GFLOP/s
  double gemm_shape_ms = 0;          // one learner step's GEMMs forward + backward, at their own rates
  bool have_shapes = true;
  for (const char* k : {"fwd", "dxh", "dw"})
    for (int in : {2, 20}) {
      const Result* g = st.find(std::string("gemm_lstm_") + k + "_in" + std::to_string(in));
      if (g) gemm_shape_ms += g->t.median_ms;
      else have_shapes = false;
    }
  // Activation term: every float sigmoid and tanh at the best rate this run supports (group act:
  // the all-threads aggregate, or the 1-thread rate times the thread count if that is faster, as a
  // shared core can slow the aggregate); the rest of the FLOPs stay at the GEMM rate.
  const Result* sig = st.find("sigmoid_1_thread");
  const Result* th = st.find("tanh_1_thread");
  auto ns_per = [&st](const Result* one) {
    double ns = one->extra.value("ns_per_activation", double(NAN)) / st.threads;
    const std::string all = one->op.substr(0, one->op.find('_')) + "_all_threads";
    if (const Result* a = st.threads > 1 ? st.find(all) : nullptr)
      ns = std::min(ns, a->extra.value("ns_per_activation", double(NAN)));
    return ns;
  };
  std::printf("\n## FLOP floor of a meta-iteration (fp32 GEMM rate at threads = %d: %.1f GFLOP/s, %s; "
              "1 thread: %s GFLOP/s, %s)\n\n",
              st.threads, rate, best->op.c_str(), best1 ? fmt(best1->gflops(), "%.1f").c_str() : "-",
              best1 ? best1->op.c_str() : "-");
  if (sig && th)
    std::printf("Activation floor: the non-activation FLOPs at that GEMM rate plus every sigmoid (%.3f ns) and "
                "tanh (%.3f ns) per element over all %d threads.\n\n",
                ns_per(sig), ns_per(th), st.threads);
  std::printf("| K | GFLOP / meta-iteration (GEMM part) | kFLOP / coord-step | floor ms at that rate | "
              "measured ms | measured / floor | learner GEMMs at their shapes' rates, ms | measured / that | "
              "activations (M) | activation floor ms | measured / activation floor |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int K : st.args.tasks) {
    const Result* m = st.find("meta_iteration_K" + std::to_string(K));
    if (!m) continue;
    const int64_t N = m->extra.value("coords", int64_t(0));
    const double floor_ms = m->cost.flops / (rate * 1e6);
    // Shape floor: the per-block GEMM rates were measured over st.args.n coordinates; scale to N.
    const double shape_ms = have_shapes ? gemm_shape_ms * kSteps * double(N) / double(st.args.n) : NAN;
    const double per_coord_step = m->cost.flops / double(N) / kSteps / 1e3;
    const double act_floor_ms = sig && th ? (m->cost.flops - m->cost.activation_flops()) / (rate * 1e6) +
                                                (m->cost.sigmoids * ns_per(sig) + m->cost.tanhs * ns_per(th)) / 1e6
                                          : NAN;
    std::printf("| %d | %.2f (%.2f) | %.1f | %.1f | %.1f | **%.2fx** | %s | %s | %.1f | %s | **%s** |\n", K,
                m->cost.flops / 1e9, m->cost.gemm_flops / 1e9, per_coord_step, floor_ms, m->t.median_ms,
                m->t.median_ms / floor_ms, fmt(shape_ms, "%.1f").c_str(), fmt(m->t.median_ms / shape_ms, "%.2fx").c_str(),
                (m->cost.sigmoids + m->cost.tanhs) / 1e6, fmt(act_floor_ms, "%.1f").c_str(),
                fmt(m->t.median_ms / act_floor_ms, "%.2fx").c_str());
    if (json) {
      nlohmann::json j = {{"bench", kBench},
                          {"backend", "cpu"},
                          {"group", "floor"},
                          {"op", "meta_iteration_floor_K" + std::to_string(K)},
                          {"threads", st.threads},
                          {"flop", m->cost.flops},
                          {"gemm_flop", m->cost.gemm_flops},
                          {"gemm_rate_gflops", rate},
                          {"gemm_rate_from", best->op},
                          {"floor_ms", floor_ms},
                          {"measured_ms", m->t.median_ms},
                          {"ratio", m->t.median_ms / floor_ms}};
      if (sig && th) {
        j["sigmoids"] = m->cost.sigmoids;
        j["tanhs"] = m->cost.tanhs;
        j["activation_floor_ms"] = act_floor_ms;
        j["ratio_to_activation_floor"] = m->t.median_ms / act_floor_ms;
      }
      if (have_shapes) {
        j["learner_gemm_ms_at_shape_rates"] = shape_ms;
        j["ratio_to_shape_gemm_ms"] = m->t.median_ms / shape_ms;
      }
      *json << j.dump() << "\n";
    }
  }
}

int usage(const char* why) {
  if (why) std::fprintf(stderr, "bench_ops_cpu: %s\n", why);
  std::fprintf(stderr,
               "usage: bench_ops_cpu [--max-seconds S] [--json FILE] [--only lstm,learner,mlp,optim,gemm,act,e2e]\n"
               "                     [--learners l2o_dm,rnnprop,l2o_scale] [--n N] [--tasks 1,8] [--data DIR] [--gemm-sizes 256,512,1024] [--min-reps R] "
               "[--backend cpu]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  State st;
  Args& a = st.args;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "-h" || k == "--help") return usage(nullptr);
    if (k == "--max-seconds") a.max_seconds = std::atof(val().c_str());
    else if (k == "--json") a.json = val();
    else if (k == "--only") a.only = split_csv(val());
    else if (k == "--learners") a.learners = split_csv(val());
    else if (k == "--n") a.n = std::atoll(val().c_str());
    else if (k == "--data") a.data = val();
    else if (k == "--backend") a.backend = val();
    else if (k == "--gemm-sizes") {
      a.gemm_sizes.clear();
      for (const auto& s : split_csv(val())) a.gemm_sizes.push_back(std::atoll(s.c_str()));
    }
    else if (k == "--min-reps") a.min_reps = std::atoi(val().c_str());
    else if (k == "--tasks") {
      a.tasks.clear();
      for (const auto& s : split_csv(val())) a.tasks.push_back(std::atoi(s.c_str()));
    } else {
      return usage(("unknown argument \"" + k + "\"").c_str());
    }
  }
  if (a.backend != "cpu") return usage(("backend \"" + a.backend + "\" is not in this binary (cpu only)").c_str());
  if (!(a.max_seconds > 0) || a.n < 1 || a.tasks.empty()) return usage("bad value");
  for (int64_t N : a.gemm_sizes)
    if (N < 16) return usage("--gemm-sizes: each size must be >= 16");
  for (int K : a.tasks)
    if (K < 1) return usage("--tasks: K must be >= 1");
  for (const auto& l : a.learners)
    if (l != "l2o_dm" && l != "rnnprop" && l != "l2o_scale") return usage(("unknown learner \"" + l + "\"").c_str());
  for (const auto& g : a.only)
    if (g != "lstm" && g != "learner" && g != "mlp" && g != "optim" && g != "gemm" && g != "act" && g != "e2e")
      return usage(("unknown group \"" + g + "\"").c_str());

  try {
    enable_flush_to_zero();  // as the trainer does
    st.threads = max_threads();
    std::vector<Plan> plans;
    if (a.want("lstm"))
      for (bool bwd : {false, true})
        for (int64_t in : {2, 20})
          plans.push_back({"lstm", std::string(bwd ? "lstm_layer_backward" : "lstm_layer_forward") + "_in" + std::to_string(in), 1,
                           [&st, in, bwd](double b) { bench_lstm_layer(st, in, 20, bwd, b); }});
    if (a.want("learner"))
      for (const std::string& type : a.learners)
        for (const char* w : {"step", "fwd", "bwd"})
          plans.push_back({"learner",
                           type + (w[0] == 's' ? "_step_eval" : w[0] == 'f' ? "_segment_forward" : "_segment_backward"),
                           type[0] == 'l' ? 2.0 : 1.0, [&st, type, w](double b) { bench_learner(st, type, w, b); }});
    if (a.want("mlp"))
      for (bool g : {false, true})
        plans.push_back({"mlp", g ? "mlp_orig_loss_and_grad" : "mlp_orig_loss", 0.5, [&st, g](double b) { bench_mlp(st, g, b); }});
    if (a.want("optim"))
      for (OptimOp op : {OptimOp::sgd, OptimOp::momentum, OptimOp::nag, OptimOp::adam, OptimOp::adagrad,
                         OptimOp::rmsprop, OptimOp::adam_apply})
        plans.push_back({"optim", optim_op_name(op), 0.2, [&st, op](double b) { bench_optim(st, op, b); }});
    if (a.want("gemm")) {
      for (int64_t N : a.gemm_sizes)
        for (bool all : {false, true})
          if (!all || st.threads > 1)
          plans.push_back({"gemm", "gemm_square" + std::to_string(N) + (all ? "_all_threads" : "_1_thread"), 0.5,
                           [&st, N, all](double b) { bench_gemm_square(st, N, all, b); }});
      for (const char* k : {"fwd", "dxh", "dw"})
        for (int in : {2, 20})
          plans.push_back({"gemm", std::string("gemm_lstm_") + k + "_in" + std::to_string(in), 0.5,
                           [&st, k, in](double b) { bench_gemm_lstm(st, k, in, true, b); }});
      plans.push_back({"gemm", "gemm_lstm_fwd_in2_unblocked", 0.5, [&st](double b) { bench_gemm_lstm(st, "fwd", 2, false, b); }});
    }
    if (a.want("act"))
      for (bool all : {false, true})
        if (!all || st.threads > 1)
          for (bool t : {false, true})
            plans.push_back({"act", std::string(t ? "tanh" : "sigmoid") + (all ? "_all_threads" : "_1_thread"), 0.2,
                             [&st, t, all](double b) { bench_activation(st, t, all, b); }});
    if (a.want("e2e"))
      for (int K : a.tasks) {
        plans.push_back({"e2e", "eval_step_K" + std::to_string(K), 1.0 + 0.25 * K,
                         [&st, K](double b) { bench_eval_step(st, K, b); }});
        plans.push_back({"e2e", "meta_iteration_K" + std::to_string(K), 4.0 + K,
                         [&st, K](double b) { bench_meta_iteration(st, K, b); }});
      }
    run_plans(plans, a.max_seconds, [&st](const Plan& p) {
      Result r;
      r.group = p.group;
      r.op = p.name;
      r.skipped = true;
      r.note = "time cap";
      st.add(std::move(r));
    });
    std::unique_ptr<std::ofstream> json;
    if (!a.json.empty()) {
      json = std::make_unique<std::ofstream>(a.json);
      if (!*json) throw InputError("cannot write " + a.json);
    }
    if (json)
      for (const auto& r : st.results) *json << r.to_json(kBench).dump() << "\n";
    print_tables(st);
    floor_report(st, json.get());
    if (st.failed) {
      std::fprintf(stderr, "bench_ops_cpu: verification FAILED (see the table)\n");
      return 1;
    }
    return 0;
  } catch (const InputError& e) {
    std::fprintf(stderr, "bench_ops_cpu: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ops_cpu: %s\n", e.what());
    return 1;
  }
}
