// CPU twins of the fused L2O-DM ops: the per-coordinate code of l2o_dm_fused_math.h in a loop,
// and the weight-gradient reductions as plain fixed-order loops (the reference the CUDA GEMMs are
// tested against, and a second implementation the blocked CPU learner is tested against).
// DM's 20-20 shape runs the same fixed-size code as the CUDA fast path, on a packed copy of phi
// (l2o_dm_fused_fixed.h); its arithmetic is that of the generic code, so results do not change.
#include "kernels/l2o_dm_fused.h"

#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/fused_reduce_cpu.h"
#include "kernels/l2o_dm_fused_fixed.h"

namespace l2o {

void check_fused_shape(const L2oDmFusedShape& s) {
  L2O_CHECK(s.n >= 1 && s.slots >= 1, "fused L2O-DM: n and slots must be >= 1");
  if (s.in < 1 || s.in > kFusedMaxIn || s.H0 < 1 || s.H0 > kFusedMaxHidden || s.H1 < 1 || s.H1 > kFusedMaxHidden)
    throw Error("fused L2O-DM ops take 2 LSTM layers of 1.." + std::to_string(kFusedMaxHidden) +
                " units and 1 or 2 input features; got in=" + std::to_string(s.in) + ", hidden [" +
                std::to_string(s.H0) + ", " + std::to_string(s.H1) + "]");
}

void check_fused_step_args(const L2oDmFusedShape& s, bool saving, int64_t slot) {
  check_fused_shape(s);
  L2O_CHECK(!saving || (slot >= 0 && slot < s.slots), "slot " << slot << " outside [0, " << s.slots << ")");
}

void check_fused_backward_args(const L2oDmFusedShape& s, int64_t steps) {
  check_fused_shape(s);
  L2O_CHECK(steps >= 1 && steps <= s.slots, "steps " << steps << " outside [1, " << s.slots << "]");
}

namespace {

// phi in the fast path's packed layout (what the CUDA kernels stage into shared memory).
template <typename T>
std::vector<T> pack_phi(const FusedDims<T>& d, const T* phi) {
  std::vector<T> pk(d.num_params());
  for (int j = 0; j < static_cast<int>(pk.size()); ++j) pk[j] = phi[fused_packed_source(j, d.in, d.H0, d.H1)];
  return pk;
}

template <typename T, int IN>
void step_fixed(const FusedDims<T>& d, const T* phi, const T* g, T* state, T* saved, T* u, T* theta) {
  constexpr int H = kFusedFixedHidden;
  const std::vector<T> pk = pack_phi(d, phi);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < d.n; ++i) {
    const T out = fused_coord_step_fixed<T, IN, H, H>(d, pk.data(), g[i], state + i, saved ? saved + i : nullptr);
    u[i] = out;
    if (theta) theta[i] += out;
  }
}

template <typename T, int IN>
void bptt_fixed(const FusedDims<T>& d, const T* phi, int64_t steps, const T* saved, const T* c_init, const T* dl_du,
                T* dz0, T* dz1) {
  constexpr int H = kFusedFixedHidden;
  const std::vector<T> pk = pack_phi(d, phi);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < d.n; ++i)
    fused_coord_bptt_fixed<T, IN, H, H>(d, pk.data(), steps, saved + i, c_init + i, dl_du + i, dz0 + i, dz1 + i);
}

}  // namespace

template <typename T>
void l2o_dm_fused_step_cpu(const L2oDmFusedShape& s, const T* phi, const T* g, T* state, T* saved, int64_t slot,
                           T* u, T* theta) {
  check_fused_step_args(s, saved != nullptr, slot);
  const FusedDims<T> d = s.dims<T>();
  T* sv = saved ? saved + slot * s.n : nullptr;
  switch (fused_fixed_in(d)) {
    case 2:
      return step_fixed<T, 2>(d, phi, g, state, sv, u, theta);
    case 1:
      return step_fixed<T, 1>(d, phi, g, state, sv, u, theta);
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s.n; ++i) {
    const T out = fused_coord_step(d, phi, g[i], state + i, sv ? sv + i : nullptr);
    u[i] = out;
    if (theta) theta[i] += out;
  }
}

