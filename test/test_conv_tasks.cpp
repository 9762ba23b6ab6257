// The ConvNet task-batch CPU ops (kernels/conv_tasks_cpu.cpp, the CUDA twins' reference) against
// independent references in double: the axis swap by index, the convolution by its naive sum, its
// backward as the exact adjoint of the forward, batch norm against the one-task op on NCHW; both
// input layouts and the per-task parameter stride.
#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/conv.h"
#include "kernels/rng.h"

using namespace l2o;

namespace {

std::vector<double> rnd(int64_t n, uint64_t seed) {
  Rng r(seed, 5);
  std::vector<double> v(n);
  for (auto& x : v) x = 2 * r.uniform() - 1;
  return v;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// NCHW images of K tasks (K n, c, hw) to the task layout (K, c, n, hw), by index.
std::vector<double> to_task_layout(const std::vector<double>& x, int64_t K, int64_t n, int64_t c, int64_t hw) {
  std::vector<double> y(x.size());
  for (int64_t k = 0; k < K; ++k)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t q = 0; q < hw; ++q) y[((k * c + ch) * n + i) * hw + q] = x[((k * n + i) * c + ch) * hw + q];
  return y;
}

}  // namespace

TEST_CASE("swap_axes_cpu swaps the middle axes", "[conv][tasks]") {
  const int64_t outer = 2, a = 3, b = 4, inner = 5;
  const auto x = rnd(outer * a * b * inner, 1);
  std::vector<double> y(x.size());
  swap_axes_cpu<double>(outer, a, b, inner, x.data(), y.data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j)
        for (int64_t q = 0; q < inner; ++q)
          REQUIRE(y[((o * b + j) * a + i) * inner + q] == x[((o * a + i) * b + j) * inner + q]);
}

TEST_CASE("conv task ops: naive sums, both layouts, the parameter stride, the adjoint", "[conv][tasks]") {
  ConvShape s;
  s.n = 2, s.c_in = 2, s.h = 7, s.w = 6, s.c_out = 3, s.k = 3, s.stride = GENERATE(1, 2);
  const int64_t K = 3, hw = s.h * s.w, ohw = s.col_cols(), stride = s.weight_size() + s.c_out + 4;
  const auto theta = rnd(K * stride, 2);  // task k: w at k * stride, b right after it
  const auto x = rnd(K * s.in_size(), 3);
  std::vector<double> y(K * s.out_size()), y2(y.size()), col(K * s.cuda_col_size()), dcol(K * s.cuda_col_size());
  const double* w = theta.data();
  const double* b = theta.data() + s.weight_size();
  conv2d_forward_tasks_cpu<double>(s, K, stride, true, x.data(), w, b, y.data(), col.data());
  const auto xt = to_task_layout(x, K, s.n, s.c_in, hw);
  conv2d_forward_tasks_cpu<double>(s, K, stride, false, xt.data(), w, b, y2.data(), col.data());
  REQUIRE(y2 == y);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t o = 0; o < s.c_out; ++o)
      for (int64_t i = 0; i < s.n; ++i)
        for (int64_t p = 0; p < s.h_out(); ++p)
          for (int64_t q = 0; q < s.w_out(); ++q) {
            double ref = b[k * stride + o];
            for (int64_t c = 0; c < s.c_in; ++c)
              for (int64_t ki = 0; ki < s.k; ++ki)
                for (int64_t kj = 0; kj < s.k; ++kj)
                  ref += w[k * stride + ((o * s.c_in + c) * s.k + ki) * s.k + kj] *
                         x[(((k * s.n + i) * s.c_in + c) * s.h + p * s.stride + ki) * s.w + q * s.stride + kj];
            REQUIRE(y[((k * s.c_out + o) * s.n + i) * ohw + p * s.w_out() + q] == Approx(ref).epsilon(1e-12));
          }

  // The backward is the adjoint of the forward: <dx, v> = <dy, conv(v) without bias>, <dw, u> =
  // <dy, conv with weights u>, db = the sums of dy, each task's at its stride.
  const auto dy = rnd(y.size(), 4);
  std::vector<double> dx(K * s.in_size()), grads(K * stride, 0.0);
  conv2d_backward_tasks_cpu<double>(s, K, stride, false, xt.data(), w, dy.data(), dx.data(), grads.data(),
                                    grads.data() + s.weight_size(), col.data(), dcol.data());
  const auto v = rnd(xt.size(), 5);
  std::vector<double> yv(y.size());
  conv2d_forward_tasks_cpu<double>(s, K, stride, false, v.data(), w, nullptr, yv.data(), col.data());
  REQUIRE(dot(dx, v) == Approx(dot(dy, yv)).epsilon(1e-11));
  auto u = rnd(K * stride, 6);
  std::vector<double> yu(y.size());
  conv2d_forward_tasks_cpu<double>(s, K, stride, false, xt.data(), u.data(), nullptr, yu.data(), col.data());
  double gu = 0;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < s.weight_size(); ++j) gu += grads[k * stride + j] * u[k * stride + j];
  REQUIRE(gu == Approx(dot(dy, yu)).epsilon(1e-11));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t o = 0; o < s.c_out; ++o) {
      double sum = 0;
      for (int64_t q = 0; q < s.n * ohw; ++q) sum += dy[(k * s.c_out + o) * s.n * ohw + q];
      REQUIRE(grads[k * stride + s.weight_size() + o] == Approx(sum).epsilon(1e-12));
    }
}

