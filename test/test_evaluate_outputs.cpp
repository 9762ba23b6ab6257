// l2o_eval's files from evaluate()'s results: curves_thin.csv keeps the rows it promises (the
// report's tables need each seed's last row), summary.json carries each seed's final loss.
#include <algorithm>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/evaluate.h"
#include "engine/rule_factory.h"

using namespace l2o;

namespace {
// (seed, step) of every data row of a curves CSV.
std::vector<std::pair<int, int>> seed_steps(const std::string& csv) {
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  REQUIRE(line == "optimizer,problem,seed,step,loss");
  std::vector<std::pair<int, int>> out;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string opt, prob, seed, step;
    std::getline(row, opt, ',');
    std::getline(row, prob, ',');
    std::getline(row, seed, ',');
    std::getline(row, step, ',');
    out.emplace_back(std::stoi(seed), std::stoi(step));
  }
  return out;
}
}  // namespace

TEST_CASE("thin_curve_keeps: steps 0-100, every 100th after, and the last row", "[evaluate]") {
  for (int64_t t = 0; t <= 100; ++t) REQUIRE(thin_curve_keeps(t, 10001));
  REQUIRE_FALSE(thin_curve_keeps(101, 10001));
  REQUIRE_FALSE(thin_curve_keeps(9999, 10001));
  REQUIRE(thin_curve_keeps(200, 10001));
  REQUIRE(thin_curve_keeps(10000, 10001));
  REQUIRE(thin_curve_keeps(136, 137));  // a diverged seed's last recorded step
  int64_t kept = 0;
  for (int64_t t = 0; t <= 10000; ++t) kept += thin_curve_keeps(t, 10001);
  REQUIRE(kept == 101 + 99);  // 0..100, then 200, 300, ..., 10000
}

TEST_CASE("curves_thin.csv holds the kept rows of curves.csv, with their losses", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  std::vector<EvalResult> results;
  for (double lr : {0.01, 1e6}) {  // 1e6: SGD diverges on the quadratic, so its seeds end early
    NamedRule sgd = make_update_rule("sgd", lr);
    results.push_back(evaluate(*sgd.rule, sgd.label, "quadratic", quad, 250, {3, 4}, Backend::cpu));
  }
  REQUIRE(results[1].diverged == 2);
  const std::string full = curves_csv(results), thin = curves_csv(results, true);
  const auto full_rows = seed_steps(full), thin_rows = seed_steps(thin);
  // Every thin row is the full file's row at the same place (same loss text), in order.
  std::istringstream fin(full), tin(thin);
  std::string fl, tl;
  std::getline(fin, fl);
  std::getline(tin, tl);
  size_t matched = 0;
  while (std::getline(tin, tl)) {
    while (std::getline(fin, fl) && fl != tl) {
    }
    REQUIRE(fl == tl);
    ++matched;
  }
  REQUIRE(matched == thin_rows.size());
  // The finished seeds keep 0..100 and 200 (their last step, 250, too); the diverged ones their last row.
  size_t expect = 0;
  for (const auto& r : results)
    for (const auto& c : r.losses)
      for (size_t t = 0; t < c.size(); ++t) expect += thin_curve_keeps(static_cast<int64_t>(t), static_cast<int64_t>(c.size()));
  REQUIRE(thin_rows.size() == expect);
  REQUIRE(thin_rows.size() < full_rows.size());
  REQUIRE(std::count(thin_rows.begin(), thin_rows.end(), std::make_pair(3, 250)) == 1);  // sgd lr 0.01's last row
}

TEST_CASE("late_median_loss: the median of the last 100 steps, barely moved by a spike at the last one", "[evaluate]") {
  std::vector<float> c(301);
  for (size_t t = 0; t < c.size(); ++t) c[t] = 1.0f / static_cast<float>(t + 1);
  // The last 100 values are 1/202 ... 1/301; the median of an even count is the mean of the middle two.
  REQUIRE(late_median_loss(c) == Approx(0.5 * (1.0 / 251 + 1.0 / 252)).epsilon(1e-6));
  c.back() = 100.0f;  // a spike at the last step: the final loss jumps 30,000x, the median moves one rank
  REQUIRE(late_median_loss(c) == Approx(0.5 * (1.0 / 250 + 1.0 / 251)).epsilon(1e-6));
  REQUIRE(late_median_loss({3.0f, 1.0f, 2.0f}) == 2.0);  // shorter than the window: all of it
  REQUIRE(std::isnan(late_median_loss({})));
}

TEST_CASE("summary.json gives each seed's final loss, null where it diverged", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  std::vector<EvalResult> results;
  for (double lr : {0.01, 1e6}) {
    NamedRule sgd = make_update_rule("sgd", lr);
    results.push_back(evaluate(*sgd.rule, sgd.label, "quadratic", quad, 30, {7, 8, 9}, Backend::cpu));
  }
  const auto doc = nlohmann::json::parse(summary_json(results))["results"];
  REQUIRE(nlohmann::json::parse(summary_json(results)).count("provenance") == 0);
  const auto with = nlohmann::json::parse(summary_json(results, {{"git_commit", "abc123"}, {"command", "l2o_eval x"}}));
  REQUIRE(with["provenance"]["git_commit"] == "abc123");
  REQUIRE(with["provenance"]["command"] == "l2o_eval x");
  REQUIRE(with["results"] == doc);
  REQUIRE(doc.size() == 2);
  for (size_t k = 0; k < 3; ++k) {  // the median of each finished seed's last 100 steps (here steps 0-30: all 31)
    std::vector<float> c = results[0].losses[k];
    std::sort(c.begin(), c.end());
    REQUIRE(doc[0]["late_median_losses"][k].get<double>() == static_cast<double>(c[15]));
    REQUIRE(doc[1]["late_median_losses"][k].is_null());
  }
  REQUIRE(doc[0]["seed_ids"] == nlohmann::json({7, 8, 9}));
  for (size_t k = 0; k < 3; ++k) {
    REQUIRE(doc[0]["final_losses"][k].get<double>() == static_cast<double>(results[0].losses[k].back()));
    REQUIRE(doc[1]["final_losses"][k].is_null());
  }
}
