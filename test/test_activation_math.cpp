// The float approximations shared by the CPU and CUDA LSTM against the C library in double.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "kernels/activation_math.h"

using namespace l2o;

TEST_CASE("exp_approx, sigmoid and tanh_act are accurate over the range the LSTM uses", "[math]") {
  double worst_exp = 0, worst_sig = 0, worst_tanh = 0;
  for (int i = -200000; i <= 200000; ++i) {
    const float x = static_cast<float>(i) * 4.3e-4f;  // [-86, 86]
    const double e = std::exp(static_cast<double>(x));
    worst_exp = std::max(worst_exp, std::fabs(exp_approx(x) - e) / e);
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    worst_sig = std::max(worst_sig, std::fabs(sigmoid(x) - s));
    const double t = std::tanh(static_cast<double>(x));
    worst_tanh = std::max(worst_tanh, std::fabs(tanh_act(x) - t) / std::max(std::fabs(t), 1e-3));
  }
  INFO("max rel error exp " << worst_exp << ", abs sigmoid " << worst_sig << ", rel tanh " << worst_tanh);
  REQUIRE(worst_exp < 3e-7);
  REQUIRE(worst_sig < 2e-7);
  REQUIRE(worst_tanh < 5e-7);
  // Tiny arguments keep their relative accuracy (tanh is x times a rational function of x^2).
  REQUIRE(tanh_act(1e-5f) == Approx(1e-5).epsilon(1e-6));
  REQUIRE(tanh_act(-0.05f) == Approx(std::tanh(-0.05)).epsilon(1e-6));
  REQUIRE(tanh_act(1e-30f) == Approx(1e-30).epsilon(1e-6));
  // The clamp: exactly +-1 from there on, and no overshoot just below it.
  REQUIRE(tanh_act(7.9f) <= 1.0f);
  REQUIRE(tanh_act(7.9054f) == 1.0f);
  REQUIRE(tanh_act(std::numeric_limits<float>::infinity()) == 1.0f);
}

TEST_CASE("activation approximations saturate and propagate NaN", "[math]") {
  REQUIRE(exp_approx(-1000.0f) < 1e-37f);
  REQUIRE(std::isfinite(exp_approx(1000.0f)));
  REQUIRE(sigmoid(-200.0f) >= 0.0f);
  REQUIRE(sigmoid(200.0f) == 1.0f);
  REQUIRE(tanh_act(50.0f) == 1.0f);
  REQUIRE(tanh_act(-50.0f) == -1.0f);
  REQUIRE(std::isnan(exp_approx(NAN)));
  REQUIRE(std::isnan(sigmoid(NAN)));
  REQUIRE(std::isnan(tanh_act(NAN)));
}

TEST_CASE("elu_act is TensorFlow's exp(x) - 1 below zero, and its derivative from the output", "[math]") {
  double worst = 0;
  for (int i = -100000; i <= 100000; ++i) {
    const float x = static_cast<float>(i) * 2e-4f;  // [-20, 20]
    const double ref = x > 0 ? double(x) : std::exp(double(x)) - 1.0;
    worst = std::max(worst, std::fabs(elu_act(x) - ref));
    if (x > 0) REQUIRE(elu_act(x) == x);  // exact above zero
  }
  INFO("max abs error " << worst);
  REQUIRE(worst < 2e-7);
  REQUIRE(elu_act(-100.0f) == -1.0f);
  REQUIRE(elu_act(-0.5) == std::exp(-0.5) - 1.0);  // double: the library
  REQUIRE(elu_grad_from_output(elu_act(0.3)) == 1.0);
  REQUIRE(elu_grad_from_output(elu_act(-0.3)) == Approx(std::exp(-0.3)).epsilon(1e-15));
  REQUIRE(std::isnan(elu_act(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("log_approx and asinh_act (L2O-Scale's features) are accurate and follow the library at the edges",
          "[math]") {
  double worst_log = 0, worst_asinh = 0;
  for (int i = -3000; i <= 3000; ++i) {  // 1e-30 .. 1e30, 33 points per decade, off the powers of 2
    const float x = static_cast<float>(std::pow(10.0, i / 100.0) * 1.0001);
    const double l = std::log(static_cast<double>(x));
    worst_log = std::max(worst_log, std::fabs(log_approx(x) - l) / std::max(std::fabs(l), 1.0));
    for (const float v : {x, -x}) {
      const double a = std::asinh(static_cast<double>(v));
      worst_asinh = std::max(worst_asinh, std::fabs(asinh_act(v) - a) / std::fabs(a));
    }
  }
  for (int i = 1; i <= 200000; ++i) {  // the mantissa's full range, and both sides of asinh's switch
    const float x = i * 2.5e-5f;      // (0, 5]
    const double l = std::log(static_cast<double>(x));
    worst_log = std::max(worst_log, std::fabs(log_approx(x) - l) / std::max(std::fabs(l), 1.0));
    const double a = std::asinh(static_cast<double>(x));
    worst_asinh = std::max(worst_asinh, std::fabs(asinh_act(x) - a) / a);
  }
  INFO("max error log (rel above 1 in magnitude, else abs) " << worst_log << ", rel asinh " << worst_asinh);
  REQUIRE(worst_log < 2e-7);
  REQUIRE(worst_asinh < 3e-7);
  REQUIRE(log_approx(1.0f) == 0.0f);
  REQUIRE(asinh_act(0.0f) == 0.0f);
  const float inf = std::numeric_limits<float>::infinity();
  REQUIRE(log_approx(inf) == inf);
  REQUIRE(log_approx(0.0f) == -inf);
  REQUIRE(std::isnan(log_approx(-1.0f)));
  REQUIRE(std::isnan(log_approx(NAN)));
  REQUIRE(asinh_act(inf) == inf);
  REQUIRE(asinh_act(-inf) == -inf);
  REQUIRE(std::isnan(asinh_act(NAN)));
  REQUIRE(asinh_act(1e30f) == Approx(std::asinh(1e30)).epsilon(3e-7));
  // double keeps the library (the finite-difference checks run in double)
  REQUIRE(asinh_act(0.3) == std::asinh(0.3));
  REQUIRE(log_act(0.3) == std::log(0.3));
  REQUIRE(exp_act(0.3) == std::exp(0.3));
}
