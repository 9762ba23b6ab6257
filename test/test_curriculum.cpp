#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <string>
#include <limits>
#include <vector>

#include "engine/curriculum.h"
#include "kernels/common.h"

using namespace l2o;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The older tests script the consecutive-miss rule; the authors' rule has its own tests below.
CurriculumConfig small_config(std::vector<int64_t> n_train, int64_t patience = 3,
                              const std::string& rule = "consecutive") {
  CurriculumConfig cfg;
  cfg.n_train = std::move(n_train);
  cfg.patience = patience;
  cfg.rule = rule;
  return cfg;
}

// Feeds `scores` at epochs start, start+100, ... until the stage ends; returns the actions.
std::vector<CurriculumAction> feed(Curriculum& c, const std::vector<double>& scores, int64_t start) {
  std::vector<CurriculumAction> actions;
  for (size_t i = 0; i < scores.size(); ++i) {
    actions.push_back(c.on_validation(scores[i], start + 100 * static_cast<int64_t>(i)).action);
    if (actions.back() != CurriculumAction::keep_training) break;
  }
  return actions;
}

}  // namespace

TEST_CASE("curriculum defaults follow the supplement", "[curriculum]") {
  Curriculum c{CurriculumConfig{}};
  REQUIRE(c.num_stages() == 8);
  REQUIRE(c.stage() == 0);
  REQUIRE(c.n_train() == 100);
  REQUIRE(c.n_valid() == 200);  // stage c validates at the next stage's horizon
  REQUIRE(c.n_valid_at(6) == 3000);
  REQUIRE(c.n_valid_at(7) == 3000);  // last stage: its own n_train (last_n_valid unset)
  REQUIRE(std::isinf(c.stage_best()));
  REQUIRE(c.stage_best_epoch() == -1);
  REQUIRE_FALSE(c.stopped());
  REQUIRE(c.config().rule == "authors");
  REQUIRE(c.config().patience == 3);
}

TEST_CASE("curriculum (authors' rule): a stage ends at its 3rd validation if that one does not improve",
          "[curriculum]") {
  // train_dm.py: num_eval counts every validation of the stage; the first miss once num_eval >= 3 ends it.
  Curriculum c{CurriculumConfig{}};
  REQUIRE(c.on_validation(50.0, 100).improved);
  REQUIRE(c.on_validation(12.0, 200).improved);
  auto o = c.on_validation(13.0, 300);  // one miss, but the third validation: the stage ends
  REQUIRE(o.action == CurriculumAction::advance);
  REQUIRE_THAT(o.reason, Catch::Contains("validation 3 of the stage") && Catch::Contains("score 12 at epoch 200"));
  REQUIRE(c.stage() == 1);
  c.set_baseline(30.0, 300);
  REQUIRE(c.validations_in_stage() == 0);  // the baseline does not count
  // Misses before the third validation keep training; improvements past it keep the stage alive.
  REQUIRE(c.on_validation(31.0, 400).action == CurriculumAction::keep_training);
  REQUIRE(c.on_validation(29.0, 500).improved);
  REQUIRE(c.on_validation(28.0, 600).improved);
  REQUIRE(c.on_validation(27.0, 700).improved);
  REQUIRE(c.validations_in_stage() == 4);
  o = c.on_validation(27.5, 800);
  REQUIRE(o.action == CurriculumAction::advance);
  REQUIRE(c.stage() == 2);
  c.set_baseline(20.0, 800);
  // A stage that never beats its baseline stops at its third validation.
  REQUIRE(feed(c, {21, 20, 25}, 900) == std::vector<CurriculumAction>{CurriculumAction::keep_training,
                                                                      CurriculumAction::keep_training,
                                                                      CurriculumAction::stop});
  REQUIRE(c.stopped());
  REQUIRE(c.stage() == 2);
}

