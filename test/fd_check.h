// Shared helpers for finite-difference gradient checks (double precision).
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

namespace l2o_test {

// Central differences of objective() with respect to every entry of v (h = 1e-6).
template <typename F>
std::vector<double> central_diff(std::vector<double>& v, F objective) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i], e = 1e-6;
    v[i] = keep + e;
    const double fp = objective();
    v[i] = keep - e;
    const double fm = objective();
    v[i] = keep;
    out[i] = (fp - fm) / (2 * e);
  }
  return out;
}

// |got - ref| <= atol + rtol |ref| elementwise, with the reference required to be non-trivial.
inline void require_close(const std::vector<double>& got, const std::vector<double>& ref, double rtol, double atol) {
  REQUIRE(got.size() == ref.size());
  double refmax = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    refmax = std::max(refmax, std::fabs(ref[i]));
    INFO("index " << i << ": analytic " << got[i] << " vs finite difference " << ref[i]);
    REQUIRE(std::fabs(got[i] - ref[i]) <= atol + rtol * std::fabs(ref[i]));
  }
  REQUIRE(refmax > 1e-6);
}

}  // namespace l2o_test
