// CPU twins of the fused RNNprop ops: the per-coordinate code of rnnprop_fused_math.h in a
// parallel loop, and the weight-gradient reductions in a fixed order.
#include "kernels/rnnprop_fused.h"

#include <string>

#include "kernels/common.h"
#include "kernels/fused_reduce_cpu.h"

namespace l2o {

void check_rnnprop_shape(const RnnpropFusedShape& s) {
  L2O_CHECK(s.n >= 1 && s.slots >= 1, "fused RNNprop: n and slots must be >= 1");
  auto ok = [](int h) { return h >= 1 && h <= kFusedMaxHidden; };
  if (!ok(s.P) || !ok(s.H0) || !ok(s.H1))
    throw Error("fused RNNprop ops take a projection and 2 LSTM layers of 1.." + std::to_string(kFusedMaxHidden) +
                " units; got projection " + std::to_string(s.P) + ", hidden [" + std::to_string(s.H0) + ", " +
                std::to_string(s.H1) + "]");
}

template <typename T>
void rnnprop_fused_step_cpu(const RnnpropFusedShape& s, int64_t* t, const T* phi, const T* g, T* state, T* saved,
                            int64_t slot, T* u, T* theta) {
  check_rnnprop_shape(s);
  L2O_CHECK(*t >= 0, "RNNprop step count " << *t << " must be >= 0");
  L2O_CHECK(!saved || (slot >= 0 && slot < s.slots), "slot " << slot << " outside [0, " << s.slots << ")");
  const RnnpropDims<T> d = s.dims<T>();
  const int64_t step = ++*t;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.n; ++i) {
    const T out = rnnprop_coord_step(d, step, phi, g[i], state + i, saved ? saved + slot * s.n + i : nullptr);
    u[i] = out;
    if (theta) theta[i] += out;
  }
}

template <typename T>
void rnnprop_fused_backward_cpu(const RnnpropFusedShape& s, const T* phi, int64_t steps, const T* saved,
                                const T* c_init, const T* dl_du, T* ws, T* dphi) {
  check_rnnprop_shape(s);
  L2O_CHECK(steps >= 1 && steps <= s.slots, "steps " << steps << " outside [1, " << s.slots << "]");
  const RnnpropDims<T> d = s.dims<T>();
  const int64_t ld = d.ld, m = steps * s.n;
  T* dzp = ws;
  T* dz0 = dzp + d.P * ld;
  T* dz1 = dz0 + 4 * d.H0 * ld;
  T* dout = dz1 + 4 * d.H1 * ld;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.n; ++i)
    rnnprop_coord_bptt(d, phi, steps, saved + i, c_init + i, dl_du + i, dzp + i, dz0 + i, dz1 + i, dout + i);
  // dWp (2, P) = X dzp^T; dW_l (K_l, 4H_l) = XH_l dz_l^T; biases: row sums; dwo = h1 dout, dbo = sum dout.
  fused_gemm_nt_cpu<T>(2, d.P, m, saved, dzp, ld, T(1), dphi + d.wp());
  fused_gemm_nt_cpu<T>(d.k0(), 4 * d.H0, m, saved + d.srow_xh0() * ld, dz0, ld, T(1), dphi + d.w0());
  fused_gemm_nt_cpu<T>(d.k1(), 4 * d.H1, m, saved + d.srow_xh1() * ld, dz1, ld, T(1), dphi + d.w1());
  fused_gemm_nt_cpu<T>(d.H1, 1, m, saved + d.srow_h1() * ld, dout, ld, T(1), dphi + d.wo());
  fused_row_sums_cpu<T>(d.P, m, dzp, ld, T(1), dphi + d.bp());
  fused_row_sums_cpu<T>(4 * d.H0, m, dz0, ld, T(1), dphi + d.b0());
  fused_row_sums_cpu<T>(4 * d.H1, m, dz1, ld, T(1), dphi + d.b1());
  fused_row_sums_cpu<T>(1, m, dout, ld, T(1), dphi + d.bo());
}

double rnnprop_fused_step_flops(const RnnpropFusedShape& s) {
  const RnnpropDims<double> d = s.dims<double>();
  // moments and inputs ~12, projection 2 * 2P + ELU, the gate GEMVs, ~12 per cell element, output.
  return 12.0 + 6.0 * d.P + 2.0 * (d.k0() * 4.0 * d.H0 + d.k1() * 4.0 * d.H1) + 12.0 * (d.H0 + d.H1) +
         2.0 * d.H1 + 10.0;
}

double rnnprop_fused_backward_flops(const RnnpropFusedShape& s) {
  const RnnpropDims<double> d = s.dims<double>();
  const double gemv = 2.0 * (d.k0() * 4.0 * d.H0 + d.k1() * 4.0 * d.H1);
  // gate recompute + dxh = W dz + dW = xh dz^T, the cell backward, projection and output sums.
  return 3.0 * gemv + 38.0 * (d.H0 + d.H1) + 8.0 * d.P + 8.0 * d.H1;
}

#define L2O_INSTANTIATE(T)                                                                                          \
  template void rnnprop_fused_step_cpu<T>(const RnnpropFusedShape&, int64_t*, const T*, const T*, T*, T*, int64_t, \
                                          T*, T*);                                                                 \
  template void rnnprop_fused_backward_cpu<T>(const RnnpropFusedShape&, const T*, int64_t, const T*, const T*,     \
                                              const T*, T*, T*);
L2O_INSTANTIATE(float)
L2O_INSTANTIATE(double)

}  // namespace l2o