TEST_CASE("curriculum (authors' rule): the supplement's 300 epochs per stage are reachable", "[curriculum]") {
  // Two improvements, then misses: the authors' rule ends stage 0 at epoch 300, the consecutive one at 500.
  for (const std::string rule : {"authors", "consecutive"}) {
    Curriculum c(small_config({100, 200, 500}, 3, rule));
    const auto actions = feed(c, {10.0, 9.0, 9.5, 9.6, 9.7}, 100);
    const auto first_advance =
        std::find(actions.begin(), actions.end(), CurriculumAction::advance) - actions.begin();
    REQUIRE(100 * (first_advance + 1) == (rule == "authors" ? 300 : 500));
  }
}

TEST_CASE("curriculum (consecutive rule): improvement then patience advances to the next stage", "[curriculum]") {
  CurriculumConfig consecutive;
  consecutive.rule = "consecutive";
  Curriculum c{consecutive};
  auto o = c.on_validation(50.0, 100);  // first finite score beats +inf
  REQUIRE(o.improved);
  REQUIRE(o.action == CurriculumAction::keep_training);
  REQUIRE_THAT(o.reason, Catch::Contains("stage 0") && Catch::Contains("50") && Catch::Contains("epoch 100"));
  o = c.on_validation(12.3, 200);
  REQUIRE(o.improved);
  REQUIRE(c.stage_best() == 12.3);
  REQUIRE(c.stage_best_epoch() == 200);

  o = c.on_validation(13.0, 300);
  REQUIRE_FALSE(o.improved);
  REQUIRE(o.action == CurriculumAction::keep_training);
  REQUIRE_THAT(o.reason, Catch::Contains("1/3"));
  o = c.on_validation(12.3, 400);  // a tie is not an improvement
  REQUIRE_FALSE(o.improved);
  REQUIRE_THAT(o.reason, Catch::Contains("2/3"));
  o = c.on_validation(20.0, 500);
  REQUIRE_FALSE(o.improved);
  REQUIRE(o.action == CurriculumAction::advance);
  REQUIRE_THAT(o.reason, Catch::Contains("stage 0 (n_train 100)") && Catch::Contains("3 validations") &&
                             Catch::Contains("score 12.3 at epoch 200") &&
                             Catch::Contains("stage 1 (n_train 200, n_valid 500)"));
  REQUIRE(c.stage() == 1);
  REQUIRE(c.n_train() == 200);
  REQUIRE(c.n_valid() == 500);
  REQUIRE(c.awaiting_baseline());
  REQUIRE_THROWS_AS(c.on_validation(1.0, 600), Error);  // the baseline must come first

  c.set_baseline(30.0, 500);
  REQUIRE_FALSE(c.awaiting_baseline());
  REQUIRE(c.stage_best() == 30.0);
  REQUIRE(c.stage_best_epoch() == 500);
  REQUIRE_FALSE(c.stage_improved());
  o = c.on_validation(25.0, 600);
  REQUIRE(o.improved);
  REQUIRE_THAT(o.reason, Catch::Contains("stage 1 (n_train 200)") && Catch::Contains("25"));
  REQUIRE(feed(c, {26, 27, 28}, 700) ==
          std::vector<CurriculumAction>{CurriculumAction::keep_training, CurriculumAction::keep_training,
                                        CurriculumAction::advance});
  REQUIRE(c.stage() == 2);
  REQUIRE(c.n_train() == 500);
  REQUIRE(c.n_valid() == 1000);
}

TEST_CASE("curriculum: a stage that never beats its baseline stops after patience", "[curriculum]") {
  Curriculum c(small_config({100, 200, 500}));
  REQUIRE(c.on_validation(10.0, 100).improved);
  feed(c, {11, 11, 11}, 200);
  REQUIRE(c.stage() == 1);
  c.set_baseline(8.0, 400);
  auto o = c.on_validation(8.0, 500);  // equal to the baseline: not an improvement
  REQUIRE_FALSE(o.improved);
  o = c.on_validation(9.0, 600);
  REQUIRE(o.action == CurriculumAction::keep_training);
  o = c.on_validation(kInf, 700);  // diverged
  REQUIRE_FALSE(o.improved);
  REQUIRE(o.action == CurriculumAction::stop);
  REQUIRE(c.stopped());
  REQUIRE(c.stage() == 1);  // stays on the saturated stage
  REQUIRE_THAT(o.reason, Catch::Contains("stage 1 (n_train 200)") && Catch::Contains("baseline 8") &&
                             Catch::Contains("epoch 400") && Catch::Contains("stopping"));
}

