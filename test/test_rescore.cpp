// Kept validation weights scored again at another horizon (engine/rescore.h): at the run's own horizon
// they give back its logged scores and pick; at another they pick what a run validating there picks.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/learner_io.h"
#include "engine/rescore.h"
#include "engine/run_spec.h"
#include "engine/trainer.h"
#include "quad_spec.h"
#include "temp_dir.h"

using namespace l2o;
namespace fs = std::filesystem;

namespace {

// kQuadSpec at seed 5, 10 epochs and lr 0.01: validations whose picks differ between horizons.
const std::vector<std::string> kSets = {"seed=5", "training.epochs=10", "training.meta_optimizer.lr=0.01"};

// (epoch, score) of each validation line of a run's metrics.jsonl.
std::vector<std::pair<int64_t, double>> logged(const std::string& run) {
  std::vector<std::pair<int64_t, double>> out;
  std::istringstream in(read_file(run + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.value("kind", "") == "validation") out.emplace_back(j.at("epoch").get<int64_t>(), j.at("score").get<double>());
  }
  return out;
}

RunSpec spec_with(std::vector<std::string> sets) {
  sets.insert(sets.begin(), kSets.begin(), kSets.end());
  return parse_run_spec(kQuadSpec, "test", sets);
}

TrainSummary train_into(const std::string& dir, const std::vector<std::string>& sets) {
  TrainerOptions opt;
  opt.run_dir = dir;
  return train(spec_with(sets), opt);
}

}  // namespace

TEST_CASE("kept validation weights rescored give the run's scores, and another horizon's pick", "[trainer]") {
  l2o_test::TempDir tmp("rescore");
  const std::string a = tmp.file("nv40"), b = tmp.file("nv20");
  const TrainSummary sa = train_into(a, {"output.keep_validated=true"});
  const RunSpec spec = parse_run_spec(read_file(a + "/spec.json"), a + "/spec.json", {});
  REQUIRE(spec.keep_validated);

  // At the run's own horizon: its logged scores bit for bit, and its best epoch.
  const Rescore same = rescore_validated(a, spec, 40);
  const auto log_a = logged(a);
  REQUIRE(log_a.size() == 5);  // epochs 2, 4, ..., 10
  REQUIRE(same.validations.size() == log_a.size());
  for (size_t k = 0; k < log_a.size(); ++k) {
    REQUIRE(same.validations[k].index == static_cast<int64_t>(k));
    REQUIRE(same.validations[k].epoch == log_a[k].first);
    REQUIRE(same.validations[k].score == log_a[k].second);
    REQUIRE(same.validations[k].logged_score == log_a[k].second);
  }
  REQUIRE(same.best >= 0);
  REQUIRE(same.validations[static_cast<size_t>(same.best)].epoch == sa.best_epoch);

  // At 20 steps: what a run trained with n_valid 20 logs and picks (another epoch than at 40),
  // without training again.
  const TrainSummary sb20 = train_into(b, {"validation.n_valid=20"});
  const Rescore other = rescore_validated(a, spec, 20, 0, 2);
  const auto log_b = logged(b);
  REQUIRE(other.validations.size() == log_b.size());
  for (size_t k = 0; k < log_b.size(); ++k) REQUIRE(other.validations[k].score == log_b[k].second);
  const auto& pick = other.validations[static_cast<size_t>(other.best)];
  REQUIRE(pick.epoch == sb20.best_epoch);
  REQUIRE(pick.epoch != sa.best_epoch);  // so the pick is the new horizon's, not the run's
  REQUIRE(pick.score == sb20.best_score);
  REQUIRE(load_learner(pick.path).phi == load_learner(b + "/checkpoints/best.safetensors").phi);
  REQUIRE(sb20.phi == sa.phi);  // the premise: validating at another horizon trains the same weights
}

TEST_CASE("rescoring refuses what it cannot answer, naming the problem", "[trainer]") {
  l2o_test::TempDir tmp("rescore_err");
  const std::string plain = tmp.file("plain");
  train_into(plain, {"training.epochs=2"});
  const RunSpec spec = spec_with({});
  REQUIRE_THROWS_WITH(rescore_validated(plain, spec, 80),
                      Catch::Contains("no kept validation weights") && Catch::Contains("output.keep_validated true"));
  const RunSpec cl = spec_with({"curriculum.enabled=true", "curriculum.n_train=[20,40]"});
  REQUIRE_THROWS_WITH(rescore_validated(plain, cl, 80), Catch::Contains("trains with a curriculum"));
  // A kept file whose contents are another validation's.
  const std::string kept = tmp.file("kept");
  train_into(kept, {"training.epochs=4", "output.keep_validated=true"});
  fs::copy_file(kept + "/checkpoints/validated/0.safetensors", kept + "/checkpoints/validated/7.safetensors");
  REQUIRE_THROWS_WITH(rescore_validated(kept, spec, 40),
                      Catch::Contains("7.safetensors: holds validation 0, its name says 7"));
  fs::remove(kept + "/checkpoints/validated/7.safetensors");
  // A kept file whose logged score is not a number (written by hand, as a damaged one would read).
  {
    LoadedLearner l = load_learner(kept + "/checkpoints/validated/1.safetensors");
    save_learner(kept + "/checkpoints/validated/1.safetensors", *l.learner, l.phi, l.config,
                 {{"validation_index", "1"}, {"epoch", "4"}, {"validation_score", "abc"}});
    REQUIRE_THROWS_WITH(rescore_validated(kept, spec, 40),
                        Catch::Contains("1.safetensors: metadata \"validation_score\" is not a number: \"abc\""));
    fs::remove(kept + "/checkpoints/validated/1.safetensors");
  }
  write_file_atomic(kept + "/checkpoints/validated/notes.txt", "x");
  REQUIRE_THROWS_WITH(rescore_validated(kept, spec, 40), Catch::Contains("notes.txt: not a kept validation"));
}