template <typename T>
void l2o_dm_fused_backward_cpu(const L2oDmFusedShape& s, const T* phi, int64_t steps, const T* saved,
                               const T* c_init, const T* dl_du, T* ws, T* dphi) {
  check_fused_backward_args(s, steps);
  const FusedDims<T> d = s.dims<T>();
  const int64_t ld = d.ld, m = steps * s.n;
  T* dz0 = ws;
  T* dz1 = ws + 4 * d.H0 * ld;
  switch (fused_fixed_in(d)) {
    case 2:
      bptt_fixed<T, 2>(d, phi, steps, saved, c_init, dl_du, dz0, dz1);
      break;
    case 1:
      bptt_fixed<T, 1>(d, phi, steps, saved, c_init, dl_du, dz0, dz1);
      break;
    default:
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < s.n; ++i)
        fused_coord_bptt(d, phi, steps, saved + i, c_init + i, dl_du + i, dz0 + i, dz1 + i);
  }
  // Weight gradients: dW_l (K_l, 4H_l) = XH_l dz_l^T; db_l = row sums of dz_l; output projection
  // dwo = scale * h1 dl_du, dbo = scale * sum dl_du.
  fused_gemm_nt_cpu<T>(d.k0(), 4 * d.H0, m, saved, dz0, ld, T(1), dphi + d.w0());
  fused_gemm_nt_cpu<T>(d.k1(), 4 * d.H1, m, saved + d.row_xh1() * ld, dz1, ld, T(1), dphi + d.w1());
  fused_row_sums_cpu<T>(4 * d.H0, m, dz0, ld, T(1), dphi + d.b0());
  fused_row_sums_cpu<T>(4 * d.H1, m, dz1, ld, T(1), dphi + d.b1());
  for (int64_t k = 0; k < d.H1; ++k) {
    T acc = 0;
    const T* hk = saved + (d.row_h1() + k) * ld;
    for (int64_t j = 0; j < m; ++j) acc += hk[j] * dl_du[j];
    dphi[d.wo() + k] = d.scale * acc;
  }
  T acc = 0;
  for (int64_t j = 0; j < m; ++j) acc += dl_du[j];
  dphi[d.bo()] = d.scale * acc;
}

double l2o_dm_fused_step_flops(const L2oDmFusedShape& s) {
  const FusedDims<double> d = s.dims<double>();
  // 2 FLOPs per multiply-add of the gate GEMVs, ~12 per cell element, 2 per output weight.
  return 2.0 * (d.k0() * 4.0 * d.H0 + d.k1() * 4.0 * d.H1) + 12.0 * (d.H0 + d.H1) + 2.0 * d.H1 + 10.0;
}

double l2o_dm_fused_backward_flops(const L2oDmFusedShape& s) {
  const FusedDims<double> d = s.dims<double>();
  const double gemv = 2.0 * (d.k0() * 4.0 * d.H0 + d.k1() * 4.0 * d.H1);
  // gate recompute + dxh = W dz + dW = xh dz^T, plus the cell backward and the bias/output sums.
  return 3.0 * gemv + 30.0 * (d.H0 + d.H1) + 8.0 * (d.H0 + d.H1) + 4.0 * d.H1;
}

#define L2O_INSTANTIATE(T)                                                                                       \
  template void l2o_dm_fused_step_cpu<T>(const L2oDmFusedShape&, const T*, const T*, T*, T*, int64_t, T*, T*);  \
  template void l2o_dm_fused_backward_cpu<T>(const L2oDmFusedShape&, const T*, int64_t, const T*, const T*,      \
                                             const T*, T*, T*);
L2O_INSTANTIATE(float)
L2O_INSTANTIATE(double)

}  // namespace l2o