TEST_CASE("curriculum: stage 0 that never improves stops", "[curriculum]") {
  Curriculum c(small_config({100, 200}));
  REQUIRE(c.on_validation(kInf, 100).action == CurriculumAction::keep_training);
  REQUIRE_FALSE(c.on_validation(std::nan(""), 200).improved);  // NaN counts as diverged
  auto o = c.on_validation(kInf, 300);
  REQUIRE_FALSE(o.improved);
  REQUIRE(o.action == CurriculumAction::stop);
  REQUIRE(c.stopped());
  REQUIRE_THAT(o.reason, Catch::Contains("stage 0") && Catch::Contains("3 validations") &&
                             Catch::Contains("stopping"));
}

TEST_CASE("curriculum: the end of the list is handled", "[curriculum]") {
  SECTION("last stage validates at its own n_train and finishing it stops cleanly") {
    Curriculum c(small_config({100, 200}, 2));
    REQUIRE(c.n_valid() == 200);
    c.on_validation(5.0, 100);
    REQUIRE(feed(c, {6, 6}, 200).back() == CurriculumAction::advance);
    REQUIRE(c.stage() == 1);
    REQUIRE(c.n_train() == 200);
    REQUIRE(c.n_valid() == 200);
    c.set_baseline(7.0, 300);
    REQUIRE(c.on_validation(4.0, 400).improved);
    REQUIRE(c.on_validation(4.5, 500).action == CurriculumAction::keep_training);
    auto o = c.on_validation(4.5, 600);
    REQUIRE(o.action == CurriculumAction::stop);
    REQUIRE(c.stopped());
    REQUIRE(c.stage() == 1);
    REQUIRE(c.n_train() == 200);  // still a valid stage
    REQUIRE_THAT(o.reason, Catch::Contains("curriculum complete") && Catch::Contains("score 4 at epoch 400") &&
                               Catch::Contains("stage 1 (n_train 200)"));
  }
  SECTION("last_n_valid sets the last stage's horizon") {
    CurriculumConfig cfg = small_config({100, 200}, 1);
    cfg.last_n_valid = 400;
    Curriculum c(cfg);
    REQUIRE(c.n_valid() == 200);
    c.on_validation(5.0, 100);
    auto o = c.on_validation(5.0, 200);  // patience 1
    REQUIRE(o.action == CurriculumAction::advance);
    REQUIRE_THAT(o.reason, Catch::Contains("n_valid 400"));
    REQUIRE(c.n_valid() == 400);
  }
  SECTION("a single stage") {
    Curriculum c(small_config({100}, 1));
    REQUIRE(c.n_valid() == 100);
    c.on_validation(1.0, 100);
    REQUIRE(c.on_validation(2.0, 200).action == CurriculumAction::stop);
  }
}

TEST_CASE("curriculum: an explicit n_valid list", "[curriculum]") {
  CurriculumConfig cfg = small_config({100, 200, 500}, 1);
  cfg.n_valid = {150, 300, 700};
  Curriculum c(cfg);
  REQUIRE(c.n_valid() == 150);
  c.on_validation(3.0, 100);
  auto o = c.on_validation(3.5, 200);
  REQUIRE(o.action == CurriculumAction::advance);
  REQUIRE_THAT(o.reason, Catch::Contains("stage 1 (n_train 200, n_valid 300)"));
  REQUIRE(c.n_valid() == 300);
  c.set_baseline(3.0, 200);
  c.on_validation(2.0, 300);
  REQUIRE(c.on_validation(2.0, 400).action == CurriculumAction::advance);
  REQUIRE(c.n_train() == 500);
  REQUIRE(c.n_valid() == 700);
}

