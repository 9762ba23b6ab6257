// CPU reference of the coordinatewise LSTM ops: Eigen GEMMs for the W^T [x; h] products, the
// shared per-element math (lstm_math.h) for everything elementwise, vectorised over coordinates.
#include <Eigen/Dense>

#include "kernels/fixed_order.h"
#include "kernels/gemm_blocking.h"
#include "kernels/lstm.h"
#include "kernels/lstm_math.h"

namespace l2o {

namespace {
// Before main, so before any GEMM below: the same blocking, and bits, on every machine.
[[maybe_unused]] const bool kGemmBlockingPinned = pin_gemm_blocking();
}  // namespace

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MapC = Eigen::Map<const RowMat<T>>;
template <typename T>
using MapM = Eigen::Map<RowMat<T>>;

template <typename T>
void preprocess_cpu(int64_t n, const T* g, T log_k, T* x) {
  if (log_k <= T(0)) {
    for (int64_t i = 0; i < n; ++i) x[i] = g[i];
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    T f[2];
    log_and_sign(g[i], log_k, f);
    x[i] = f[0];
    x[n + i] = f[1];
  }
}

// Register-blocked small GEMM for the forward's z = b + w^T xh. Four output rows (the gates of one
// unit) by kChunkVecs SIMD vectors of coordinates stay in registers (16 accumulators on AVX-512
// floats) over the whole K reduction, so the skinny (4H x K) * (K x 256) product needs no packing
// and no zeroing pass, and the bias is the accumulators' start value. GCC/Clang vector extensions
// lower to the widest SIMD the target has; the summation order is fixed (bias, then k ascending).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int64_t kChunkVecs = 4;  // 16 accumulators + 4 inputs of AVX-512's 32 registers
#else
constexpr int kVecBytes = 32;
constexpr int64_t kChunkVecs = 2;  // 8 + 2 of AVX2's 16: with 4, the 20 live vectors spill
#endif

template <typename T>
struct Simd {
  typedef T V __attribute__((vector_size(kVecBytes)));
  static constexpr int64_t kLen = kVecBytes / sizeof(T);
  static V load(const T* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(T* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
  static V splat(T x) { return V{} + x; }
};

template <typename T>
void lstm_gates_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T* z) {
  // Register-blocked: four rows of z (the gates of one unit) by kChunkVecs vectors of coordinates
  // in registers, k ascending. No packing, no zeroing pass, the bias folded in.
  using S = Simd<T>;
  using V = typename S::V;
  constexpr int64_t NV = kChunkVecs, C = NV * S::kLen;
  const int64_t K = in + H, g4 = 4 * H;
  const int64_t nc = n - n % C;
  for (int64_t i0 = 0; i0 < nc; i0 += C) {
    for (int64_t u = 0; u < H; ++u) {
      V acc[4][NV];
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t v = 0; v < NV; ++v) acc[g][v] = S::splat(b[g * H + u]);
      for (int64_t kk = 0; kk < K; ++kk) {
        const T* x = xh + kk * n + i0;
        const T* wr = w + kk * g4 + u;
        V xv[NV];
        for (int64_t v = 0; v < NV; ++v) xv[v] = S::load(x + v * S::kLen);
        for (int64_t g = 0; g < 4; ++g) {
          const T wg = wr[g * H];
          for (int64_t v = 0; v < NV; ++v) acc[g][v] += wg * xv[v];
        }
      }
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t v = 0; v < NV; ++v) S::store(z + (g * H + u) * n + i0 + v * S::kLen, acc[g][v]);
    }
  }
  for (int64_t r = 0; r < g4 && nc < n; ++r) {  // tail of fewer than C coordinates, same order
    T* __restrict zr = z + r * n;
    for (int64_t i = nc; i < n; ++i) zr[i] = b[r];
    for (int64_t kk = 0; kk < K; ++kk) {
      const T wk = w[kk * g4 + r];
      const T* __restrict x = xh + kk * n;
      for (int64_t i = nc; i < n; ++i) zr[i] += wk * x[i];
    }
  }
}

