// CPU twins of kernels/conv.h: im2col + Eigen GEMM per image, plain loops for the rest.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>

#include "kernels/conv.h"
#include "kernels/fixed_order.h"
#include "kernels/gemm_blocking.h"

namespace l2o {

namespace {

// Before main, so before any GEMM below: the same blocking, and bits, on every machine.
[[maybe_unused]] const bool kGemmBlockingPinned = pin_gemm_blocking();

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One image x (c_in, h, w) into col (c_in*k*k, h_out*w_out), rows ld apart.
template <typename T>
void im2col(const ConvShape& s, const T* x, T* col, int64_t ld) {
  const int64_t ho = s.h_out(), wo = s.w_out();
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t ki = 0; ki < s.k; ++ki)
      for (int64_t kj = 0; kj < s.k; ++kj) {
        T* row = col + ((ci * s.k + ki) * s.k + kj) * ld;
        for (int64_t oh = 0; oh < ho; ++oh) {
          const T* src = x + (ci * s.h + oh * s.stride + ki) * s.w + kj;
          if (s.stride == 1)  // a contiguous run: a copy, where the strided loop stays scalar
            std::copy(src, src + wo, row + oh * wo);
          else
            for (int64_t ow = 0; ow < wo; ++ow) row[oh * wo + ow] = src[ow * s.stride];
        }
      }
}

// dx (c_in, h, w) = col2im(dcol) (rows ld apart): zeroed, then every column entry added back to its pixel.
template <typename T>
void col2im(const ConvShape& s, const T* dcol, int64_t ld, T* dx) {
  const int64_t ho = s.h_out(), wo = s.w_out();
  std::fill(dx, dx + s.c_in * s.h * s.w, T(0));
  for (int64_t ci = 0; ci < s.c_in; ++ci)
    for (int64_t ki = 0; ki < s.k; ++ki)
      for (int64_t kj = 0; kj < s.k; ++kj) {
        const T* row = dcol + ((ci * s.k + ki) * s.k + kj) * ld;
        for (int64_t oh = 0; oh < ho; ++oh) {
          T* dst = dx + (ci * s.h + oh * s.stride + ki) * s.w + kj;
          const T* src = row + oh * wo;
          if (s.stride == 1)
            for (int64_t ow = 0; ow < wo; ++ow) dst[ow] += src[ow];
          else
            for (int64_t ow = 0; ow < wo; ++ow) dst[ow * s.stride] += src[ow];
        }
      }
}

void check_shape(const ConvShape& s) {
  L2O_CHECK(s.n > 0 && s.c_in > 0 && s.c_out > 0 && s.k > 0 && s.stride > 0, "bad conv shape");
  L2O_CHECK(s.h >= s.k && s.w >= s.k, "conv kernel " << s.k << " larger than input " << s.h << "x" << s.w);
}

}  // namespace

template <typename T>
void conv2d_forward_cpu(const ConvShape& s, const T* x, const T* w, const T* b, T* y, T* col) {
  check_shape(s);
  const int64_t rows = s.col_rows(), cols = s.col_cols();
  Eigen::Map<const RowMat<T>> wm(w, s.c_out, rows);
  Eigen::Map<const RowMat<T>> cm(col, rows, cols);
  for (int64_t i = 0; i < s.n; ++i) {
    im2col(s, x + i * s.c_in * s.h * s.w, col, cols);
    Eigen::Map<RowMat<T>> ym(y + i * s.c_out * cols, s.c_out, cols);
    ym.noalias() = wm * cm;
    if (b)
      for (int64_t co = 0; co < s.c_out; ++co) ym.row(co).array() += b[co];
  }
}

template <typename T>
void conv2d_backward_cpu(const ConvShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw, T* db, T* col,
                         T* dcol) {
  check_shape(s);
  const int64_t rows = s.col_rows(), cols = s.col_cols();
  Eigen::Map<const RowMat<T>> wm(w, s.c_out, rows);
  Eigen::Map<RowMat<T>> dwm(dw, s.c_out, rows);
  Eigen::Map<const RowMat<T>> cm(col, rows, cols);
  Eigen::Map<RowMat<T>> dcm(dcol, rows, cols);
  dwm.setZero();
  if (db) std::fill(db, db + s.c_out, T(0));
  for (int64_t i = 0; i < s.n; ++i) {
    Eigen::Map<const RowMat<T>> dym(dy + i * s.c_out * cols, s.c_out, cols);
    im2col(s, x + i * s.c_in * s.h * s.w, col, cols);
    dwm.noalias() += dym * cm.transpose();
    if (db)
      for (int64_t co = 0; co < s.c_out; ++co) db[co] += fixed_order_sum(dym.data() + co * cols, cols);
    if (dx) {
      dcm.noalias() = wm.transpose() * dym;
      col2im(s, dcol, cols, dx + i * s.c_in * s.h * s.w);
    }
  }
}

