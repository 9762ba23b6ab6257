// The optimizees' softmax cross-entropy (kernels/softmax_xent_math.h): small losses are measured,
// not rounded to 0, and the gradient is the plain log-sum-exp form's, bit for bit.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/rng.h"
#include "kernels/softmax_xent_math.h"

using namespace l2o;

namespace {

// The plain form every loss used before log1p (and TensorFlow's op computes): log(sum) + max - z[label].
float plain_loss(const std::vector<float>& z, int32_t label, std::vector<float>& dlogits, float scale) {
  float mx = z[0];
  for (float v : z) mx = v > mx ? v : mx;
  float sum = 0;
  for (float v : z) sum += std::exp(v - mx);
  const float log_sum = std::log(sum);
  for (size_t c = 0; c < z.size(); ++c)
    dlogits[c] = scale * (std::exp(z[c] - mx - log_sum) - (static_cast<int32_t>(c) == label ? 1.f : 0.f));
  return log_sum + mx - z[label];
}

// -log softmax(z)[label] in double, from float logits: log(1 + sum of exp(z_c - z_label) over the
// other classes), through log1p so that double does not round it to 0 either.
double exact_loss(const std::vector<float>& z, int32_t label) {
  double r = 0;
  for (size_t c = 0; c < z.size(); ++c)
    if (static_cast<int32_t>(c) != label) r += std::exp(static_cast<double>(z[c]) - z[label]);
  return std::log1p(r);
}

}  // namespace

TEST_CASE("softmax cross-entropy measures losses that log(sum) rounds to 0", "[softmax]") {
  // The label leads by `margin`; the other nine logits spread below it.
  const double margin = GENERATE(0.5, 5.0, 17.0, 25.0, 40.0, 80.0);
  INFO("margin " << margin);
  Rng rng(3, 2);
  std::vector<float> z(10), d(10), d_plain(10);
  const int32_t label = 4;
  for (auto& v : z) v = static_cast<float>(rng.uniform() * 2.0 - margin);
  z[label] = 1.f;
  const float loss = softmax_xent_row(z.data(), 10, label, d.data(), 0.25f);
  const float plain = plain_loss(z, label, d_plain, 0.25f);
  const double exact = exact_loss(z, label);
  REQUIRE(std::memcmp(d.data(), d_plain.data(), sizeof(float) * d.size()) == 0);
  REQUIRE(loss > 0.f);
  REQUIRE(std::fabs(loss - exact) <= 2e-6 * exact);
  if (margin >= 25.0) REQUIRE(plain == 0.f);  // what the plain form reads: every r < 2^-24 gone
  else REQUIRE(std::fabs(plain - exact) <= 2e-6 * exact + 10 * 6e-8);  // a rounding of 1 + r per class
}

TEST_CASE("softmax cross-entropy: a label behind the max, and a tie at the max, as the plain form", "[softmax]") {
  std::vector<float> d(4), d_plain(4);
  SECTION("behind") {
    const std::vector<float> z = {0.3f, 2.5f, -1.f, 0.9f};
    const float loss = softmax_xent_row(z.data(), 4, 0, d.data(), 1.f);
    const float plain = plain_loss(z, 0, d_plain, 1.f);
    REQUIRE(std::memcmp(&loss, &plain, sizeof loss) == 0);
    REQUIRE(std::memcmp(d.data(), d_plain.data(), sizeof(float) * 4) == 0);
  }
  SECTION("tied") {
    const std::vector<float> z = {2.f, -3.f, 2.f, 0.f};
    const float loss = softmax_xent_row(z.data(), 4, 2, d.data(), 1.f);
    REQUIRE(loss == Approx(exact_loss(z, 2)).epsilon(1e-6));
  }
}

TEST_CASE("softmax cross-entropy is 0 only when every other class's exp underflows", "[softmax]") {
  std::vector<float> z = {200.f, 0.f, 0.f}, d(3);
  REQUIRE(softmax_xent_row(z.data(), 3, 0, d.data(), 1.f) == 0.f);
  z = {80.f, 0.f, 0.f};  // exp(-80) = 1.8e-35, a normal float
  REQUIRE(softmax_xent_row(z.data(), 3, 0, d.data(), 1.f) == Approx(2 * std::exp(-80.0)).epsilon(1e-5));
}
