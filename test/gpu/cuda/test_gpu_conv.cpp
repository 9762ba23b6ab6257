// The conv optimizee ops (kernels/conv.h) against their CPU twins at the conv_mnist / conv_cifar
// layer shapes and awkward ones (batch 1 and 7, odd and non-square sizes, stride 1 and 2), in float
// and double, with guard regions around every output and workspace; and the ConvNet optimizee's
// loss and gradient on both backends (conv_mnist, conv_cifar_standin).
//
// Tolerances, |gpu - cpu| <= atol + rtol |cpu| with atol = atol_frac * max |cpu|:
//   conv forward/backward (cuBLAS vs Eigen, different summation order): float 1e-4 / 1e-5, double 1e-11 / 1e-12
//   batch norm (statistics in double on both, elementwise math shared): float 1e-5 / 1e-6, double 1e-11 / 1e-12
//   ReLU, max-pool, argmax: exact (the same comparisons on the same values)
//   ConvNet (float): loss 2e-5 relative; gradient 2e-3 / 2e-4 (batch norm divides by the batch std)
// The CUDA reductions are deterministic: repeated calls are compared bitwise.
#include <type_traits>

#include "engine/backend.h"
#include "kernels/conv.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

template <typename T>
std::vector<T> rand_t(int64_t n, double lo, double hi, uint64_t seed) {
  Rng r(seed, 23);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(lo + (hi - lo) * r.uniform());
  return v;
}

// gpu_compare.h's require_close for float or double.
template <typename T>
void close(const std::vector<T>& got, const std::vector<T>& ref, double rtol, double atol_frac, const char* what) {
  if constexpr (std::is_same_v<T, float>) {
    require_close(got, ref, rtol, atol_frac, what);
  } else {
    REQUIRE(got.size() == ref.size());
    double refmax = 0;
    for (T r : ref) {
      REQUIRE(std::isfinite(r));
      refmax = std::max(refmax, std::fabs(r));
    }
    INFO(what << ": max |ref| " << refmax);
    REQUIRE(refmax > 0);
    const double atol = atol_frac * refmax;
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double err = std::fabs(got[i] - ref[i]);
      if (!(err <= atol + rtol * std::fabs(ref[i]))) {
        if (bad < 5) UNSCOPED_INFO(what << "[" << i << "]: gpu " << got[i] << " cpu " << ref[i] << " err " << err);
        ++bad;
      }
    }
    INFO(what << ": " << bad << " of " << got.size() << " values outside rtol " << rtol << ", atol " << atol);
    REQUIRE(bad == 0);
  }
}

template <typename T>
struct Tol {
  static constexpr bool f = std::is_same_v<T, float>;
  static constexpr double conv_rtol = f ? 1e-4 : 1e-11, conv_atol = f ? 1e-5 : 1e-12;
  static constexpr double bn_rtol = f ? 1e-5 : 1e-11, bn_atol = f ? 1e-6 : 1e-12;
};

ConvShape conv_shape(int64_t n, int64_t c_in, int64_t h, int64_t w, int64_t c_out, int64_t k, int64_t stride) {
  ConvShape s;
  s.n = n, s.c_in = c_in, s.h = h, s.w = w, s.c_out = c_out, s.k = k, s.stride = stride;
  return s;
}

// The conv layers of conv_mnist (28 -> 26, 13 -> 9) and conv_cifar (32 -> 15, 7 -> 2), and odd ones:
// a non-square input with an even kernel that stride 2 does not tile exactly, and a 1x1 kernel.
std::vector<ConvShape> conv_shapes() {
  std::vector<ConvShape> v;
  for (int64_t n : {int64_t(1), int64_t(7)}) {
    v.push_back(conv_shape(n, 1, 28, 28, 16, 3, 1));
    v.push_back(conv_shape(n, 16, 13, 13, 32, 5, 1));
    v.push_back(conv_shape(n, 3, 32, 32, 16, 3, 2));
    v.push_back(conv_shape(n, 16, 7, 7, 32, 5, 2));
    v.push_back(conv_shape(n, 3, 9, 7, 5, 2, 2));
    v.push_back(conv_shape(n, 2, 5, 6, 3, 1, 1));
  }
  return v;
}

