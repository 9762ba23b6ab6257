// training.random_scale (engine/random_scale.h): the scaled problem is f(r x) with gradient
// r grad f, r = exp(U(-b, b)) drawn per instance from the seed; a scaled run trains and resumes
// bit-exactly.
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/atomic_file.h"
#include "engine/random_scale.h"
#include "engine/run_spec.h"
#include "engine/trainer.h"
#include "optimizees/quadratic.h"
#include "test/temp_dir.h"

using namespace l2o;

TEST_CASE("a randomly scaled optimizee is f(r x) with gradient r grad f", "[random_scale]") {
  Quadratic<float> q(4, 5, 0.5);
  RandomlyScaled s(q, 3.0);
  const int64_t n = q.num_params();
  std::vector<float> x(n), theta0(n);
  s.init(7, x.data());
  q.init(7, theta0.data());
  const std::vector<float> r = s.scale();
  double lo = 1e9, hi = 0;
  for (int64_t i = 0; i < n; ++i) {
    REQUIRE(r[i] >= std::exp(-3.0f) * 0.9999f);
    REQUIRE(r[i] <= std::exp(3.0f) * 1.0001f);
    lo = std::min(lo, double(r[i]));
    hi = std::max(hi, double(r[i]));
    REQUIRE(x[i] == theta0[i] / r[i]);  // the instance starts where the unscaled one does
  }
  REQUIRE(hi / lo > 5);  // the scales really spread
  Batch none;
  std::vector<float> g(n), g_inner(n), theta(n);
  for (int64_t i = 0; i < n; ++i) x[i] += 0.1f * static_cast<float>(i % 3);
  for (int64_t i = 0; i < n; ++i) theta[i] = r[i] * x[i];
  REQUIRE(s.loss_and_grad(x.data(), none, g.data()) == q.loss_and_grad(theta.data(), none, g_inner.data()));
  for (int64_t i = 0; i < n; ++i) REQUIRE(g[i] == g_inner[i] * r[i]);
  // Another seed, other scales; the same seed, the same scales (a resumed epoch redraws them).
  s.init(8, x.data());
  REQUIRE(s.scale() != r);
  s.init(7, x.data());
  REQUIRE(s.scale() == r);
}

TEST_CASE("a randomly scaled run trains, differs from the unscaled one and resumes bit-exactly", "[random_scale][trainer]") {
  const char* text = R"({
    "seed": 2,
    "problem": {"type": "quadratic", "count": 8},
    "learner": {"type": "rnnprop", "hidden": [6, 6], "projection": 6, "output_scale": 0.1},
    "training": {"epochs": 6, "n_train": 40, "unroll": 20, "random_scale": 3.0},
    "validation": {"period": 2, "n_valid": 40, "rollouts": 2},
    "imitation": {"enabled": true, "ratio": 0.5},
    "output": {"checkpoint_every": 1}
  })";
  RunSpec spec = parse_run_spec(text, "test", {});
  REQUIRE(spec.random_scale == 3.0);
  l2o_test::TempDir a("scaled_full"), b("scaled_resumed"), c("unscaled");
  TrainerOptions full;
  full.run_dir = a.path.string();
  TrainSummary sa = train(spec, full);
  TrainerOptions part;
  part.run_dir = b.path.string();
  part.stop_after_epochs = 3;
  train(spec, part);
  TrainerOptions resume;
  resume.run_dir = b.path.string();
  resume.resume = true;
  TrainSummary sb = train(parse_run_spec(read_file(b.file("spec.json")), b.file("spec.json"), {}), resume);
  REQUIRE(sa.phi == sb.phi);
  TrainerOptions plain;
  plain.run_dir = c.path.string();
  TrainSummary sc = train(parse_run_spec(text, "test", {"training.random_scale=0"}), plain);
  REQUIRE(sc.phi != sa.phi);
  REQUIRE_THROWS_WITH(parse_run_spec(text, "test", {"training.random_scale=-1"}),
                      Catch::Contains("$.training.random_scale"));
}
