#include <catch2/catch.hpp>

#include "kernels/device.h"

TEST_CASE("saxpy on the device matches the host", "[gpu]") {
  const int n = 1000003;  // odd size: exercises the bounds guard of the last block
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = 0.001f * static_cast<float>(i % 977);
    y[i] = 1.0f - 0.0005f * static_cast<float>(i % 613);
  }
  auto got = l2o::cuda_saxpy(2.5f, x, y);
  for (int i = 0; i < n; ++i) REQUIRE(got[i] == Approx(2.5f * x[i] + y[i]).epsilon(1e-6));
}