template <typename T>
void check_conv(const ConvShape& s) {
  INFO("conv n " << s.n << ", c_in " << s.c_in << ", " << s.h << "x" << s.w << ", c_out " << s.c_out << ", k "
                 << s.k << ", stride " << s.stride);
  const auto x = rand_t<T>(s.in_size(), -1, 1, 1), w = rand_t<T>(s.weight_size(), -0.5, 0.5, 2);
  const auto b = rand_t<T>(s.c_out, -0.5, 0.5, 3), dy = rand_t<T>(s.out_size(), -1, 1, 4);
  std::vector<T> y(s.out_size()), col(s.col_size()), dcol(s.col_size()), dx(s.in_size()), dw(s.weight_size()),
      db(s.c_out);
  conv2d_forward_cpu(s, x.data(), w.data(), b.data(), y.data(), col.data());
  conv2d_backward_cpu(s, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), col.data(), dcol.data());

  Guarded<T> d_x(x), d_w(w), d_b(b), d_dy(dy), d_y{std::vector<T>(s.out_size())};
  Guarded<T> d_col{std::vector<T>(s.cuda_col_size())}, d_dcol{std::vector<T>(s.cuda_dcol_size())};
  Guarded<T> d_dx{std::vector<T>(s.in_size())}, d_dw{std::vector<T>(s.weight_size())}, d_db{std::vector<T>(s.c_out)};
  conv2d_forward_cuda(s, d_x.data(), d_w.data(), d_b.data(), d_y.data(), d_col.data());
  close(d_y.get(), y, Tol<T>::conv_rtol, Tol<T>::conv_atol, "conv forward y");
  d_col.get();  // workspace: guards only
  conv2d_backward_cuda(s, d_x.data(), d_w.data(), d_dy.data(), d_dx.data(), d_dw.data(), d_db.data(), d_col.data(),
                       d_dcol.data());
  const auto got_dw = d_dw.get(), got_db = d_db.get();
  close(d_dx.get(), dx, Tol<T>::conv_rtol, Tol<T>::conv_atol, "conv backward dx");
  close(got_dw, dw, Tol<T>::conv_rtol, Tol<T>::conv_atol, "conv backward dw");
  close(got_db, db, Tol<T>::conv_rtol, Tol<T>::conv_atol, "conv backward db");
  d_col.get();
  d_dcol.get();

  // No bias; no dx and no db (the first block's backward): dw alone, bitwise as before (deterministic).
  std::vector<T> y_nb(s.out_size());
  conv2d_forward_cpu(s, x.data(), w.data(), static_cast<const T*>(nullptr), y_nb.data(), col.data());
  Guarded<T> d_y_nb{std::vector<T>(s.out_size())}, d_dw2{std::vector<T>(s.weight_size())};
  conv2d_forward_cuda(s, d_x.data(), d_w.data(), static_cast<const T*>(nullptr), d_y_nb.data(), d_col.data());
  close(d_y_nb.get(), y_nb, Tol<T>::conv_rtol, Tol<T>::conv_atol, "conv forward y without bias");
  conv2d_backward_cuda(s, d_x.data(), d_w.data(), d_dy.data(), static_cast<T*>(nullptr), d_dw2.data(),
                       static_cast<T*>(nullptr), d_col.data(), d_dcol.data());
  REQUIRE(d_dw2.get() == got_dw);
}

