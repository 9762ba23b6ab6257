// Parallel evaluation on the CPU: the wall time of one evaluation (a learned optimizer on a problem,
// K seeds x S steps) at jobs = 1 and at each other --jobs value, in alternating rounds on the same
// machine, with the median of each and its ratio to jobs = 1. Every run's curves must equal the
// jobs = 1 curves bit for bit (else exit 1). One JSON line per jobs value on stdout.
//   bench_eval_jobs_cpu [--optimizer CKPT|NAME] [--problem mlp_orig] [--seeds 8] [--steps 200]
//                       [--jobs 2,4,8] [--rounds 3] [--data-dir data]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/bench_harness.h"
#include "engine/evaluate.h"
#include "engine/numerics.h"
#include "engine/rule_factory.h"
#include "tools/cli_args.h"

using namespace l2o;

static int run(int argc, char** argv) {
  CliArgs args(argc, argv, {"optimizer", "problem", "seeds", "steps", "jobs", "rounds", "data-dir"}, {"help"});
  if (args.has("help")) {
    std::cout << "usage: bench_eval_jobs_cpu [--optimizer CKPT|NAME] [--problem P] [--seeds K] [--steps S] "
                 "[--jobs 2,4,8] [--rounds R] [--data-dir D]\n";
    return 0;
  }
  const std::string optimizer =
      args.get("optimizer", "docs/results/authors_models/checkpoints/dm_cl.safetensors");
  const std::string problem = args.get("problem", "mlp_orig");
  const int64_t seeds = args.integer("seeds", 8, 1), steps = args.integer("steps", 200, 1);
  const int64_t rounds = args.integer("rounds", 3, 1);
  std::vector<int> jobs = {1};
  for (const auto& j : args.list("jobs")) {
    const int x = std::atoi(j.c_str());
    if (x < 1 || std::to_string(x) != j) throw InputError("--jobs: \"" + j + "\" is not a positive integer");
    if (x != 1) jobs.push_back(x);
  }
  if (jobs.size() == 1) jobs = {1, 2, 4, 8};
  ProblemConfig cfg = problem_config_by_name(problem);
  cfg.data_dir = args.get("data-dir", "");
  std::vector<uint64_t> seed_list;
  for (int64_t s = 0; s < seeds; ++s) seed_list.push_back(static_cast<uint64_t>(s));
  const RuleFactory make = [&] { return make_update_rule(optimizer, 0).rule; };
  enable_flush_to_zero();

  std::map<int, std::vector<double>> secs;
  std::vector<std::vector<float>> reference;
  for (int64_t r = 0; r < rounds; ++r)
    for (int j : jobs) {  // alternating, so that a change in the machine's load hits every value alike
      auto rule = make();
      const auto t0 = bench::Clock::now();
      const EvalResult res = evaluate(*rule, optimizer, problem, cfg, steps, seed_list, Backend::cpu, nullptr,
                                      nullptr, j, make);
      secs[j].push_back(bench::seconds_since(t0));
      if (reference.empty()) reference = res.losses;
      if (res.losses != reference) {
        std::fprintf(stderr, "bench_eval_jobs_cpu: jobs %d changed the curves\n", j);
        return 1;
      }
    }
  const double base = bench::median_of(secs[1]);
  for (int j : jobs) {
    const double m = bench::median_of(secs[j]);
    std::cout << nlohmann::json{{"bench", "eval_jobs"}, {"optimizer", optimizer}, {"problem", problem},
                                {"seeds", seeds}, {"steps", steps}, {"jobs", j}, {"rounds", rounds},
                                {"median_s", m}, {"speedup_vs_1", base / m}, {"same_curves", true}}
                     .dump()
              << "\n";
  }
  return 0;
}

int main(int argc, char** argv) { return run_tool("bench_eval_jobs_cpu", "internal error: ", run, argc, argv); }
