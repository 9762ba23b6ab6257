// L2O-DM meta-training on MLP-orig, for the PyTorch cross-check (bench/reference/l2o_dm_torch.py)
// and the side-by-side timing (bench/compare.sh).
//
//   bench_meta_dump_cpu OUT.safetensors [DATA_DIR] [--seed S]
//     Inits phi (L2oDm::init_params(S)) and theta_0 (Mlp::init(S)), runs ONE 20-step segment through
//     engine/segment.h's meta_segment (with recording wrappers around the optimizee and the learner)
//     and writes phi, theta0, batch_idx (21, 128), losses (21), meta_loss (1), dphi, u0 (the first
//     step's update) and g0 (the first optimizee gradient) as F32 safetensors. Batch indices are
//     < 10000, exact in float32.
//   bench_meta_dump_cpu --time N [OUT] [DATA_DIR] [--seed S]
//     Times N full meta-iterations as the trainer runs them (engine/meta_step.h: a segment, then Adam;
//     theta and the LSTM state carry across segments, re-initialised every 5 segments = a 100-step
//     epoch), after 1 warm-up, and prints one JSON line with the median ms.
//
// DATA_DIR holds mnist/t10k-{images-idx3,labels-idx1}-ubyte (default "data").
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "engine/meta_step.h"
#include "engine/numerics.h"
#include "engine/safetensors.h"
#include "engine/segment.h"
#include "kernels/rng.h"
#include "learners/l2o_dm.h"
#include "optimizees/dataset.h"
#include "optimizees/mlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace l2o;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kSteps = 20;
constexpr int64_t kBatch = 128;

// Forwards to an optimizee and records each loss evaluation's batch and loss.
class RecordingOptimizee : public OptimizeeT<float> {
 public:
  explicit RecordingOptimizee(OptimizeeT<float>& inner) : inner_(inner) {}
  std::string name() const override { return inner_.name(); }
  int64_t num_params() const override { return inner_.num_params(); }
  void init(uint64_t seed, float* theta) override { inner_.init(seed, theta); }
  void sample_batch(Rng& rng, Batch& batch) const override { inner_.sample_batch(rng, batch); }
  float loss_and_grad(const float* theta, const Batch& batch, float* grad) override {
    const float f = inner_.loss_and_grad(theta, batch, grad);
    batches.push_back(batch.idx);
    losses.push_back(f);
    if (grads.empty()) grads.emplace_back(grad, grad + inner_.num_params());
    return f;
  }
  std::vector<std::vector<int32_t>> batches;
  std::vector<float> losses;
  std::vector<std::vector<float>> grads;  // the first gradient only

 private:
  OptimizeeT<float>& inner_;
};