template <typename T>
void check_batchnorm(int64_t n, int64_t c, int64_t hw) {
  INFO("batch norm n " << n << ", c " << c << ", hw " << hw);
  const int64_t count = n * c * hw;
  auto x = rand_t<T>(count, -1, 1, 5);
  for (int64_t e = 0; e < count; ++e) x[e] += static_cast<T>(3 * ((e / hw) % c));  // channel offsets 0, 3, 6, ...
  const auto gamma = rand_t<T>(c, 0.5, 1.5, 6), beta = rand_t<T>(c, -0.5, 0.5, 7), dy = rand_t<T>(count, -1, 1, 8);
  const T eps = static_cast<T>(1e-3);
  std::vector<T> y(count), xhat(count), inv_std(c), dx(count), dgamma(c), dbeta(c);
  batchnorm_forward_cpu(n, c, hw, x.data(), gamma.data(), beta.data(), eps, y.data(), xhat.data(), inv_std.data());
  batchnorm_backward_cpu(n, c, hw, dy.data(), xhat.data(), gamma.data(), inv_std.data(), dx.data(), dgamma.data(),
                         dbeta.data());

  Guarded<T> d_x(x), d_gamma(gamma), d_beta(beta), d_dy(dy);
  Guarded<T> d_y{std::vector<T>(count)}, d_xhat{std::vector<T>(count)}, d_is{std::vector<T>(c)};
  Guarded<T> d_dx{std::vector<T>(count)}, d_dg{std::vector<T>(c)}, d_db{std::vector<T>(c)};
  batchnorm_forward_cuda(n, c, hw, d_x.data(), d_gamma.data(), d_beta.data(), eps, d_y.data(), d_xhat.data(),
                         d_is.data());
  const auto got_y = d_y.get(), got_xhat = d_xhat.get(), got_is = d_is.get();
  close(got_y, y, Tol<T>::bn_rtol, Tol<T>::bn_atol, "batch norm y");
  close(got_xhat, xhat, Tol<T>::bn_rtol, Tol<T>::bn_atol, "batch norm xhat");
  close(got_is, inv_std, Tol<T>::bn_rtol, 0.0, "batch norm inv_std");
  // Backward from the CPU's xhat and inv_std, so only the backward is compared.
  Guarded<T> d_xhat_cpu(xhat), d_is_cpu(inv_std);
  batchnorm_backward_cuda(n, c, hw, d_dy.data(), d_xhat_cpu.data(), d_gamma.data(), d_is_cpu.data(), d_dx.data(),
                          d_dg.data(), d_db.data());
  const auto got_dx = d_dx.get();
  close(got_dx, dx, Tol<T>::bn_rtol, Tol<T>::bn_atol, "batch norm dx");
  close(d_dg.get(), dgamma, Tol<T>::bn_rtol, Tol<T>::bn_atol, "batch norm dgamma");
  close(d_db.get(), dbeta, Tol<T>::bn_rtol, Tol<T>::bn_atol, "batch norm dbeta");

  // Deterministic: a second forward is bitwise the same; the backward in place (dx = dy, as the
  // ConvNet calls it) gives bitwise the same dx.
  batchnorm_forward_cuda(n, c, hw, d_x.data(), d_gamma.data(), d_beta.data(), eps, d_y.data(), d_xhat.data(),
                         d_is.data());
  REQUIRE(d_y.get() == got_y);
  REQUIRE(d_xhat.get() == got_xhat);
  REQUIRE(d_is.get() == got_is);
  Guarded<T> d_inplace(dy);
  batchnorm_backward_cuda(n, c, hw, d_inplace.data(), d_xhat_cpu.data(), d_gamma.data(), d_is_cpu.data(),
                          d_inplace.data(), d_dg.data(), d_db.data());
  REQUIRE(d_inplace.get() == got_dx);
}

template <typename T>
void check_relu(int64_t count) {
  INFO("relu count " << count);
  const auto x = rand_t<T>(count, -1, 1, 9), dy = rand_t<T>(count, -1, 1, 10);
  std::vector<T> y(count), dx(count);
  relu_forward_cpu(count, x.data(), y.data());
  relu_backward_cpu(count, y.data(), dy.data(), dx.data());
  Guarded<T> d_x(x), d_y{std::vector<T>(count)}, d_dy(dy), d_dx{std::vector<T>(count)};
  relu_forward_cuda(count, d_x.data(), d_y.data());
  REQUIRE(d_y.get() == y);
  relu_backward_cuda(count, d_y.data(), d_dy.data(), d_dx.data());
  REQUIRE(d_dx.get() == dx);
  relu_forward_cuda(count, d_x.data(), d_x.data());  // in place, as the ConvNet calls them
  REQUIRE(d_x.get() == y);
  relu_backward_cuda(count, d_y.data(), d_dy.data(), d_dy.data());
  REQUIRE(d_dy.get() == dx);
}

template <typename T>
void check_maxpool(int64_t nc, int64_t h, int64_t w) {
  INFO("max-pool nc " << nc << ", " << h << "x" << w);
  const int64_t ho = pool2_out_size(h), wo = pool2_out_size(w), in = nc * h * w, out = nc * ho * wo;
  auto x = rand_t<T>(in, -1, 1, 11);
  for (auto& v : x) v = std::round(v * 4) / 4;  // 9 levels: many ties, which go to the first maximum
  const auto dy = rand_t<T>(out, -1, 1, 12);
  std::vector<T> y(out), dx(in);
  std::vector<int32_t> am(out);
  maxpool2x2_forward_cpu(nc, h, w, x.data(), y.data(), am.data());
  maxpool2x2_backward_cpu(nc, h, w, dy.data(), am.data(), dx.data());
  Guarded<T> d_x(x), d_y{std::vector<T>(out)}, d_dy(dy), d_dx{std::vector<T>(in, T(7))};
  Guarded<int32_t> d_am{std::vector<int32_t>(out)};
  maxpool2x2_forward_cuda(nc, h, w, d_x.data(), d_y.data(), d_am.data());
  REQUIRE(d_y.get() == y);
  REQUIRE(d_am.get() == am);
  maxpool2x2_backward_cuda(nc, h, w, d_dy.data(), d_am.data(), d_dx.data());
  REQUIRE(d_dx.get() == dx);  // includes the zeros of rows/columns the floor cuts off
}