TEST_CASE("curriculum: an improvement resets the patience counter", "[curriculum]") {
  Curriculum c(small_config({100, 200}));
  c.on_validation(10.0, 100);
  feed(c, {11, 12}, 200);  // two misses
  REQUIRE(c.validations_without_improvement() == 2);
  REQUIRE(c.on_validation(9.0, 400).improved);
  REQUIRE(c.validations_without_improvement() == 0);
  // Two more misses do not end the stage (they would have without the reset).
  REQUIRE(feed(c, {9.5, 9.5}, 500) ==
          std::vector<CurriculumAction>{CurriculumAction::keep_training, CurriculumAction::keep_training});
  REQUIRE(c.on_validation(9.5, 700).action == CurriculumAction::advance);
}

TEST_CASE("curriculum: to_json/from_json mid-stage resumes identically", "[curriculum]") {
  const std::vector<double> script = {10, 11, 12, 13, /*advance*/ 7, 6.5, 6.6, kInf, 6.7, /*advance*/ 5, 5, 5};
  auto drive = [&](Curriculum& c, size_t from, size_t to, std::vector<std::string>* log) {
    for (size_t i = from; i < to && !c.stopped(); ++i) {
      auto o = c.on_validation(script[i], 100 * static_cast<int64_t>(i + 1));
      log->push_back(std::string(to_string(o.action)) + (o.improved ? "+" : "") + " " + o.reason);
      if (o.action == CurriculumAction::advance) c.set_baseline(script[i] - 0.5, 100 * static_cast<int64_t>(i + 1));
    }
  };
  for (const std::string rule : {"consecutive", "authors"})
  for (size_t cut : {1, 2, 4, 6, 8, 10}) {
    const CurriculumConfig cfg = small_config({100, 200, 500}, 3, rule);
    Curriculum straight(cfg);
    std::vector<std::string> want, got;
    drive(straight, 0, script.size(), &want);

    Curriculum first(cfg);
    drive(first, 0, cut, &got);
    // Through a JSON text, as the trainer's checkpoint does.
    const nlohmann::json j = nlohmann::json::parse(first.to_json().dump());
    Curriculum resumed = Curriculum::from_json(cfg, j);
    REQUIRE(resumed.stage() == first.stage());
    REQUIRE(resumed.stage_best() == first.stage_best());
    REQUIRE(resumed.stage_best_epoch() == first.stage_best_epoch());
    drive(resumed, cut, script.size(), &got);
    REQUIRE(got == want);
    REQUIRE(resumed.stopped() == straight.stopped());
  }
  SECTION("+inf best and a pending baseline survive the round trip") {
    Curriculum c(small_config({100, 200}, 1));
    c.on_validation(kInf, 100);  // patience 1: stage 0 never improved, so it stops
    REQUIRE(c.stopped());
    Curriculum r = Curriculum::from_json(c.config(), nlohmann::json::parse(c.to_json().dump()));
    REQUIRE(r.stopped());
    REQUIRE(std::isinf(r.stage_best()));
    REQUIRE_THROWS_AS(r.on_validation(1.0, 200), Error);

    Curriculum a(small_config({100, 200}, 1));
    a.on_validation(1.0, 100);
    a.on_validation(2.0, 200);
    REQUIRE(a.awaiting_baseline());
    Curriculum b = Curriculum::from_json(a.config(), nlohmann::json::parse(a.to_json().dump()));
    REQUIRE(b.awaiting_baseline());
    REQUIRE(b.stage() == 1);
    REQUIRE_THROWS_AS(b.on_validation(1.0, 300), Error);
  }
}

