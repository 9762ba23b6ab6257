#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/rng.h"

using namespace l2o;

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[rng]") {
  // Random123 kat_vectors: philox4x32 10 rounds, counter and key all zero / all ones.
  Philox4 z = philox4x32(0, 0, 0);
  REQUIRE(z.v[0] == 0x6627e8d5u);
  REQUIRE(z.v[1] == 0xe169c58du);
  REQUIRE(z.v[2] == 0xbc57ac4cu);
  REQUIRE(z.v[3] == 0x9b00dbd8u);
  Philox4 o = philox4x32(~0ull, ~0ull, ~0ull);
  REQUIRE(o.v[0] == 0x408f276du);
  REQUIRE(o.v[1] == 0x41c83b0eu);
  REQUIRE(o.v[2] == 0xa20bc7c6u);
  REQUIRE(o.v[3] == 0x6d5451fdu);
}

TEST_CASE("Rng state round-trips mid-block and streams are independent", "[rng]") {
  Rng a(42, kStreamBatch);
  for (int i = 0; i < 7; ++i) a.next_u32();  // stop inside a 4-word block
  Rng b = Rng::from_state(a.state());
  for (int i = 0; i < 20; ++i) REQUIRE(a.next_u32() == b.next_u32());
  Rng c(42, kStreamInit);
  Rng d(42, kStreamBatch);
  REQUIRE(c.next_u32() != d.next_u32());
}

TEST_CASE("Rng normals have the right moments and truncation bounds", "[rng]") {
  Rng r(1, 1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    double z = r.normal();
    s += z;
    s2 += z * z;
  }
  REQUIRE(std::fabs(s / n) < 0.01);
  REQUIRE(std::fabs(s2 / n - 1.0) < 0.02);
  for (int i = 0; i < 10000; ++i) REQUIRE(std::fabs(r.truncated_normal(0.5)) <= 1.0);
  for (int i = 0; i < 10000; ++i) REQUIRE(r.below(10) < 10u);
}