template <typename T>
void check_all_ops() {
  for (const ConvShape& s : conv_shapes()) check_conv<T>(s);
  // The BN shapes of both architectures' blocks, then small odd ones.
  for (int64_t n : {int64_t(1), int64_t(7)}) {
    check_batchnorm<T>(n, 16, 26 * 26);
    check_batchnorm<T>(n, 32, 9 * 9);
    check_batchnorm<T>(n, 16, 15 * 15);
    check_batchnorm<T>(n, 32, 2 * 2);
    check_batchnorm<T>(n, 3, 7);
  }
  check_batchnorm<T>(7, 3, 1);
  check_batchnorm<T>(300, 2, 5);  // more values per channel than threads per block
  for (int64_t count : sizes()) check_relu<T>(count);
  for (int64_t n : {int64_t(1), int64_t(7)}) {
    check_maxpool<T>(n * 16, 26, 26);
    check_maxpool<T>(n * 32, 9, 9);
    check_maxpool<T>(n * 16, 15, 15);
    check_maxpool<T>(n * 32, 2, 2);
    check_maxpool<T>(n, 5, 8);
    check_maxpool<T>(n, 3, 2);
  }
}

}  // namespace

TEST_CASE("conv ops (float): GPU matches the CPU twins", "[gpu][conv]") { check_all_ops<float>(); }

TEST_CASE("conv ops (double): GPU matches the CPU twins", "[gpu][conv]") { check_all_ops<double>(); }

TEST_CASE("conv task-batch ops: GPU matches the CPU twins (both layouts, the parameter stride)", "[gpu][conv]") {
  using T = float;
  using Tl = Tol<T>;
  ConvShape s;
  s.n = 5, s.c_in = 3, s.h = 12, s.w = 10, s.c_out = 4, s.k = 3, s.stride = 2;
  const int64_t K = 3, stride = s.weight_size() + s.c_out + 7, hw = s.h * s.w;
  const auto theta = rand_t<T>(K * stride, -0.5, 0.5, 1);
  const T* w = theta.data();
  const T* b = theta.data() + s.weight_size();
  Guarded<T> d_theta(theta);
  for (bool nchw : {true, false}) {
    INFO("x_nchw " << nchw);
    const auto x = rand_t<T>(K * s.in_size(), -1, 1, 2);
    const auto dy = rand_t<T>(K * s.out_size(), -1, 1, 3);
    std::vector<T> y(K * s.out_size()), col(K * s.cuda_col_size()), dcol(K * s.cuda_col_size());
    std::vector<T> dx(K * s.in_size()), grads(K * stride, T(0));
    conv2d_forward_tasks_cpu<T>(s, K, stride, nchw, x.data(), w, b, y.data(), col.data());
    conv2d_backward_tasks_cpu<T>(s, K, stride, nchw, x.data(), w, dy.data(), dx.data(), grads.data(),
                                 grads.data() + s.weight_size(), col.data(), dcol.data());
    Guarded<T> d_x(x), d_dy(dy), d_y{std::vector<T>(y.size())}, d_dx{std::vector<T>(dx.size())};
    Guarded<T> d_col{col}, d_dcol{dcol}, d_grads{std::vector<T>(grads.size(), T(0))};
    conv2d_forward_tasks_cuda<T>(s, K, stride, nchw, d_x.data(), d_theta.data(), d_theta.data() + s.weight_size(),
                                 d_y.data(), d_col.data());
    conv2d_backward_tasks_cuda<T>(s, K, stride, nchw, d_x.data(), d_theta.data(), d_dy.data(), d_dx.data(),
                                  d_grads.data(), d_grads.data() + s.weight_size(), d_col.data(), d_dcol.data());
    close(d_y.get(), y, Tl::conv_rtol, Tl::conv_atol, "y");
    close(d_dx.get(), dx, Tl::conv_rtol, Tl::conv_atol, "dx");
    close(d_grads.get(), grads, Tl::conv_rtol, Tl::conv_atol, "dw, db");
  }
  const int64_t c = s.c_out, len = s.n * hw, count = K * c * len;
  const auto x = rand_t<T>(count, -2, 3, 4), dy = rand_t<T>(count, -1, 1, 5);
  std::vector<T> y(count), xhat(count), inv_std(K * c), dx(count), dgb(K * stride, T(0));
  batchnorm_forward_tasks_cpu<T>(K, c, len, x.data(), w, b, stride, T(1e-3), y.data(), xhat.data(), inv_std.data());
  batchnorm_backward_tasks_cpu<T>(K, c, len, dy.data(), xhat.data(), w, inv_std.data(), stride, dx.data(), dgb.data(),
                                  dgb.data() + c);
  Guarded<T> d_x(x), d_dy(dy), d_y{std::vector<T>(count)}, d_xhat{std::vector<T>(count)};
  Guarded<T> d_is{std::vector<T>(K * c)}, d_dx{std::vector<T>(count)}, d_dgb{std::vector<T>(K * stride, T(0))};
  batchnorm_forward_tasks_cuda<T>(K, c, len, d_x.data(), d_theta.data(), d_theta.data() + s.weight_size(), stride,
                                  T(1e-3), d_y.data(), d_xhat.data(), d_is.data());
  Guarded<T> d_xhat_cpu(xhat), d_is_cpu(inv_std);  // the backward from the CPU's saved values
  batchnorm_backward_tasks_cuda<T>(K, c, len, d_dy.data(), d_xhat_cpu.data(), d_theta.data(), d_is_cpu.data(), stride,
                                   d_dx.data(), d_dgb.data(), d_dgb.data() + c);
  close(d_y.get(), y, Tl::bn_rtol, Tl::bn_atol, "bn y");
  close(d_xhat.get(), xhat, Tl::bn_rtol, Tl::bn_atol, "bn xhat");
  close(d_is.get(), inv_std, Tl::bn_rtol, Tl::bn_atol, "bn inv_std");
  close(d_dx.get(), dx, Tl::bn_rtol, Tl::bn_atol, "bn dx");
  close(d_dgb.get(), dgb, Tl::bn_rtol, Tl::bn_atol, "bn dgamma, dbeta");
  std::vector<T> sw(count);
  swap_axes_cpu<T>(K, c, s.n, hw, x.data(), sw.data());
  Guarded<T> d_sw{std::vector<T>(count)};
  swap_axes_cuda<T>(K, c, s.n, hw, d_x.data(), d_sw.data());
  REQUIRE(d_sw.get() == sw);
}

