// L2O-Scale's training options: TF1's RMSProp meta-optimizer (its arithmetic and state), the
// meta_loss and meta_optimizer spec keys, and a CI-size run of L2O-Scale on the authors' objective
// and meta-optimizer that trains, moves phi within RMSProp's bound and resumes bit-exactly.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "engine/atomic_file.h"
#include "engine/learner_io.h"
#include "engine/meta_step.h"
#include "engine/run_spec.h"
#include "engine/safetensors.h"
#include "engine/trainer.h"
#include "kernels/optim_math.h"
#include "test/temp_dir.h"

using namespace l2o;

TEST_CASE("the rmsprop meta-optimizer is TF1's ApplyRMSProp with ms from 1", "[meta_optimizer]") {
  MetaOptimizerSpec spec;
  spec.rmsprop = true;
  spec.lr = 0.01;
  spec.momentum = 0.5;
  spec.eps = 1e-10;
  std::vector<float> phi = {1.0f, -2.0f, 0.5f}, mom(3, 0.0f), ms(3, 0.0f);  // ms as a fresh TrainState has it
  int64_t step = 0;
  MetaOptimizer opt(spec, 0.0, mom, ms, step);
  std::vector<double> ref_ms(3, 1.0), ref_mom(3, 0.0), ref(phi.begin(), phi.end());
  for (int k = 0; k < 3; ++k) {
    std::vector<float> g = {0.5f * (k + 1), -3.0f, k == 1 ? 0.0f : 1e-3f};
    for (int i = 0; i < 3; ++i) {
      ref_ms[i] = 0.9 * ref_ms[i] + 0.1 * g[i] * g[i];
      ref_mom[i] = 0.5 * ref_mom[i] + 0.01 * g[i] / std::sqrt(ref_ms[i] + 1e-10);
      ref[i] -= ref_mom[i];
    }
    opt.apply(phi, g);
  }
  REQUIRE(step == 3);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(ms[i] == Approx(ref_ms[i]).epsilon(1e-6));
    REQUIRE(mom[i] == Approx(ref_mom[i]).epsilon(1e-5));
    REQUIRE(phi[i] == Approx(ref[i]).epsilon(1e-6));
  }
  // Momentum 0 is the teachers' rmsprop_tf_coord, bit for bit.
  spec.momentum = 0;
  std::vector<float> a = {0.3f, -0.7f}, m0(2), v0(2), b = a, vb(2, kRmspropTfInitMs);
  int64_t s0 = 0;
  MetaOptimizer plain(spec, 0.0, m0, v0, s0);
  for (int k = 0; k < 4; ++k) {
    std::vector<float> g = {0.2f * (k + 1), 1.5f};
    plain.apply(a, g);
    for (int i = 0; i < 2; ++i) b[i] += rmsprop_tf_coord(g[i], vb[i], 0.01f, 0.9f, 1e-10f);
  }
  REQUIRE(a == b);
}

TEST_CASE("training.meta_loss and the rmsprop meta-optimizer keys parse strictly", "[spec][meta_optimizer]") {
  RunSpec d = parse_run_spec("{}", "spec.json", {});
  CHECK(d.meta_loss == "sum");
  CHECK(d.resolved["training"]["meta_loss"] == "sum");
  CHECK(!d.meta.rmsprop);
  CHECK(!d.imitation.share_meta_optimizer);
  RunSpec r = parse_run_spec(R"({"training": {"meta_loss": "mean_log_ratio", "meta_optimizer": {"type": "rmsprop"}}})",
                             "spec.json", {});
  CHECK(r.meta_loss == "mean_log_ratio");
  CHECK(r.meta.rmsprop);
  CHECK(r.meta.decay == 0.9);
  CHECK(r.meta.momentum == 0.0);
  CHECK(r.meta.eps == 1e-10);  // TF1's default (the authors set 1e-20 in their spec)
  CHECK(r.resolved["training"]["meta_optimizer"].count("beta1") == 0);
  auto err = [](const std::string& text) {
    try {
      parse_run_spec(text, "spec.json", {});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err(R"({"training": {"meta_loss": "mean_log"}})"), Catch::Contains("$.training.meta_loss"));
  CHECK_THAT(err(R"({"training": {"meta_optimizer": {"type": "rmsprop", "beta1": 0.9}}})"),
             Catch::Contains("$.training.meta_optimizer.beta1: unknown key"));
  CHECK_THAT(err(R"({"training": {"meta_optimizer": {"decay": 0.9}}})"),
             Catch::Contains("$.training.meta_optimizer.decay: unknown key"));
}

namespace {

const char* kScaleSpec = R"({
  "seed": 4,
  "problem": {"type": "quadratic", "count": 8, "dims": 5},
  "learner": {"type": "l2o_scale"},
  "training": {"epochs": 6, "n_train": 40, "unroll": 20, "meta_loss": "mean_log_ratio",
               "meta_optimizer": {"type": "rmsprop", "lr": 0.001, "eps": 1e-20}},
  "validation": {"period": 3, "n_valid": 40, "rollouts": 3},
  "imitation": {"enabled": true, "ratio": 0.3, "teachers": [{"type": "adam", "lr": 0.01}], "omega": 0.05,
                "share_meta_optimizer": true},
  "output": {"checkpoint_every": 1}
})";

