// Median wall time of one optimizee step (minibatch + loss_and_grad) and of one full evaluation
// step (the same plus the update rule and theta += u), as engine/evaluate.cpp does it.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "learners/rule_factory.h"
#include "optimizees/optimizee.h"
#include "engine/numerics.h"
using namespace l2o;
using clk = std::chrono::steady_clock;
static double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }
int main(int argc, char** argv) {
  enable_flush_to_zero();
  const char* problem = argv[1];
  const char* rule_name = argv[2];
  const int steps = argc > 3 ? std::atoi(argv[3]) : 200;
  ProblemConfig cfg = problem_config_by_name(problem);
  cfg.data_dir = "/work/main/data";
  auto opt = make_optimizee<float>(cfg);
  const int64_t n = opt->num_params();
  auto r = make_update_rule(rule_name, 0.001);
  std::vector<float> theta(n), g(n), u(n);
  opt->init(0, theta.data());
  r.rule->reset(n);
  Rng batches(0, kStreamBatch);
  Batch b;
  std::vector<double> t_opt, t_all;
  for (int t = 0; t < steps + 10; ++t) {
    auto t0 = clk::now();
    opt->sample_batch(batches, b);
    opt->loss_and_grad(theta.data(), b, g.data());
    auto t1 = clk::now();
    r.rule->update(g.data(), u.data());
    for (int64_t i = 0; i < n; ++i) theta[i] += u[i];
    auto t2 = clk::now();
    if (t >= 10) {  // skip warm-up
      t_opt.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      t_all.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
  }
  std::printf("%s %s params %lld: median ms/step optimizee %.2f, with update rule %.2f (%d steps)\n", problem,
              r.label.c_str(), (long long)n, med(t_opt), med(t_all), steps);
}
