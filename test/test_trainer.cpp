#include <algorithm>
// Meta-training: spec errors, the non-finite guard, learning on the quadratic, resume equivalence.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/evaluate.h"
#include "engine/run_spec.h"
#include "engine/train_state.h"
#include "engine/safetensors.h"
#include "engine/run_lock.h"
#include "engine/segment.h"
#include "engine/trainer.h"
#include "learners/l2o_dm.h"
#include "engine/learner_io.h"
#include "optimizees/quadratic.h"
#include "quad_spec.h"

using namespace l2o;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("l2o_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}


}  // namespace

TEST_CASE("run spec errors name the JSON path and what was expected", "[spec][trainer]") {
  auto err = [](const std::string& text, std::vector<std::string> sets = {}) {
    try {
      parse_run_spec(text, "spec.json", sets);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err(R"({"training": {"epcohs": 5}})"), Catch::Contains("$.training.epcohs: unknown key") &&
                                                        Catch::Contains("epochs"));
  CHECK_THAT(err(R"({"training": {"epochs": "many"}})"), Catch::Contains("$.training.epochs") &&
                                                             Catch::Contains("expected an integer"));
  CHECK_THAT(err(R"({"training": {"epochs": 0}})"), Catch::Contains("$.training.epochs: 0 is out of range"));
  CHECK_THAT(err(R"({"training": {"n_train": 30}})"), Catch::Contains("$.training.n_train: 30 is not a multiple"));
  CHECK_THAT(err(R"({"problem": {"type": "mlp_huge"}})"), Catch::Contains("$.problem.type"));
  CHECK_THAT(err(R"({"learner": {"hidden": [20, 0]}})"), Catch::Contains("$.learner.hidden"));
  CHECK_THAT(err(R"({"learner": {"preprocess": "log"}})"), Catch::Contains("$.learner.preprocess"));
  CHECK_THAT(err(R"({"validation": {"rollouts": 2.5}})"), Catch::Contains("$.validation.rollouts"));
  CHECK_THAT(err(R"({"seed": 1,})"), Catch::Contains("spec.json: invalid JSON at line 1"));
  CHECK_THAT(err("{}", {"training.lr=0.1"}), Catch::Contains("$.training.lr: unknown key"));
  CHECK_THAT(err("[1]"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(err(R"({"training": {"epochs": null}})"), Catch::Contains("$.training.epochs: null is not a value here"));
  // A disabled curriculum's defaults constrain nothing; an enabled one must grow.
  CHECK(err("{}", {"training.unroll=30", "training.n_train=90"}) == "no error");
  CHECK_THAT(err(R"({"curriculum": {"enabled": true, "n_train": [100, 100]}})"),
             Catch::Contains("n_train must increase") && Catch::Contains("n_train[1] = 100 follows 100"));
  // Size limits (docs/reliability.md) are checked before anything is allocated.
  CHECK_THAT(err(R"({"learner": {"hidden": [4096, 4096]}})"), Catch::Contains("$.learner.hidden"));
  CHECK_THAT(err(R"({"learner": {"hidden": [20, 20, 20, 20, 20]}})"), Catch::Contains("at most 4 layers"));
  CHECK_THAT(err(R"({"problem": {"type": "quadratic", "count": 1000000, "dims": 4096}})"),
             Catch::Contains("$.problem") && Catch::Contains("count x dims x dims"));
  CHECK_THAT(err(R"({"problem": {"batch_size": 1000000}})"), Catch::Contains("$.problem.batch_size"));
  CHECK_THAT(err(R"({"training": {"unroll": 5000, "n_train": 5000}})"), Catch::Contains("$.training.unroll"));
  // A valid spec resolves every default, and --set overrides reach nested keys.
  RunSpec s = parse_run_spec("{}", "spec.json", {"training.epochs=7", "validation.n_valid=200"});
  CHECK(s.epochs == 7);
  CHECK(s.n_valid == 200);
  CHECK(s.resolved["training"]["unroll"] == 20);
  CHECK(s.resolved["learner"]["output_scale"] == 0.01);
  CHECK(s.problem_name == "mlp_orig");
}

namespace {
// A problem whose loss turns NaN at a given call: the guard must catch it before backward.
class NanAfter : public OptimizeeT<float> {
 public:
  explicit NanAfter(int calls) : left_(calls) {}
  std::string name() const override { return "nan_after"; }
  int64_t num_params() const override { return 5; }
  void init(uint64_t, float* theta) override {
    for (int i = 0; i < 5; ++i) theta[i] = 0.1f * i;
  }
  void sample_batch(Rng&, Batch&) const override {}
  float loss_and_grad(const float* theta, const Batch&, float* grad) override {
    float f = 0;
    for (int i = 0; i < 5; ++i) {
      f += theta[i] * theta[i];
      if (grad) grad[i] = 2 * theta[i];
    }
    return --left_ < 0 ? NAN : f;
  }

 private:
  int left_;
};
}  // namespace

TEST_CASE("a segment with a non-finite loss reports it and leaves dphi untouched", "[trainer]") {
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params()), dphi(dm.num_params(), 7.0f), theta(5), dl_du, u;
  dm.init_params(0, phi.data());
  NanAfter opt(4);
  opt.init(0, theta.data());
  dm.reset(5, 20);
  Rng rng(0, kStreamBatch);
  auto r = meta_segment<float>(dm, phi.data(), opt, theta.data(), rng, 20, dl_du, u, dphi.data());
  REQUIRE_FALSE(r.finite);
  for (float g : dphi) REQUIRE(g == 7.0f);
}

TEST_CASE("validation draws fresh instances each time by default, fixed ones on request", "[trainer]") {
  RunSpec fresh = parse_run_spec(kQuadSpec, "test", {});
  REQUIRE(fresh.fresh_validation);
  REQUIRE(fresh.resolved["validation"]["instances"] == "fresh");
  const auto a0 = validation_seeds(fresh, 0), a1 = validation_seeds(fresh, 1);
  REQUIRE(a0.size() == static_cast<size_t>(fresh.rollouts));
  REQUIRE(validation_seeds(fresh, 0) == a0);  // a function of the run seed and the index only
  for (uint64_t s : a1) REQUIRE(std::find(a0.begin(), a0.end(), s) == a0.end());
  RunSpec other_seed = parse_run_spec(kQuadSpec, "test", {"seed=7"});
  REQUIRE(validation_seeds(other_seed, 0) != a0);

  RunSpec fixed = parse_run_spec(kQuadSpec, "test", {"validation.instances=\"fixed\""});
  REQUIRE_FALSE(fixed.fresh_validation);
  REQUIRE(validation_seeds(fixed, 0) == validation_seeds(fixed, 5));
  REQUIRE(validation_seeds(fixed, 0) != a0);
  REQUIRE_THROWS_WITH(parse_run_spec(kQuadSpec, "test", {"validation.instances=\"random\""}),
                      Catch::Contains("$.validation.instances"));

  // The scores differ too: the same weights on other instances.
  auto learner = make_learner<float>(SpecNode(fresh.learner, "$.learner"));
  std::vector<float> phi(learner->num_params());
  learner->init_params(0, phi.data());
  REQUIRE(validation_score(fresh, *learner, phi, 20, 0) != validation_score(fresh, *learner, phi, 20, 1));
  REQUIRE(validation_score(fixed, *learner, phi, 20, 0) == validation_score(fixed, *learner, phi, 20, 3));
}

namespace {

// The learner with fixed weights as a plain optimizer, written out here to score the validation
// instances independently of the trainer.
class WeightsRule : public UpdateRule {
 public:
  WeightsRule(LearnerT<float>& l, const std::vector<float>& phi) : l_(l), phi_(phi) {}
  std::string name() const override { return "weights"; }
  void reset(int64_t n) override { l_.reset(n, 0); }
  void update(const float* g, float* u) override { l_.step(phi_.data(), g, u, false); }
  bool learned() const override { return true; }

 private:
  LearnerT<float>& l_;
  const std::vector<float>& phi_;
};

}  // namespace

TEST_CASE("validation reports its score's standard error from the rollouts' spread", "[trainer]") {
  RunSpec spec = parse_run_spec(kQuadSpec, "test", {"validation.rollouts=6"});
  auto learner = make_learner<float>(SpecNode(spec.learner, "$.learner"));
  std::vector<float> phi(learner->num_params());
  learner->init_params(0, phi.data());
  double se = -1;
  const double score = validation_score(spec, *learner, phi, 40, 2, Backend::cpu, &se);
  // The same six instances, each scored on its own.
  WeightsRule rule(*learner, phi);
  EvalResult res = evaluate(rule, "weights", spec.problem_name, spec.problem, 40, validation_seeds(spec, 2), Backend::cpu);
  REQUIRE(res.losses.size() == 6);
  double sum = 0, sq = 0;
  for (const auto& c : res.losses) sum += c.back();
  for (const auto& c : res.losses) sq += (c.back() - sum / 6) * (c.back() - sum / 6);
  REQUIRE(score == sum);
  REQUIRE(se > 0);
  REQUIRE(se == Approx(std::sqrt(6 * sq / 5)).epsilon(1e-12));  // sqrt(rollouts) x the sample sd
  // One rollout has no spread to measure.
  RunSpec one = parse_run_spec(kQuadSpec, "test", {"validation.rollouts=1"});
  validation_score(one, *learner, phi, 40, 0, Backend::cpu, &se);
  REQUIRE(std::isnan(se));
  // A run logs it beside every validation score.
  const std::string dir = temp_dir("score_se");
  TrainerOptions opt;
  opt.run_dir = dir;
  train(parse_run_spec(kQuadSpec, "test", {"training.epochs=2"}), opt);
  const std::string m = read_file(dir + "/metrics.jsonl");
  REQUIRE(m.find("\"kind\":\"validation\"") != std::string::npos);
  REQUIRE(m.find("\"score_se\":") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("meta-training on the quadratic improves the validation score markedly", "[trainer]") {
  const std::string dir = temp_dir("learn");
  RunSpec spec = parse_run_spec(kQuadSpec, "test", {"training.epochs=60", "validation.period=60"});
  auto learner = make_learner<float>(SpecNode(spec.learner, "$.learner"));
  std::vector<float> phi0(learner->num_params());
  learner->init_params(spec.seed, phi0.data());
  // Index 0: the instances of the run's only validation (at epoch 60).
  const double before = validation_score(spec, *learner, phi0, spec.n_valid, 0);
  TrainerOptions opt;
  opt.run_dir = dir;
  TrainSummary s = train(spec, opt);
  const double after = validation_score(spec, *learner, s.phi, spec.n_valid, 0);
  INFO("validation score before " << before << ", after " << after);
  REQUIRE(std::isfinite(before));
  REQUIRE(s.meta_steps == 120);
  REQUIRE(after < 0.5 * before);
  REQUIRE(s.best_score == Approx(after).epsilon(1e-6));  // the last validation was the best one here
  // The best checkpoint loads back bit-exactly.
  LoadedLearner best = load_learner(dir + "/checkpoints/best.safetensors");
  REQUIRE(best.phi == s.phi);
  fs::remove_all(dir);
}

namespace {
RunSpec spec_of(const std::string& run_dir) {
  return parse_run_spec(read_file(run_dir + "/spec.json"), run_dir + "/spec.json", {});
}
}  // namespace

TEST_CASE("a run stopped and resumed ends with the same weights as an uninterrupted run", "[trainer]") {
  const std::string a = temp_dir("full"), b = temp_dir("resumed");
  RunSpec spec = parse_run_spec(kQuadSpec, "test", {});
  TrainerOptions full;
  full.run_dir = a;
  TrainSummary sa = train(spec, full);

  TrainerOptions part;
  part.run_dir = b;
  part.stop_after_epochs = 3;  // as if killed after epoch 3's checkpoint
  TrainSummary sb1 = train(spec, part);
  REQUIRE(sb1.epochs_done == 3);
  append_line(b + "/metrics.jsonl", "{\"kind\":\"epoch\",\"epoch\":3,\"partial\":true}");  // logged, never checkpointed
  TrainerOptions resume;
  resume.run_dir = b;
  resume.resume = true;
  TrainSummary sb = train(spec_of(b), resume);  // as l2o_train --resume: the run's own spec.json
  REQUIRE(sb.epochs_done == 6);
  REQUIRE(sa.phi == sb.phi);  // bit-identical
  REQUIRE(sa.best_epoch == sb.best_epoch);
  REQUIRE(read_file(a + "/metrics.jsonl").size() > 0);
  // metrics.jsonl holds the same records (timings aside): same number of lines, no leftover partial line.
  auto lines = [](const std::string& t) { return std::count(t.begin(), t.end(), '\n'); };
  REQUIRE(lines(read_file(a + "/metrics.jsonl")) == lines(read_file(b + "/metrics.jsonl")));
  REQUIRE(read_file(b + "/metrics.jsonl").find("partial") == std::string::npos);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("validation rollouts run in parallel score the same, and a run with them is the same run", "[trainer]") {
  RunSpec spec = parse_run_spec(kQuadSpec, "test", {});
  auto learner = make_learner<float>(SpecNode(spec.learner, "$.learner"));
  std::vector<float> phi(learner->num_params());
  learner->init_params(1, phi.data());
  const auto more = [&spec] { return make_learner<float>(SpecNode(spec.learner, "$.learner")); };
  double se1 = 0, se3 = 0;
  const double s1 = validation_score(spec, *learner, phi, 40, 0, Backend::cpu, &se1);
  const double s3 = validation_score(spec, *learner, phi, 40, 0, Backend::cpu, &se3, 3, more);
  REQUIRE(std::isfinite(s1));
  REQUIRE(s1 == s3);  // the same sum in the same order: bit for bit
  REQUIRE(se1 == se3);

  // A run validating 3 rollouts at once, stopped after epoch 3 and resumed with one: the weights
  // and validation scores of a run that never ran anything in parallel.
  const std::string a = temp_dir("jobs_serial"), b = temp_dir("jobs_parallel");
  TrainerOptions serial;
  serial.run_dir = a;
  TrainSummary sa = train(spec, serial);
  TrainerOptions parallel;
  parallel.run_dir = b;
  parallel.validation_jobs = 3;
  parallel.stop_after_epochs = 3;
  train(spec, parallel);
  TrainerOptions resume;
  resume.run_dir = b;
  resume.resume = true;
  TrainSummary sb = train(spec_of(b), resume);
  REQUIRE(sa.phi == sb.phi);
  REQUIRE(sa.best_epoch == sb.best_epoch);
  REQUIRE(sa.best_score == sb.best_score);
  auto scores = [](const std::string& text) {
    std::vector<double> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.value("kind", "") == "validation") out.push_back(j.at("score").get<double>());
    }
    return out;
  };
  const auto va = scores(read_file(a + "/metrics.jsonl"));
  REQUIRE(va.size() == 3);  // epochs 2, 4 and 6
  REQUIRE(va == scores(read_file(b + "/metrics.jsonl")));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("resume errors name the problem", "[trainer]") {
  RunSpec spec = parse_run_spec(kQuadSpec, "test", {});
  TrainerOptions opt;
  opt.run_dir = temp_dir("nothing");
  opt.resume = true;
  REQUIRE_THROWS_WITH(train(spec, opt), Catch::Contains("no training state to resume"));
}

TEST_CASE("resume refuses a state it cannot trust, naming the file", "[trainer][reliability]") {
  const std::string dir = temp_dir("trust"), other = temp_dir("trust_other");
  TrainerOptions part;
  part.stop_after_epochs = 2;
  part.run_dir = dir;
  train(parse_run_spec(kQuadSpec, "test", {}), part);
  part.run_dir = other;
  train(parse_run_spec(kQuadSpec, "test", {"seed=5"}), part);
  const std::string state = dir + "/checkpoints/state.safetensors";
  const std::string pristine = read_file(state), spec_text = read_file(dir + "/spec.json");
  TrainerOptions resume;
  resume.run_dir = dir;
  resume.resume = true;
  auto resume_error = [&]() -> std::string {
    try {
      train(spec_of(dir), resume);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };

  // spec.json edited by hand (another seed): the state was written for a different spec.
  nlohmann::json edited = nlohmann::json::parse(spec_text);
  edited["seed"] = 1;
  write_file_atomic(dir + "/spec.json", edited.dump(2));
  REQUIRE_THAT(resume_error(), Catch::Contains(state) && Catch::Contains("written for a different spec"));
  write_file_atomic(dir + "/spec.json", spec_text);

  // A state copied from another run.
  write_file_atomic(state, read_file(other + "/checkpoints/state.safetensors"));
  REQUIRE_THAT(resume_error(), Catch::Contains("different spec"));

  // Corrupt metadata numbers: each is refused with the key named.
  struct Bad {
    const char* key;
    const char* value;
  };
  for (Bad b : {Bad{"epoch", "-3"}, Bad{"epoch", "2junk"}, Bad{"metrics_lines", "-1"}, Bad{"best_score", "nan"},
                Bad{"stopped", "yes"}, Bad{"validations", ""}}) {
    INFO(b.key << " = \"" << b.value << "\"");
    SafetensorsFile f = decode_safetensors(pristine, state);
    f.metadata[b.key] = b.value;
    save_safetensors(state, f);
    REQUIRE_THAT(resume_error(), Catch::Contains(state) && Catch::Contains(std::string("\"") + b.key + "\""));
  }
  // A state that counts more metrics lines than the file holds.
  SafetensorsFile f = decode_safetensors(pristine, state);
  f.metadata["metrics_lines"] = "999";
  save_safetensors(state, f);
  REQUIRE_THAT(resume_error(), Catch::Contains("metrics.jsonl has") && Catch::Contains("counts 999"));

  // The pristine state resumes, and removes the temp files interrupted writes left.
  write_file_atomic(state, pristine);
  write_file_atomic(dir + "/checkpoints/latest.safetensors.tmp.4242", "partial");
  write_file_atomic(dir + "/metrics.jsonl.tmp.77", "partial");
  REQUIRE(resume_error() == "no error");
  REQUIRE_FALSE(fs::exists(dir + "/checkpoints/latest.safetensors.tmp.4242"));
  REQUIRE_FALSE(fs::exists(dir + "/metrics.jsonl.tmp.77"));
  fs::remove_all(dir);
  fs::remove_all(other);
}

TEST_CASE("one writer per run directory: a second run on a locked directory is refused", "[trainer][reliability]") {
  const std::string dir = temp_dir("locked");
  fs::create_directories(dir);
  {
    RunDirLock held(dir);  // as another l2o_train would hold it
    TrainerOptions opt;
    opt.run_dir = dir;
    REQUIRE_THROWS_WITH(train(parse_run_spec(kQuadSpec, "test", {}), opt),
                        Catch::Contains(dir + " is in use by another l2o_train") && Catch::Contains("pid"));
    REQUIRE_FALSE(fs::exists(dir + "/spec.json"));  // nothing written
  }
  TrainerOptions opt;  // released: the run proceeds
  opt.run_dir = dir;
  opt.stop_after_epochs = 1;
  REQUIRE(train(parse_run_spec(kQuadSpec, "test", {}), opt).epochs_done == 1);
  fs::remove_all(dir);
}

TEST_CASE("learner checkpoints refuse non-finite weights and reject corrupt files", "[trainer]") {
  nlohmann::json cfg = nlohmann::json::object();
  auto learner = make_learner<float>(SpecNode(cfg, "$.learner"));
  std::vector<float> phi(learner->num_params(), 0.5f);
  const std::string path = temp_dir("ckpt") + ".safetensors";
  phi[17] = NAN;
  REQUIRE_THROWS_WITH(save_learner(path, *learner, phi, cfg, {}), Catch::Contains("refusing to write"));
  REQUIRE_FALSE(fs::exists(path));
  phi[17] = 0.25f;
  save_learner(path, *learner, phi, cfg, {{"epoch", "3"}});
  LoadedLearner back = load_learner(path);
  REQUIRE(back.phi == phi);
  REQUIRE(back.metadata["epoch"] == "3");
  std::string bytes = read_file(path);
  write_file_atomic(path, bytes.substr(0, bytes.size() - 10));  // truncated data
  REQUIRE_THROWS_WITH(load_learner(path), Catch::Contains(path));
  write_file_atomic(path, "not a checkpoint");
  REQUIRE_THROWS_WITH(load_learner(path), Catch::Contains(path));
  fs::remove(path);
}

TEST_CASE("curriculum and imitation epochs run, log their decisions and resume bit-exactly", "[trainer][curriculum]") {
  const char* spec_text = R"({
    "seed": 5,
    "problem": {"type": "quadratic", "count": 8},
    "learner": {"hidden": [6, 6], "output_scale": 0.1},
    "training": {"epochs": 14, "unroll": 20, "meta_optimizer": {"lr": 0.005}},
    "validation": {"rollouts": 3},
    "curriculum": {"enabled": true, "n_train": [20, 40, 60], "period": 2, "patience": 1},
    "imitation": {"enabled": true, "ratio_per_stage": [0.5]},
    "output": {"checkpoint_every": 1}
  })";
  RunSpec spec = parse_run_spec(spec_text, "test", {});
  REQUIRE(spec.imitation.teachers.size() == 3);  // the supplement's ensemble by default
  const std::string a = temp_dir("cur_full"), b = temp_dir("cur_resumed");
  TrainerOptions full;
  full.run_dir = a;
  TrainSummary sa = train(spec, full);
  const std::string m = read_file(a + "/metrics.jsonl");
  INFO(m);
  REQUIRE_THAT(m, Catch::Contains("\"mode\":\"imitation\"") && Catch::Contains("\"mode\":\"meta\""));
  REQUIRE_THAT(m, Catch::Contains("\"imitation_loss\"") && Catch::Contains("\"teacher\""));
  // Either the curriculum advanced or it stopped; both are logged with their reason.
  const bool advanced = m.find("\"kind\":\"stage\"") != std::string::npos;
  const bool stopped = m.find("\"kind\":\"stop\"") != std::string::npos;
  REQUIRE((advanced || stopped));

  TrainerOptions part;
  part.run_dir = b;
  part.stop_after_epochs = 5;
  train(spec, part);
  TrainerOptions resume;
  resume.run_dir = b;
  resume.resume = true;
  TrainSummary sb = train(spec_of(b), resume);  // as l2o_train --resume: the run's own spec.json
  REQUIRE(sa.phi == sb.phi);
  REQUIRE(sa.epochs_done == sb.epochs_done);
  REQUIRE(sa.stopped_by_curriculum == sb.stopped_by_curriculum);
  REQUIRE(read_file(b + "/metrics.jsonl").size() > 0);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("every example spec in specs/ parses", "[spec]") {
  int count = 0;
  for (const auto& e : fs::directory_iterator(L2O_SOURCE_DIR "/specs")) {
    if (e.path().extension() != ".json") continue;
    INFO(e.path());
    RunSpec s = parse_run_spec(read_file(e.path().string()), e.path().string(), {});
    REQUIRE(s.epochs > 0);
    ++count;
  }
  REQUIRE(count >= 10);
}