// Trains `spec` in run_dir for `epochs` epochs, then resumes it from its spec.json to the end.
TrainSummary stop_and_resume(const RunSpec& spec, const std::string& run_dir, int64_t epochs) {
  TrainerOptions part;
  part.run_dir = run_dir;
  part.stop_after_epochs = epochs;
  train(spec, part);
  TrainerOptions resume;
  resume.run_dir = run_dir;
  resume.resume = true;
  const std::string sj = run_dir + "/spec.json";
  return train(parse_run_spec(read_file(sj), sj, {}), resume);
}

}  // namespace

TEST_CASE("L2O-Scale trains on the mean log ratio with RMSProp and resumes bit-exactly", "[l2o_scale][trainer]") {
  l2o_test::TempDir tmp;
  const RunSpec spec = parse_run_spec(kScaleSpec, "test", {});
  nlohmann::json cfg = spec.learner;
  auto learner = make_learner<float>(SpecNode(cfg, "$.learner"));
  std::vector<float> phi0(learner->num_params());
  learner->init_params(spec.seed, phi0.data());

  TrainerOptions full;
  full.run_dir = tmp.file("full");
  const TrainSummary a = train(spec, full);
  REQUIRE(a.epochs_done == 6);
  REQUIRE(a.skipped_segments == 0);
  const std::string m = read_file(full.run_dir + "/metrics.jsonl");
  INFO(m);
  REQUIRE_THAT(m, Catch::Contains("\"mode\":\"imitation\"") && Catch::Contains("\"meta_loss\""));
  // phi moved, and never further than RMSProp allows: |step| <= lr / sqrt(1 - decay) per meta-step.
  double moved = 0;
  for (size_t i = 0; i < phi0.size(); ++i) moved = std::max(moved, std::fabs(double(a.phi[i]) - phi0[i]));
  REQUIRE(moved > 0);
  REQUIRE(moved <= a.meta_steps * 0.001 * std::sqrt(10.0) * 1.0001);
  REQUIRE(std::isfinite(a.best_score));

  const std::string part = tmp.file("resumed");
  const TrainSummary b = stop_and_resume(spec, part, 4);
  REQUIRE(b.epochs_done == 6);
  REQUIRE(a.phi == b.phi);
  REQUIRE(a.best_score == b.best_score);
}

TEST_CASE("training.carry_learner_state keeps L2O-Scale's state across epochs and resumes bit-exactly",
          "[l2o_scale][trainer]") {
  l2o_test::TempDir tmp;
  const std::vector<std::string> carry = {"training.carry_learner_state=true"};
  const RunSpec spec = parse_run_spec(kScaleSpec, "test", carry);
  TrainerOptions full;
  full.run_dir = tmp.file("full");
  const TrainSummary a = train(spec, full);
  REQUIRE(a.epochs_done == 6);
  REQUIRE(a.skipped_segments == 0);
  // The carried state changes training: not the run that zeroes the state every epoch.
  TrainerOptions zeroed;
  zeroed.run_dir = tmp.file("zeroed");
  REQUIRE(train(parse_run_spec(kScaleSpec, "test", {}), zeroed).phi != a.phi);
  const SafetensorsFile st = load_safetensors(full.run_dir + "/checkpoints/state.safetensors");
  bool has_state = false;
  for (const auto& t : st.tensors) has_state |= t.name == "learner_state" && !t.data.empty();
  REQUIRE(has_state);

  const std::string part = tmp.file("resumed");
  const TrainSummary b = stop_and_resume(spec, part, 4);
  REQUIRE(b.epochs_done == 6);
  REQUIRE(a.phi == b.phi);  // the carried state came back exactly
  REQUIRE(a.best_score == b.best_score);

  // A state whose carried values do not fit the learner names the file and stops before training.
  const std::string path = part + "/checkpoints/state.safetensors";
  const std::string sj = part + "/spec.json";
  TrainerOptions resume;
  resume.run_dir = part;
  resume.resume = true;
  SafetensorsFile bad = load_safetensors(path);
  for (auto& t : bad.tensors)
    if (t.name == "learner_state") {
      t.data.resize(10);
      t.shape = {10};
    }
  save_safetensors(path, bad);
  try {
    train(parse_run_spec(read_file(sj), sj, {}), resume);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith(path + ": the L2O-Scale state has 10 values"));
  }
}

TEST_CASE("training.carry_learner_state is refused for learners that cannot carry their state", "[trainer][spec]") {
  l2o_test::TempDir tmp;
  TrainerOptions o;
  o.run_dir = tmp.file("run");
  const RunSpec spec = parse_run_spec(R"({"problem": {"type": "quadratic", "count": 2, "dims": 3},
    "learner": {"type": "l2o_dm"}, "training": {"epochs": 1, "carry_learner_state": true}})", "spec.json", {});
  try {
    train(spec, o);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) ==
          "$.training.carry_learner_state: the l2o_dm learner on backend cpu cannot carry its state across epochs "
          "(l2o_scale can)");
  }
  REQUIRE(!std::filesystem::exists(o.run_dir));  // refused before anything was written
}
