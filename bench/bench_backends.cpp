// End-to-end L2O-DM throughput on MLP-orig for each available backend and each task count K
// (K instances as one optimizee of K*n coordinates, optimizees/task_batch.h), measured side by
// side: rounds alternate the configurations, each round timing one meta-iteration (a 20-step segment through
// meta_segment + Adam on phi, as the trainer runs it) and `--eval-steps` evaluation steps (learner
// step without saving + optimizee loss and gradient). Before timing it checks that every backend
// computes the same first meta-loss from the same weights and batches (equal work).
//
//   bench_backends [--backends cpu,cuda] [--tasks 1,8] [--rounds R] [--eval-steps E]
//                  [--max-seconds S] [--json FILE] [--data-dir D]
// Prints JSON lines and a markdown table (medians; speed-up against the first backend at the same K).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "engine/backend.h"
#include "engine/learner_io.h"
#include "engine/meta_step.h"
#include "engine/numerics.h"
#include "kernels/device.h"
#include "optimizees/task_batch.h"
#include "tools/cli_args.h"

using namespace l2o;
using Clock = std::chrono::steady_clock;

namespace {

struct Runner {
  Backend backend;
  int tasks = 1;
  std::string device;
  std::unique_ptr<LearnerT<float>> learner, eval_learner;
  std::unique_ptr<TaskBatch> opt;
  std::unique_ptr<MetaStep> meta_step;  // the trainer's meta-iteration (engine/meta_step.h)
  std::vector<float> phi, m, v, theta_eval, u, g;
  int64_t adam_t = 0, segments = 0;
  std::vector<double> meta_ms, eval_ms;
  double first_meta_loss = NAN;
};

double median(std::vector<double> x) {
  if (x.empty()) return NAN;
  std::nth_element(x.begin(), x.begin() + x.size() / 2, x.end());
  return x[x.size() / 2];
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

static int run(int argc, char** argv) {
  CliArgs args(argc, argv, {"backends", "tasks", "rounds", "eval-steps", "max-seconds", "json", "data-dir"},
               {"help"});
  if (args.has("help")) {
    std::cout << "usage: bench_backends [--backends cpu,cuda] [--tasks 1,8] [--rounds R] [--eval-steps E] "
                 "[--max-seconds S] [--json FILE] [--data-dir D]\n";
    return 0;
  }
  std::vector<std::string> names = args.list("backends");
  if (names.empty()) names = {"cpu", "cuda"};
  std::vector<int> task_counts;
  for (const auto& t : args.list("tasks")) {
    const int k = std::atoi(t.c_str());
    if (k < 1 || k > 64) throw InputError("--tasks: \"" + t + "\" is not a task count in 1..64");
    task_counts.push_back(k);
  }
  if (task_counts.empty()) task_counts = {1};
  const int64_t rounds = args.integer("rounds", 20, 1), eval_steps = args.integer("eval-steps", 20, 1);
  const double max_s = args.number("max-seconds", 60);
  ProblemConfig cfg = problem_config_by_name("mlp_orig");
  cfg.data_dir = args.get("data-dir", "");
  enable_flush_to_zero();

  std::vector<Runner> runners;
  for (const auto& name : names) {
    ResolvedBackend rb;
    try {
      rb = resolve_backend(name, cfg);
    } catch (const InputError& e) {  // a backend that cannot run here is reported, not fatal
      std::fprintf(stderr, "bench_backends: skipping %s: %s\n", name.c_str(), e.what());
      continue;
    }
    for (int K : task_counts) {
    Runner r;
    r.backend = rb.kind;
    r.tasks = K;
    r.device = rb.device;
    nlohmann::json lcfg = nlohmann::json::object();
    r.learner = make_learner<float>(SpecNode(lcfg, "$.learner"), rb.kind);
    r.eval_learner = make_learner<float>(SpecNode(lcfg, "$.learner"), rb.kind);
    r.opt = make_task_batch(cfg, K, rb.kind);
    const int64_t n = r.opt->num_params(), p = r.learner->num_params();
    r.phi.resize(p);
    r.learner->init_params(0, r.phi.data());
    r.m.assign(p, 0.0f);
    r.v.assign(p, 0.0f);
    r.g.resize(n);
    r.u.resize(n);
    r.meta_step = std::make_unique<MetaStep>(*r.learner, *r.opt, 20);
    r.eval_learner->reset(n, 0);
    runners.push_back(std::move(r));
    }
  }
  if (runners.empty()) throw InputError("no backend could run");

  auto meta_iteration = [&](Runner& r) {
    // A 100-step epoch (fresh optimizee, batch stream and state) every 5 segments, as the trainer does.
    if (r.segments % 5 == 0) r.meta_step->begin_epoch(static_cast<uint64_t>(r.segments));
    MetaOptimizer meta(MetaOptimizerSpec{}, 0.0, r.m, r.v, r.adam_t);
    const MetaStepResult res = r.meta_step->step(r.phi, meta);
    if (!res.finite) throw Error("non-finite meta-iteration while benchmarking");
    ++r.segments;
    return res.loss;
  };
  for (auto& r : runners) r.first_meta_loss = meta_iteration(r);  // also the warm-up
  auto base_of = [&](const Runner& r) -> const Runner& {  // the first backend's runner at the same K
    for (const auto& b : runners)
      if (b.tasks == r.tasks) return b;
    return r;
  };
  for (const auto& r : runners) {
    const double a = base_of(r).first_meta_loss, b = r.first_meta_loss;
    if (!(std::fabs(a - b) <= 1e-3 * std::fabs(a)))
      throw Error("backends disagree on the first meta-loss at K = " + std::to_string(r.tasks) + ": " +
                  std::to_string(a) + " vs " + std::to_string(b));
  }

  const auto t_start = Clock::now();
  int64_t done = 0;
  for (; done < rounds && ms_since(t_start) < max_s * 1000; ++done) {
    for (auto& r : runners) {
      auto t0 = Clock::now();
      meta_iteration(r);
      r.meta_ms.push_back(ms_since(t0));
      Rng batches(static_cast<uint64_t>(1000 + done), kStreamBatch);
      Batch batch;
      r.eval_learner->zero_state();
      r.theta_eval = r.meta_step->theta();  // evaluation continues from where training is
      t0 = Clock::now();
      for (int64_t s = 0; s < eval_steps; ++s) {
        r.opt->sample_batch(batches, batch);
        r.opt->loss_and_grad(r.theta_eval.data(), batch, r.g.data());
        r.eval_learner->step(r.phi.data(), r.g.data(), r.u.data(), false);
        for (size_t i = 0; i < r.theta_eval.size(); ++i) r.theta_eval[i] += r.u[i];
      }
      r.eval_ms.push_back(ms_since(t0) / static_cast<double>(eval_steps));
    }
  }

  std::string jsonl;
  std::printf("| backend | device | K | ms / meta-iteration | per task | ms / eval step | per task | speed-up vs %s | "
              "first meta-loss |\n",
              backend_name(runners[0].backend));
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Runner& r : runners) {
    const double mm = median(r.meta_ms), em = median(r.eval_ms), base = median(base_of(r).meta_ms);
    char line[640];
    std::snprintf(line, sizeof line,
                  "{\"bench\":\"meta_iteration_mlp_orig\",\"backend\":\"%s\",\"device\":\"%s\",\"tasks\":%d,"
                  "\"rounds\":%lld,\"median_ms_meta_iteration\":%.4f,\"median_ms_eval_step\":%.5f,"
                  "\"first_meta_loss\":%.6f}\n",
                  backend_name(r.backend), r.device.c_str(), r.tasks, static_cast<long long>(done), mm, em,
                  r.first_meta_loss);
    jsonl += line;
    std::printf("| %s | %s | %d | %.3f | %.3f | %.4f | %.4f | %.2fx | %.6f |\n", backend_name(r.backend),
                r.device.c_str(), r.tasks, mm, mm / r.tasks, em, em / r.tasks, base / mm, r.first_meta_loss);
  }
  std::fputs(jsonl.c_str(), stderr);
  if (args.has("json")) std::ofstream(args.get("json", "")) << jsonl;
  return 0;
}

int main(int argc, char** argv) { return run_tool("bench_backends", "", run, argc, argv); }