// Groups long enough to be split over several blocks (parts), which the ConvNet task tests at 4
// images per task never reach: against the CPU twin, and each task's group bit for bit the one-task
// batch norm of its slice (the claim in kernels/conv.h).
TEST_CASE("conv task-batch batch norm over several parts per group", "[gpu][conv]") {
  using T = float;
  const int64_t K = 3, c = 4, len = 9000, count = K * c * len, stride = 2 * c + 5;  // 9,000: 3 parts
  const auto theta = rand_t<T>(K * stride, 0.5, 1.5, 31), x = rand_t<T>(count, -2, 3, 32);
  const auto dy = rand_t<T>(count, -1, 1, 33);
  std::vector<T> y(count), xhat(count), inv_std(K * c), dx(count), dgb(K * stride, T(0));
  batchnorm_forward_tasks_cpu<T>(K, c, len, x.data(), theta.data(), theta.data() + c, stride, T(1e-3), y.data(),
                                 xhat.data(), inv_std.data());
  batchnorm_backward_tasks_cpu<T>(K, c, len, dy.data(), xhat.data(), theta.data(), inv_std.data(), stride, dx.data(),
                                  dgb.data(), dgb.data() + c);
  Guarded<T> d_theta(theta), d_x(x), d_dy(dy), d_y{std::vector<T>(count)}, d_xhat{std::vector<T>(count)};
  Guarded<T> d_is{std::vector<T>(K * c)}, d_dx{std::vector<T>(count)}, d_dgb{std::vector<T>(K * stride, T(0))};
  batchnorm_forward_tasks_cuda<T>(K, c, len, d_x.data(), d_theta.data(), d_theta.data() + c, stride, T(1e-3),
                                  d_y.data(), d_xhat.data(), d_is.data());
  batchnorm_backward_tasks_cuda<T>(K, c, len, d_dy.data(), d_xhat.data(), d_theta.data(), d_is.data(), stride,
                                   d_dx.data(), d_dgb.data(), d_dgb.data() + c);
  const auto got_y = d_y.get(), got_dx = d_dx.get(), got_dgb = d_dgb.get();
  close(got_y, y, Tol<T>::bn_rtol, Tol<T>::bn_atol, "bn y");
  close(d_is.get(), inv_std, Tol<T>::bn_rtol, Tol<T>::bn_atol, "bn inv_std");
  close(got_dx, dx, Tol<T>::bn_rtol * 10, Tol<T>::bn_atol * 10, "bn dx (from the GPU's own forward)");
  close(got_dgb, dgb, Tol<T>::bn_rtol * 10, Tol<T>::bn_atol * 10, "bn dgamma, dbeta");
  for (int64_t k = 0; k < K; ++k) {
    INFO("task " << k);
    const std::vector<T> xk(x.begin() + k * c * len, x.begin() + (k + 1) * c * len);
    const std::vector<T> dyk(dy.begin() + k * c * len, dy.begin() + (k + 1) * c * len);
    const std::vector<T> pk(theta.begin() + k * stride, theta.begin() + (k + 1) * stride);
    Guarded<T> d_xk(xk), d_dyk(dyk), d_pk(pk), d_yk{std::vector<T>(c * len)}, d_xhk{std::vector<T>(c * len)};
    Guarded<T> d_isk{std::vector<T>(c)}, d_dxk{std::vector<T>(c * len)}, d_gk{std::vector<T>(2 * c)};
    batchnorm_forward_cuda<T>(1, c, len, d_xk.data(), d_pk.data(), d_pk.data() + c, T(1e-3), d_yk.data(),
                              d_xhk.data(), d_isk.data());
    batchnorm_backward_cuda<T>(1, c, len, d_dyk.data(), d_xhk.data(), d_pk.data(), d_isk.data(), d_dxk.data(),
                               d_gk.data(), d_gk.data() + c);
    REQUIRE(d_yk.get() == std::vector<T>(got_y.begin() + k * c * len, got_y.begin() + (k + 1) * c * len));
    REQUIRE(d_dxk.get() == std::vector<T>(got_dx.begin() + k * c * len, got_dx.begin() + (k + 1) * c * len));
    REQUIRE(d_gk.get() == std::vector<T>(got_dgb.begin() + k * stride, got_dgb.begin() + k * stride + 2 * c));
  }
}

