// RNNprop through the whole meta-training machinery: it learns on the quadratic, and curriculum
// plus imitation runs log their decisions and resume bit-exactly, as L2O-DM's do.
#include <catch2/catch.hpp>

#include <filesystem>

#include "engine/atomic_file.h"
#include "engine/learner_io.h"
#include "engine/run_spec.h"
#include "engine/trainer.h"
#include "test/temp_dir.h"

using namespace l2o;

TEST_CASE("RNNprop meta-training on the quadratic improves the validation score", "[rnnprop][trainer]") {
  const char* text = R"({
    "seed": 3,
    "problem": {"type": "quadratic", "count": 16},
    "learner": {"type": "rnnprop", "hidden": [8, 8], "projection": 8, "output_scale": 0.1},
    "training": {"epochs": 40, "n_train": 40, "unroll": 20, "meta_optimizer": {"lr": 0.005}},
    "validation": {"period": 40, "n_valid": 40, "rollouts": 4}
  })";
  RunSpec spec = parse_run_spec(text, "test", {});
  l2o_test::TempDir dir("rnnprop_learn");
  auto learner = make_learner<float>(SpecNode(spec.learner, "$.learner"));
  REQUIRE(learner->type() == "rnnprop");
  std::vector<float> phi0(learner->num_params());
  learner->init_params(spec.seed, phi0.data());
  const double before = validation_score(spec, *learner, phi0, spec.n_valid, 0);
  TrainerOptions opt;
  opt.run_dir = dir.path.string();
  TrainSummary s = train(spec, opt);
  const double after = validation_score(spec, *learner, s.phi, spec.n_valid, 0);
  INFO("validation score before " << before << ", after " << after);
  REQUIRE(std::isfinite(before));
  REQUIRE(after < 0.5 * before);
  LoadedLearner best = load_learner(dir.file("checkpoints/best.safetensors"));
  REQUIRE(best.learner->type() == "rnnprop");  // the checkpoint names its learner
  REQUIRE(best.phi == s.phi);
}

TEST_CASE("RNNprop curriculum and imitation epochs run and resume bit-exactly", "[rnnprop][trainer][curriculum]") {
  const char* text = R"({
    "seed": 5,
    "problem": {"type": "quadratic", "count": 8},
    "learner": {"type": "rnnprop", "hidden": [6, 6], "projection": 6, "output_scale": 0.1},
    "training": {"epochs": 12, "unroll": 20, "meta_optimizer": {"lr": 0.005}},
    "validation": {"rollouts": 3},
    "curriculum": {"enabled": true, "n_train": [20, 40, 60], "period": 2, "patience": 1},
    "imitation": {"enabled": true, "ratio_per_stage": [0.5]},
    "output": {"checkpoint_every": 1}
  })";
  RunSpec spec = parse_run_spec(text, "test", {});
  l2o_test::TempDir a("rnnprop_cur_full"), b("rnnprop_cur_resumed");
  TrainerOptions full;
  full.run_dir = a.path.string();
  TrainSummary sa = train(spec, full);
  const std::string m = read_file(a.file("metrics.jsonl"));
  INFO(m);
  REQUIRE_THAT(m, Catch::Contains("\"mode\":\"imitation\"") && Catch::Contains("\"mode\":\"meta\""));
  TrainerOptions part;
  part.run_dir = b.path.string();
  part.stop_after_epochs = 5;
  train(spec, part);
  TrainerOptions resume;
  resume.run_dir = b.path.string();
  resume.resume = true;
  TrainSummary sb =
      train(parse_run_spec(read_file(b.file("spec.json")), b.file("spec.json"), {}), resume);
  REQUIRE(sa.phi == sb.phi);
  REQUIRE(sa.epochs_done == sb.epochs_done);
}