TEST_CASE("batch-norm task ops equal the one-task op on each task's NCHW images", "[conv][tasks]") {
  const int64_t K = 2, n = 3, c = 4, hw = 5, len = n * hw, stride = 2 * c + 3;
  const auto x = rnd(K * n * c * hw, 7);  // NCHW per task
  const auto xt = to_task_layout(x, K, n, c, hw);
  const auto gb = rnd(K * stride, 8);  // gamma at k * stride, beta right after it
  std::vector<double> y(xt.size()), xhat(xt.size()), inv_std(K * c);
  batchnorm_forward_tasks_cpu<double>(K, c, len, xt.data(), gb.data(), gb.data() + c, stride, 1e-3, y.data(),
                                      xhat.data(), inv_std.data());
  const auto dyt = rnd(xt.size(), 9);
  std::vector<double> dx(xt.size()), dgb(K * stride, 0.0);
  batchnorm_backward_tasks_cpu<double>(K, c, len, dyt.data(), xhat.data(), gb.data(), inv_std.data(), stride,
                                       dx.data(), dgb.data(), dgb.data() + c);
  for (int64_t k = 0; k < K; ++k) {
    const int64_t o = k * n * c * hw;
    std::vector<double> y1(n * c * hw), xh1(y1.size()), is1(c), dy1(y1.size()), dx1(y1.size()), dg1(c), db1(c);
    batchnorm_forward_cpu<double>(n, c, hw, x.data() + o, gb.data() + k * stride, gb.data() + k * stride + c, 1e-3,
                                  y1.data(), xh1.data(), is1.data());
    for (int64_t i = 0; i < n; ++i)  // dy back to NCHW
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t q = 0; q < hw; ++q) dy1[(i * c + ch) * hw + q] = dyt[o + (ch * n + i) * hw + q];
    batchnorm_backward_cpu<double>(n, c, hw, dy1.data(), xh1.data(), gb.data() + k * stride, is1.data(), dx1.data(),
                                   dg1.data(), db1.data());
    for (int64_t ch = 0; ch < c; ++ch) {
      REQUIRE(inv_std[k * c + ch] == is1[ch]);  // the same sums in the same order
      REQUIRE(dgb[k * stride + ch] == Approx(dg1[ch]).epsilon(1e-13));
      REQUIRE(dgb[k * stride + c + ch] == Approx(db1[ch]).epsilon(1e-13));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t q = 0; q < hw; ++q) {
          REQUIRE(y[o + (ch * n + i) * hw + q] == y1[(i * c + ch) * hw + q]);
          REQUIRE(dx[o + (ch * n + i) * hw + q] == Approx(dx1[(i * c + ch) * hw + q]).epsilon(1e-13));
        }
    }
  }
}
