// evaluate()'s progress callback: once per seed, in order, with that seed's last recorded loss,
// including a seed that diverged (its last finite loss).
#include <catch2/catch.hpp>
#include <cmath>

#include "engine/evaluate.h"
#include "engine/rule_factory.h"

using namespace l2o;

TEST_CASE("evaluate reports each finished seed to its progress callback", "[evaluate]") {
  const ProblemConfig quad = problem_config_by_name("quadratic");
  for (double lr : {0.01, 1e6}) {  // 1e6: plain SGD diverges on the quadratic
    INFO("lr " << lr);
    NamedRule sgd = make_update_rule("sgd", lr);
    std::vector<size_t> done;
    std::vector<double> last;
    const EvalResult r = evaluate(*sgd.rule, sgd.label, "quadratic", quad, 20, {3, 4, 5}, Backend::cpu,
                                  [&](size_t d, size_t total, double loss, bool ran) {
                                    REQUIRE(total == 3);
                                    REQUIRE(ran);  // no partial results: every seed runs
                                    done.push_back(d);
                                    last.push_back(loss);
                                  });
    REQUIRE(done == std::vector<size_t>{1, 2, 3});
    REQUIRE(r.losses.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      REQUIRE(std::isfinite(last[i]));
      REQUIRE(last[i] == r.losses[i].back());
    }
    REQUIRE(r.diverged == (lr > 1 ? 3 : 0));
  }
}