template <typename T>
void lstm_layer_forward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T forget_bias,
                            const T* c_prev, T* z, T* gates, T* c, T* h) {
  lstm_gates_cpu(n, in, H, xh, w, b, z);
  for (int64_t u = 0; u < H; ++u) {
    const T* __restrict zi = z + u * n;
    const T* __restrict zj = z + (H + u) * n;
    const T* __restrict zf = z + (2 * H + u) * n;
    const T* __restrict zo = z + (3 * H + u) * n;
    const T* __restrict cp = c_prev + u * n;
    T* __restrict gi = gates + u * n;
    T* __restrict gj = gates + (H + u) * n;
    T* __restrict gf = gates + (2 * H + u) * n;
    T* __restrict go = gates + (3 * H + u) * n;
    T* __restrict cr = c + u * n;
    T* __restrict hr = h + u * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      lstm_cell_forward_elem(zi[i], zj[i], zf[i], zo[i], cp[i], forget_bias, &gi[i], &gj[i], &gf[i], &go[i], &cr[i],
                             &hr[i]);
    }
  }
}

template <typename T>
void lstm_layer_backward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* gates,
                             const T* c_prev, const T* c, const T* dh, T* dc, T* dz, T* dxh, T* dw, T* db) {
  const int64_t k = in + H, g4 = 4 * H;
  for (int64_t u = 0; u < H; ++u) {
    const T* __restrict gi = gates + u * n;
    const T* __restrict gj = gates + (H + u) * n;
    const T* __restrict gf = gates + (2 * H + u) * n;
    const T* __restrict go = gates + (3 * H + u) * n;
    const T* __restrict cp = c_prev + u * n;
    const T* __restrict cr = c + u * n;
    const T* __restrict dhr = dh + u * n;
    T* __restrict dcr = dc + u * n;
    T* __restrict dzi = dz + u * n;
    T* __restrict dzj = dz + (H + u) * n;
    T* __restrict dzf = dz + (2 * H + u) * n;
    T* __restrict dzo = dz + (3 * H + u) * n;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      lstm_cell_backward_elem(gi[i], gj[i], gf[i], go[i], cp[i], cr[i], dhr[i], &dcr[i], &dzi[i], &dzj[i], &dzf[i],
                              &dzo[i]);
    }
  }
  MapC<T> w_m(w, k, g4);
  MapC<T> dz_m(dz, g4, n);
  MapM<T>(dxh, k, n).noalias() = w_m * dz_m;
  MapM<T>(dw, k, g4).noalias() += MapC<T>(xh, k, n) * dz_m.transpose();
  // Not Eigen's rowwise().sum(): a vectorised reduction's order can depend on pointer alignment,
  // which differs between processes and would break bit-exact resume.
  for (int64_t r = 0; r < g4; ++r) db[r] += fixed_order_sum(dz + r * n, n);
}

template <typename T>
void linear_out_forward_cpu(int64_t n, int64_t H, const T* h, const T* w, const T* b, T scale, T* u) {
  for (int64_t i = 0; i < n; ++i) u[i] = b[0];
  for (int64_t k = 0; k < H; ++k) {
    const T* __restrict hk = h + k * n;
    const T wk = w[k];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) u[i] += hk[i] * wk;
  }
  for (int64_t i = 0; i < n; ++i) u[i] *= scale;
}

template <typename T>
void linear_out_backward_cpu(int64_t n, int64_t H, const T* h, const T* w, T scale, const T* du, T* dh, T* dw,
                             T* db) {
  db[0] += scale * fixed_order_sum(du, n);
  for (int64_t k = 0; k < H; ++k) {
    T* __restrict dhk = dh + k * n;
    const T wk = scale * w[k];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dhk[i] = wk * du[i];
    dw[k] += scale * fixed_order_dot(h + k * n, du, n);
  }
}

#define L2O_INSTANTIATE(T)                                                                                        \
  template void preprocess_cpu<T>(int64_t, const T*, T, T*);                                                      \
  template void lstm_gates_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T*);                    \
  template void lstm_layer_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T, const T*, T*, \
                                          T*, T*, T*);                                                            \
  template void lstm_layer_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, const T*,      \
                                           const T*, const T*, T*, T*, T*, T*, T*);                               \
  template void linear_out_forward_cpu<T>(int64_t, int64_t, const T*, const T*, const T*, T, T*);                  \
  template void linear_out_backward_cpu<T>(int64_t, int64_t, const T*, const T*, T, const T*, T*, T*, T*);
L2O_INSTANTIATE(float)
L2O_INSTANTIATE(double)

}  // namespace l2o