TEST_CASE("ConvNet optimizee: loss and gradient agree on both backends", "[gpu][conv]") {
  for (const char* name : {"conv_mnist", "conv_cifar_standin"}) {
    for (bool relu_logits : {true, false}) {
      for (int64_t batch : {int64_t(1), int64_t(7), int64_t(128)}) {
        if (!relu_logits && batch != 7) continue;
        INFO(name << ", batch " << batch << ", relu_logits " << relu_logits);
        ProblemConfig c = problem(name);
        c.batch_size = batch;
        c.relu_logits = relu_logits;
        auto cpu = make_optimizee<float>(c, Backend::cpu);
        auto gpu = make_optimizee<float>(c, Backend::cuda);
        REQUIRE(gpu->num_params() == cpu->num_params());
        REQUIRE(gpu->name() == cpu->name());
        const int64_t n = cpu->num_params();
        std::vector<float> theta(n), theta_gpu(n), g_again(n);
        cpu->init(4, theta.data());
        gpu->init(4, theta_gpu.data());
        REQUIRE(theta_gpu == theta);  // the same instance
        // Away from the init (gamma 1, beta 0, biases 0, tiny kernels): every parameter moves.
        Rng noise(5, 77);
        for (auto& x : theta) x += static_cast<float>(0.05 * noise.normal());
        const TwinLossGrad t = twin_loss_and_grad(*cpu, *gpu, theta);
        INFO("loss cpu " << t.f_cpu << ", cuda " << t.f_gpu);
        REQUIRE(std::isfinite(t.f_cpu));
        REQUIRE(std::fabs(t.f_gpu - t.f_cpu) <= 2e-5f * std::fabs(t.f_cpu));
        require_close(t.g_gpu, t.g_cpu, 2e-3, 2e-4, "gradient");
        REQUIRE(gpu->loss_and_grad(theta.data(), t.batch, g_again.data()) == t.f_gpu);  // deterministic
        REQUIRE(g_again == t.g_gpu);
        REQUIRE(gpu->loss_and_grad(theta.data(), t.batch, nullptr) == t.f_gpu);  // loss only: same value
      }
    }
  }
}
