// CPU reference of the coordinatewise LSTM ops: Eigen GEMMs for the [x, h] W products, the
// shared per-coordinate math (lstm_math.h) for everything elementwise.
#include <Eigen/Dense>

#include "kernels/lstm.h"
#include "kernels/lstm_math.h"

namespace l2o {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MapC = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using MapM = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

template <typename T>
void preprocess_cpu(int64_t n, const T* g, T log_k, T* x, int64_t ld) {
  for (int64_t i = 0; i < n; ++i) {
    if (log_k > T(0)) {
      log_and_sign(g[i], log_k, x + i * ld);
    } else {
      x[i * ld] = g[i];
    }
  }
}

template <typename T>
void lstm_layer_forward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T forget_bias,
                            const T* c_prev, T* z, T* gates, T* c, T* h, int64_t ld_h) {
  const int64_t k = in + H, g4 = 4 * H;
  MapC<T> xh_m(xh, n, k, Eigen::OuterStride<>(k));
  MapC<T> w_m(w, k, g4, Eigen::OuterStride<>(g4));
  MapM<T> z_m(z, n, g4, Eigen::OuterStride<>(g4));
  z_m.noalias() = xh_m * w_m;
  Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> b_v(b, g4);
  z_m.rowwise() += b_v;
  for (int64_t i = 0; i < n; ++i) {
    const T* __restrict zr = z + i * g4;
    const T* __restrict cp = c_prev + i * H;
    T* __restrict gr = gates + i * g4;
    T* __restrict cr = c + i * H;
    T* __restrict hr = h + i * ld_h;
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
      lstm_cell_forward_elem(zr[k], zr[H + k], zr[2 * H + k], zr[3 * H + k], cp[k], forget_bias, &gr[k], &gr[H + k],
                             &gr[2 * H + k], &gr[3 * H + k], &cr[k], &hr[k]);
    }
  }
}

template <typename T>
void lstm_layer_backward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* gates,
                             const T* c_prev, const T* c, const T* dh, T* dc, T* dz, T* dxh, T* dw, T* db) {
  const int64_t k = in + H, g4 = 4 * H;
  for (int64_t i = 0; i < n; ++i) {
    const T* __restrict gr = gates + i * g4;
    const T* __restrict cp = c_prev + i * H;
    const T* __restrict cr = c + i * H;
    const T* __restrict dhr = dh + i * H;
    T* __restrict dcr = dc + i * H;
    T* __restrict dzr = dz + i * g4;
#pragma omp simd
    for (int64_t k = 0; k < H; ++k) {
      lstm_cell_backward_elem(gr[k], gr[H + k], gr[2 * H + k], gr[3 * H + k], cp[k], cr[k], dhr[k], &dcr[k], &dzr[k],
                              &dzr[H + k], &dzr[2 * H + k], &dzr[3 * H + k]);
    }
  }
  MapC<T> xh_m(xh, n, k, Eigen::OuterStride<>(k));
  MapC<T> w_m(w, k, g4, Eigen::OuterStride<>(g4));
  MapC<T> dz_m(dz, n, g4, Eigen::OuterStride<>(g4));
  MapM<T> dxh_m(dxh, n, k, Eigen::OuterStride<>(k));
  MapM<T> dw_m(dw, k, g4, Eigen::OuterStride<>(g4));
  dxh_m.noalias() = dz_m * w_m.transpose();
  dw_m.noalias() += xh_m.transpose() * dz_m;
  // Plain loop, not Eigen's colwise().sum(): its vectorised reduction order depends on pointer
  // alignment, which differs between processes and would break bit-exact resume.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < g4; ++j) db[j] += dz[i * g4 + j];
}

template <typename T>
void linear_out_forward_cpu(int64_t n, int64_t H, const T* h, int64_t ld_h, const T* w, const T* b, T scale, T* u) {
  for (int64_t i = 0; i < n; ++i) {
    T s = b[0];
    for (int64_t k = 0; k < H; ++k) s += h[i * ld_h + k] * w[k];
    u[i] = scale * s;
  }
}

template <typename T>
void linear_out_backward_cpu(int64_t n, int64_t H, const T* h, int64_t ld_h, const T* w, T scale, const T* du, T* dh,
                             T* dw, T* db) {
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T d = scale * du[i];
    sum += d;
    for (int64_t k = 0; k < H; ++k) {
      dh[i * H + k] = d * w[k];
      dw[k] += d * h[i * ld_h + k];
    }
  }
  db[0] += sum;
}

#define L2O_INSTANTIATE(T)                                                                                        \
  template void preprocess_cpu<T>(int64_t, const T*, T, T*, int64_t);                                             \
  template void lstm_layer_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, const T*, T*, \
                                          T*, T*, T*, int64_t);                                                   \
  template void lstm_layer_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,      \
                                           const T*, const T*, T*, T*, T*, T*, T*);                               \
  template void linear_out_forward_cpu<T>(int64_t, int64_t, const T*, int64_t, const T*, const T*, T, T*);        \
  template void linear_out_backward_cpu<T>(int64_t, int64_t, const T*, int64_t, const T*, T, const T*, T*, T*, T*);
L2O_INSTANTIATE(float)
L2O_INSTANTIATE(double)

}  // namespace l2o