TEST_CASE("curriculum: from_json rejects malformed or mismatched state", "[curriculum]") {
  const CurriculumConfig cfg = small_config({100, 200, 500});
  Curriculum c(cfg);
  c.on_validation(3.0, 100);
  const nlohmann::json good = c.to_json();

  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, nlohmann::json::array()), Catch::Contains("JSON object"));
  auto without = good;
  without.erase("stage");
  REQUIRE_THROWS_AS(Curriculum::from_json(cfg, without), InputError);
  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, without), Catch::Contains("malformed"));
  auto bad_stage = good;
  bad_stage["stage"] = 3;
  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, bad_stage), Catch::Contains("stage 3 is out of range"));
  auto bad_type = good;
  bad_type["stopped"] = "no";
  REQUIRE_THROWS_AS(Curriculum::from_json(cfg, bad_type), InputError);
  auto bad_best = good;
  bad_best["best"] = "big";
  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, bad_best), Catch::Contains("\"best\""));
  auto bad_counter = good;
  bad_counter["since_improvement"] = 3;
  bad_counter["num_eval"] = 3;
  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, bad_counter), Catch::Contains("since_improvement 3"));
  auto bad_num_eval = good;
  bad_num_eval["num_eval"] = -1;
  REQUIRE_THROWS_WITH(Curriculum::from_json(cfg, bad_num_eval), Catch::Contains("num_eval -1"));
  CurriculumConfig other_rule = cfg;
  other_rule.rule = "authors";
  REQUIRE_THROWS_WITH(Curriculum::from_json(other_rule, good), Catch::Contains("rule \"consecutive\""));
  auto v1 = good;  // an older engine's state: only the consecutive rule can continue it
  v1["version"] = 1;
  v1.erase("rule");
  v1.erase("num_eval");
  REQUIRE(Curriculum::from_json(cfg, v1).stage() == 0);
  REQUIRE_THROWS_WITH(Curriculum::from_json(other_rule, v1), Catch::Contains("resume with curriculum.rule"));

  REQUIRE_THROWS_WITH(Curriculum::from_json(small_config({100, 200, 1000}), good),
                      Catch::Contains("n_train [100, 200, 500]") && Catch::Contains("[100, 200, 1000]"));
  REQUIRE_THROWS_WITH(Curriculum::from_json(small_config({100, 200, 500}, 4), good),
                      Catch::Contains("patience 3"));
  CurriculumConfig other_valid = cfg;
  other_valid.last_n_valid = 800;
  REQUIRE_THROWS_WITH(Curriculum::from_json(other_valid, good), Catch::Contains("n_valid"));
}

TEST_CASE("curriculum: invalid configs are InputErrors", "[curriculum]") {
  REQUIRE_THROWS_AS(Curriculum(small_config({})), InputError);
  REQUIRE_THROWS_WITH(Curriculum(small_config({})), Catch::Contains("at least one stage"));
  REQUIRE_THROWS_WITH(Curriculum(small_config({100, 0})), Catch::Contains("n_train[1] must be positive, got 0"));
  REQUIRE_THROWS_WITH(Curriculum(small_config({100, -5})), Catch::Contains("got -5"));
  REQUIRE_THROWS_WITH(Curriculum(small_config({100}, 0)), Catch::Contains("patience must be >= 1, got 0"));
  REQUIRE_THROWS_WITH(Curriculum(small_config({100}, 3, "lenient")), Catch::Contains("rule must be"));
  CurriculumConfig short_valid = small_config({100, 200, 500});
  short_valid.n_valid = {200, 500};
  REQUIRE_THROWS_WITH(Curriculum(short_valid), Catch::Contains("n_valid has 2 entries but n_train has 3"));
  CurriculumConfig zero_valid = small_config({100, 200});
  zero_valid.n_valid = {200, 0};
  REQUIRE_THROWS_WITH(Curriculum(zero_valid), Catch::Contains("n_valid[1] must be positive"));
  CurriculumConfig both = small_config({100, 200});
  both.n_valid = {200, 300};
  both.last_n_valid = 400;
  REQUIRE_THROWS_WITH(Curriculum(both), Catch::Contains("last_n_valid applies only when n_valid is empty"));
}

TEST_CASE("curriculum: calls after stop throw", "[curriculum]") {
  Curriculum c(small_config({100}, 1));
  c.on_validation(1.0, 100);
  REQUIRE(c.on_validation(1.0, 200).action == CurriculumAction::stop);
  REQUIRE_THROWS_AS(c.on_validation(0.5, 300), Error);
  REQUIRE_THROWS_WITH(c.on_validation(0.5, 300), Catch::Contains("after the curriculum stopped"));
  REQUIRE_THROWS_AS(c.set_baseline(0.5, 300), Error);
}