// Forwards to a learner and records the first update after begin_segment().
class RecordingLearner : public LearnerT<float> {
 public:
  explicit RecordingLearner(LearnerT<float>& inner) : inner_(inner) {}
  std::string type() const override { return inner_.type(); }
  int64_t num_params() const override { return inner_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return inner_.param_blocks(); }
  void init_params(uint64_t seed, float* phi) const override { inner_.init_params(seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override { return inner_.saved_floats_per_coordinate_step(); }
  void reset(int64_t n, int64_t max_steps) override {
    n_ = n;
    inner_.reset(n, max_steps);
  }
  void zero_state() override { inner_.zero_state(); }
  void begin_segment() override { inner_.begin_segment(); }
  void step(const float* phi, const float* g, float* u, bool save) override {
    const bool first = inner_.saved_steps() == 0;
    inner_.step(phi, g, u, save);
    if (first && u0.empty()) u0.assign(u, u + n_);
  }
  int64_t saved_steps() const override { return inner_.saved_steps(); }
  void backward(const float* phi, const float* dl_du, float* dphi) override { inner_.backward(phi, dl_du, dphi); }
  std::vector<float> u0;

 private:
  LearnerT<float>& inner_;
  int64_t n_ = 0;
};

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_meta_dump_cpu OUT.safetensors [DATA_DIR] [--seed S]\n"
               "       bench_meta_dump_cpu --time N [OUT] [DATA_DIR] [--seed S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  uint64_t seed = 0;
  int time_iters = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--time" && i + 1 < argc) {
      time_iters = std::atoi(argv[++i]);
      if (time_iters < 1) return usage();
    } else if (a == "-h" || a == "--help") {
      return usage();
    } else {
      pos.push_back(a);
    }
  }
  if (pos.empty() && time_iters == 0) return usage();
  const std::string out = pos.size() > 0 ? pos[0] : "-";
  const std::string data_dir = pos.size() > 1 ? pos[1] : "data";

  try {
    enable_flush_to_zero();  // as the trainer does
    const Dataset& data = load_dataset("mnist", data_dir);
    Mlp<float> mlp("mlp_orig", data, {20}, Activation::sigmoid, kBatch, 0.01);
    L2oDm<float> dm(L2oDmConfig{});
    const int64_t n = mlp.num_params(), p = dm.num_params();
    std::vector<float> phi(p), dphi(p), theta(n), dl_du, u;
    dm.init_params(seed, phi.data());

    if (time_iters == 0) {
      RecordingOptimizee rec(mlp);
      RecordingLearner lrec(dm);
      lrec.reset(n, kSteps);
      rec.init(seed, theta.data());
      const std::vector<float> theta0 = theta;
      Rng batches(seed, kStreamBatch);
      const auto r = meta_segment<float>(lrec, phi.data(), rec, theta.data(), batches, kSteps, dl_du, u, dphi.data());
      if (!r.finite) throw Error("the segment diverged (non-finite loss or dphi)");
      if (static_cast<int64_t>(rec.batches.size()) != kSteps + 1) throw Error("expected 21 loss evaluations");
      SafetensorsFile f;
      f.metadata = {{"seed", std::to_string(seed)},   {"problem", "mlp_orig"},
                    {"steps", std::to_string(kSteps)}, {"batch_size", std::to_string(kBatch)},
                    {"learner", "l2o_dm"},             {"dataset_source", data.source}};
      std::vector<float> idx;
      for (const auto& b : rec.batches)
        for (int32_t i : b) idx.push_back(static_cast<float>(i));
      f.tensors = {{"phi", {p}, phi},
                   {"theta0", {n}, theta0},
                   {"batch_idx", {kSteps + 1, kBatch}, idx},
                   {"losses", {kSteps + 1}, rec.losses},
                   {"meta_loss", {1}, {static_cast<float>(r.meta_loss)}},
                   {"dphi", {p}, dphi},
                   {"u0", {n}, lrec.u0},
                   {"g0", {n}, rec.grads.at(0)}};
      save_safetensors(out, f);
      double norm = 0;
      for (float x : dphi) norm += double(x) * x;
      std::printf("{\"bench\":\"meta_dump_cpu\",\"out\":\"%s\",\"seed\":%llu,\"n\":%lld,\"meta_loss\":%.9g,"
                  "\"loss0\":%.9g,\"loss20\":%.9g,\"dphi_norm\":%.9g}\n",
                  out.c_str(), static_cast<unsigned long long>(seed), static_cast<long long>(n), r.meta_loss,
                  rec.losses.front(), rec.losses.back(), std::sqrt(norm));
      return 0;
    }

    // --time N: the trainer's meta-iteration (engine/meta_step.h: a segment, then the Adam step).
    std::vector<float> m(p, 0.0f), v(p, 0.0f);
    int64_t adam_t = 0, segment = 0;
    MetaStep meta_step(dm, mlp, kSteps);
    MetaOptimizer meta(MetaOptimizerSpec{}, 0.0, m, v, adam_t);
    std::vector<double> ms;
    double last_loss = 0;
    for (int it = 0; it < time_iters + 1; ++it) {  // iteration 0 is the warm-up
      if (segment % 5 == 0) meta_step.begin_epoch(mix_seed(seed, static_cast<uint64_t>(segment / 5)));
      const auto t0 = Clock::now();
      const MetaStepResult r = meta_step.step(phi, meta);
      if (!r.finite) segment = (segment / 5 + 1) * 5 - 1;  // the trainer starts a fresh epoch
      const auto t1 = Clock::now();
      ++segment;
      last_loss = r.loss;
      if (it > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    std::printf("{\"bench\":\"meta_iteration_cpu\",\"impl\":\"l2o-engine\",\"n\":%lld,\"steps\":%lld,\"iters\":%d,"
                "\"threads\":%d,\"median_ms\":%.2f,\"min_ms\":%.2f,\"last_meta_loss\":%.6g}\n",
                static_cast<long long>(n), static_cast<long long>(kSteps), time_iters, threads, median(ms),
                *std::min_element(ms.begin(), ms.end()), last_loss);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_meta_dump_cpu: %s\n", e.what());
    return 1;
  }
}