template <typename T>
void batchnorm_forward_cpu(int64_t n, int64_t c, int64_t hw, const T* x, const T* gamma, const T* beta, T eps, T* y,
                           T* xhat, T* inv_std) {
  const double m = static_cast<double>(n * hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    FixedOrderAccumulator<double> sum;
    for (int64_t i = 0; i < n; ++i) {
      const T* p = x + (i * c + ch) * hw;
      sum.add(hw, [p](int64_t j) { return static_cast<double>(p[j]); });
    }
    const double mean = sum.total() / m;
    FixedOrderAccumulator<double> sq;  // two-pass variance: no cancellation
    for (int64_t i = 0; i < n; ++i) {
      const T* p = x + (i * c + ch) * hw;
      sq.add(hw, [p, mean](int64_t j) {
        const double d = p[j] - mean;
        return d * d;
      });
    }
    const double var = sq.total() / m;
    const T is = static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    const T mu = static_cast<T>(mean);
    inv_std[ch] = is;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * c + ch) * hw;
      for (int64_t j = 0; j < hw; ++j) {
        xhat[off + j] = (x[off + j] - mu) * is;
        y[off + j] = bn_fwd(x[off + j], mu, is, gamma[ch], beta[ch]);
      }
    }
  }
}

template <typename T>
void batchnorm_backward_cpu(int64_t n, int64_t c, int64_t hw, const T* dy, const T* xhat, const T* gamma,
                            const T* inv_std, T* dx, T* dgamma, T* dbeta) {
  const double m = static_cast<double>(n * hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    FixedOrderAccumulator<double> acc_dy, acc_dyx;
    for (int64_t i = 0; i < n; ++i) {
      const T* d = dy + (i * c + ch) * hw;
      const T* xh = xhat + (i * c + ch) * hw;
      acc_dy.add(hw, [d](int64_t j) { return static_cast<double>(d[j]); });
      acc_dyx.add(hw, [d, xh](int64_t j) { return static_cast<double>(d[j]) * xh[j]; });
    }
    const double sdy = acc_dy.total(), sdyx = acc_dyx.total();
    dgamma[ch] = static_cast<T>(sdyx);
    dbeta[ch] = static_cast<T>(sdy);
    const T mdy = static_cast<T>(sdy / m), mdyx = static_cast<T>(sdyx / m);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * c + ch) * hw;
      for (int64_t j = 0; j < hw; ++j) dx[off + j] = bn_bwd(dy[off + j], xhat[off + j], gamma[ch], inv_std[ch], mdy, mdyx);
    }
  }
}

template <typename T>
void relu_forward_cpu(int64_t count, const T* x, T* y) {
  for (int64_t i = 0; i < count; ++i) y[i] = relu_fwd(x[i]);
}

template <typename T>
void relu_backward_cpu(int64_t count, const T* y, const T* dy, T* dx) {
  for (int64_t i = 0; i < count; ++i) dx[i] = relu_bwd(dy[i], y[i]);
}

template <typename T>
void maxpool2x2_forward_cpu(int64_t nc, int64_t h, int64_t w, const T* x, T* y, int32_t* argmax) {
  const int64_t ho = pool2_out_size(h), wo = pool2_out_size(w);
  L2O_CHECK(ho > 0 && wo > 0, "max-pool input " << h << "x" << w << " smaller than 2x2");
  for (int64_t p = 0; p < nc; ++p) {
    const T* xp = x + p * h * w;
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j) {
        const int64_t best = pool2_argmax(xp, w, i, j);
        y[(p * ho + i) * wo + j] = xp[best];
        argmax[(p * ho + i) * wo + j] = static_cast<int32_t>(best);
      }
  }
}

template <typename T>
void maxpool2x2_backward_cpu(int64_t nc, int64_t h, int64_t w, const T* dy, const int32_t* argmax, T* dx) {
  const int64_t ho = pool2_out_size(h), wo = pool2_out_size(w);
  std::fill(dx, dx + nc * h * w, T(0));
  for (int64_t p = 0; p < nc; ++p)
    for (int64_t o = 0; o < ho * wo; ++o) dx[p * h * w + argmax[p * ho * wo + o]] += dy[p * ho * wo + o];
}

#define L2O_INSTANTIATE_CONV(T)                                                                                    \
  template void conv2d_forward_cpu<T>(const ConvShape&, const T*, const T*, const T*, T*, T*);                     \
  template void conv2d_backward_cpu<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, T*, T*, T*);        \
  template void batchnorm_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, T*, T*, T*);  \
  template void batchnorm_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*, T*,   \
                                          T*, T*);                                                                 \
  template void relu_forward_cpu<T>(int64_t, const T*, T*);                                                        \
  template void relu_backward_cpu<T>(int64_t, const T*, const T*, T*);                                             \
  template void maxpool2x2_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, T*, int32_t*);                      \
  template void maxpool2x2_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const int32_t*, T*);
L2O_INSTANTIATE_CONV(float)
L2O_INSTANTIATE_CONV(double)
#undef L2O_INSTANTIATE_CONV

}  // namespace l2o
