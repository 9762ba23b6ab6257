// kernels/fixed_order.h: sums whose order depends only on the sequence summed.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/fixed_order.h"
#include "kernels/rng.h"

using namespace l2o;

namespace {

std::vector<float> values(int64_t n, uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * 3.0 + 1.0);
  return v;
}

}  // namespace

TEST_CASE("FixedOrderAccumulator: one piece equals fixed_order_sum bit for bit", "[fixed_order]") {
  for (int64_t n : {0, 1, 15, 16, 17, 100, 1000}) {
    const auto x = values(n, 3 + n);
    FixedOrderAccumulator<float> acc;
    acc.add(n, [&](int64_t i) { return x[i]; });
    REQUIRE(acc.total() == fixed_order_sum(x.data(), n));
  }
}

TEST_CASE("FixedOrderAccumulator: the total does not depend on how the sequence is cut", "[fixed_order]") {
  const auto x = values(1000, 11);
  FixedOrderAccumulator<float> whole;
  whole.add(1000, [&](int64_t i) { return x[i]; });
  // pieces of 0, 1, 5, 16, 17, 33, 81 and the rest: every lane phase at a cut
  FixedOrderAccumulator<float> cut;
  int64_t at = 0;
  for (int64_t len : {0, 1, 5, 16, 17, 33, 81, 1000 - 153}) {
    cut.add(len, [&](int64_t i) { return x[at + i]; });
    at += len;
  }
  REQUIRE(at == 1000);
  REQUIRE(cut.total() == whole.total());
  double exact = 0;
  for (float v : x) exact += v;
  REQUIRE(whole.total() == Approx(exact).epsilon(1e-5));
}

TEST_CASE("FixedOrderAccumulator<double> keeps a float sequence's sum to double precision", "[fixed_order]") {
  auto x = values(4099, 23);
  for (auto& v : x) v += 1000.0f;  // a large common offset: float accumulation would lose digits
  FixedOrderAccumulator<double> acc;
  acc.add(4099, [&](int64_t i) { return static_cast<double>(x[i]); });
  long double exact = 0;
  for (float v : x) exact += v;
  REQUIRE(std::fabs(acc.total() - static_cast<double>(exact)) < 1e-9);
  const float in_float = fixed_order_sum(x.data(), 4099);
  REQUIRE(std::fabs(in_float - static_cast<double>(exact)) > 1e-3);  // the double accumulator is needed
}
