// The CPU ops of L2O-Scale (l2o_scale_ops.h): the reference of the CUDA twins. One tensor at a
// time, in the order of the authors' loop (hierarchical_rnn.py: per tensor level 0 then level 1,
// then the global level once).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <Eigen/Dense>

#include "kernels/gemm_blocking.h"
#include "kernels/l2o_scale_ops.h"

namespace l2o {

namespace {
// Before main, so before any GEMM below: the same blocking, and bits, on every machine.
[[maybe_unused]] const bool kGemmBlockingPinned = pin_gemm_blocking();
}  // namespace

using namespace lsc;

L2oScaleLayout make_l2o_scale_layout(int H0, int H1, int H2, double max_log_lr, const int64_t* block_offsets,
                                     int64_t num_params) {
  L2oScaleLayout L;
  L.H0 = H0;
  L.H1 = H1;
  L.H2 = H2;
  L.X1 = H0 + kF;
  L.max_log_lr = max_log_lr;
  std::copy(block_offsets, block_offsets + kBlockCount, L.off);
  L.num_params = num_params;
  int w = 0;
  auto take = [&w](int k) {
    const int o = w;
    w += k;
    return o;
  };
  L.o_h0p = take(H0), L.o_accp = take(kS), L.o_msp = take(kS), L.o_sclp = take(1), L.o_inpp = take(1);
  L.o_lrp = take(1), L.o_g = take(1), L.o_f = take(kF), L.o_r = take(H0), L.o_u = take(H0), L.o_c = take(H0);
  L.o_h0n = take(H0), L.o_acc = take(kS), L.o_ms = take(kS), L.o_delta = take(1), L.o_lrparam = take(1);
  L.o_stepc = take(1), L.o_scln = take(1), L.o_inpn = take(1);
  L.wp = w;
  w = 0;
  L.t_h1p = take(H1), L.t_x1 = take(L.X1), L.t_b1 = take(3 * H1), L.t_r = take(H1), L.t_u = take(H1);
  L.t_c = take(H1), L.t_h1n = take(H1), L.t_b0 = take(3 * H0), L.t_rms = take(1), L.t_forced = take(kS);
  L.wt = w;
  w = 0;
  L.g_h2p = take(H2), L.g_r = take(H2), L.g_u = take(H2), L.g_c = take(H2), L.g_h2n = take(H2);
  L.g_meanlr = take(1);
  L.wg = w;
  w = 0;
  L.b_dstepc = take(1), L.b_dstep = take(1), L.b_dzs = take(1), L.b_dzi = take(1), L.b_dlrm = take(1);
  L.b_dr = take(1), L.b_ddelta = take(1), L.b_dlr = take(1), L.b_dzg = take(2 * H0), L.b_dzc = take(H0);
  L.b_rh = take(H0);
  L.wb = w;
  return L;
}

void check_l2o_scale_shape(const L2oScaleShape& s) {
  for (int h : {s.L.H0, s.L.H1, s.L.H2})
    L2O_CHECK(h >= 1 && h <= kMaxHidden, "L2O-Scale levels take 1.." << kMaxHidden << " units, got " << h);
  L2O_CHECK(s.n >= 1 && s.tensors >= 1 && s.slots >= 0 && s.offs,
            "L2O-Scale shape: n " << s.n << ", tensors " << s.tensors << ", slots " << s.slots);
}

namespace {

// Parameters stepped together, innermost in every loop, so the compiler vectorises across them
// (one AVX register of floats). The arithmetic per parameter is lsc_param_forward's,
// lsc_param_direction's and lsc_param_readouts's (the CUDA twin's), in the same order.
constexpr int kLanes = 8;

// A block's lanes as one GCC vector, for the cell's and readouts' sums over hidden units: left to
// itself the compiler vectorises those along the hidden units, with a transpose per step.
template <typename T>
struct LaneVec;
template <>
struct LaneVec<float> {
  typedef float type __attribute__((vector_size(kLanes * sizeof(float))));
};
template <>
struct LaneVec<double> {
  typedef double type __attribute__((vector_size(kLanes * sizeof(double))));
};
// Always inlined, so the vector never crosses a call: GCC's -Wpsabi warnings about the 64-byte
// double vector's calling convention without AVX-512 (here to the end of forward_block) are moot.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
template <typename T, typename V = typename LaneVec<T>::type>
[[gnu::always_inline]] inline V lanes_of(const T* x) {
  V v;
  std::memcpy(&v, x, sizeof v);
  return v;
}
template <typename T, typename V>
[[gnu::always_inline]] inline void store_lanes(T* x, const V& v) {
  std::memcpy(x, &v, sizeof v);
}

// Parameters p0 .. p0 + lanes - 1 of one tensor (tensor record tr): features, the level-0 cell,
// the raw direction and the readouts, into their records R (stride wp from rec) and the new
// state. Adds their new states and features to x1 and their squared directions to sq, in
// parameter order. Idle lanes of a short block repeat its last parameter and are not stored.
template <typename T>
void forward_block(const L2oScaleLayout& L, const T* phi, const T* tr, T mean_lr, const T* g,
                   const L2oScaleState<T>& st, T* rec, int64_t p0, int lanes, T* x1, double& sq) {
  const int H = L.H0, X = kF;
  T gv[kLanes], scl[kLanes], inp[kLanes], lrp[kLanes];
  T h[kMaxHidden][kLanes], acc[kS][kLanes], ms[kS][kLanes];
  for (int p = 0; p < kLanes; ++p) {
    const int64_t q = p0 + std::min(p, lanes - 1);
    gv[p] = g[q], scl[p] = st.scl[q], inp[p] = st.inp[q], lrp[p] = st.lr[q];
    for (int j = 0; j < H; ++j) h[j][p] = st.h0[q * H + j];
    for (int j = 0; j < kS; ++j) acc[j][p] = st.acc[q * kS + j], ms[j][p] = st.ms[q * kS + j];
  }
  // The features, as lsc_param_forward.
  T f[kF][kLanes], lms[kS][kLanes], a[kS][kLanes], m2[kS][kLanes], d[kLanes];
  for (int p = 0; p < kLanes; ++p) d[p] = inp[p];
  const T zeros[kLanes] = {};
  for (int j = 0; j < kS; ++j) {
    if (j > 0)
      for (int p = 0; p < kLanes; ++p) d[p] = std::sqrt(d[p]);
    const T* se = tr[L.t_forced + j] != T(0) ? zeros : scl;
    for (int p = 0; p < kLanes; ++p)
      lsc_timescale(gv[p], d[p], acc[j][p], ms[j][p], se[p], a[j][p], m2[j][p], f[j][p], lms[j][p]);
  }
  for (int p = 0; p < kLanes; ++p) lsc_features_rest(&f[0][p], kLanes, &lms[0][p], kLanes, lrp[p] - mean_lr);
  // The level-0 BiasGRU cell, as lsc_gru_forward: the same sums in the same order.
  const T *Wg = phi + L.off[kG0W], *bg = phi + L.off[kG0B], *Wc = phi + L.off[kC0W], *bc = phi + L.off[kC0B];
  const T* b0 = tr + L.t_b0;
  T z[2 * kMaxHidden][kLanes], r[kMaxHidden][kLanes], u[kMaxHidden][kLanes], c[kMaxHidden][kLanes];
  T hn[kMaxHidden][kLanes];
  for (int j = 0; j < 2 * H; ++j)
    for (int p = 0; p < kLanes; ++p) z[j][p] = bg[j] + b0[j];
  using V = typename LaneVec<T>::type;
  for (int k = 0; k < X + H; ++k) {
    const V v = lanes_of(k < X ? f[k] : h[k - X]);
    for (int j = 0; j < 2 * H; ++j) store_lanes(z[j], lanes_of(z[j]) + v * Wg[k * 2 * H + j]);
  }
  for (int j = 0; j < H; ++j)
    for (int p = 0; p < kLanes; ++p) {
      r[j][p] = lsc_sigmoid(z[j][p]);
      u[j][p] = lsc_sigmoid(z[H + j][p]);
      z[j][p] = bc[j] + b0[2 * H + j];
    }
  for (int k = 0; k < X + H; ++k) {
    const V v = k < X ? lanes_of(f[k]) : lanes_of(r[k - X]) * lanes_of(h[k - X]);
    for (int j = 0; j < H; ++j) store_lanes(z[j], lanes_of(z[j]) + v * Wc[k * H + j]);
  }
  for (int j = 0; j < H; ++j)
    for (int p = 0; p < kLanes; ++p) {
      c[j][p] = tanh_act(z[j][p]);
      hn[j][p] = lsc_gru_blend(u[j][p], h[j][p], c[j][p]);
    }
  // The raw direction (lsc_param_direction) and the readouts (lsc_param_readouts).
  T dir[kLanes], stepc[kLanes], lrparam[kLanes], scln[kLanes], inpn[kLanes], lrn[kLanes];
  const T *upd = phi + L.off[kUpdW], *g2d = phi + L.off[kG2D], *wlr = phi + L.off[kLrW], *wscl = phi + L.off[kSclW],
          *winp = phi + L.off[kInpW];
  V s1 = {}, s2 = {}, vl = {}, vs = {}, vi = {};  // lsc_dot's sums, from 0 in the same order
  for (int j = 0; j < H; ++j) {
    const V hj = lanes_of(hn[j]);
    s1 += hj * upd[j], vl += hj * wlr[j], vs += hj * wscl[j], vi += hj * winp[j];
  }
  for (int j = 0; j < kS; ++j) s2 += lanes_of(f[j]) * g2d[j];
  T dl[kLanes], ds[kLanes], di[kLanes];
  store_lanes(dir, s1 + s2), store_lanes(dl, vl), store_lanes(ds, vs), store_lanes(di, vi);
  for (int p = 0; p < kLanes; ++p)
    lsc_readouts(L, phi, lrp[p], dl[p], ds[p], di[p], stepc[p], lrparam[p], scln[p], inpn[p], lrn[p]);
  // Records and the new state, lane by lane in parameter order.
  for (int p = 0; p < lanes; ++p) {
    const int64_t q = p0 + p;
    T* R = rec + q * L.wp;
    auto put = [&](int o, const T(*v)[kLanes], int count) {
      for (int j = 0; j < count; ++j) R[o + j] = v[j][p];
    };
    put(L.o_h0p, h, H), put(L.o_accp, acc, kS), put(L.o_msp, ms, kS), put(L.o_f, f, kF);
    put(L.o_r, r, H), put(L.o_u, u, H), put(L.o_c, c, H), put(L.o_h0n, hn, H), put(L.o_acc, a, kS);
    put(L.o_ms, m2, kS);
    R[L.o_sclp] = scl[p], R[L.o_inpp] = inp[p], R[L.o_lrp] = lrp[p], R[L.o_g] = gv[p], R[L.o_delta] = dir[p];
    R[L.o_stepc] = stepc[p], R[L.o_lrparam] = lrparam[p], R[L.o_scln] = scln[p], R[L.o_inpn] = inpn[p];
    for (int j = 0; j < H; ++j) st.h0[q * H + j] = hn[j][p];
    for (int j = 0; j < kS; ++j) st.acc[q * kS + j] = a[j][p], st.ms[q * kS + j] = m2[j][p];
    st.scl[q] = scln[p], st.inp[q] = inpn[p], st.lr[q] = lrn[p];
    for (int j = 0; j < H; ++j) x1[j] += hn[j][p];
    for (int j = 0; j < kF; ++j) x1[H + j] += f[j][p];
    sq += static_cast<double>(dir[p]) * dir[p];
  }
}
#pragma GCC diagnostic pop

// The level-0 cell's weight gradients over a tensor's m parameters at one step, as
// lsc_gru_weight_grads summed over them (the CUDA twin's product sums), but as GEMMs over their
// records R (stride wp: features f, old state h) and backward rows B (stride wb: dzg, dzc, r h):
// dWg += [f, h]^T dzg, dWc += [f, r h]^T dzc. The bias sums run in parameter order.
template <typename T>
void level0_weight_grads(const L2oScaleLayout& L, const T* R, const T* B, int64_t m, T* dWg, T* dbg, T* dWc, T* dbc,
                         T* db0) {
  using Rows = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                          Eigen::OuterStride<>>;
  using Out = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  const int H = L.H0;
  const Rows f(R + L.o_f, m, kF, Eigen::OuterStride<>(L.wp)), h(R + L.o_h0p, m, H, Eigen::OuterStride<>(L.wp));
  const Rows dzg(B + L.b_dzg, m, 2 * H, Eigen::OuterStride<>(L.wb)), dzc(B + L.b_dzc, m, H, Eigen::OuterStride<>(L.wb));
  const Rows rh(B + L.b_rh, m, H, Eigen::OuterStride<>(L.wb));
  Out wg(dWg, kF + H, 2 * H), wc(dWc, kF + H, H);
  wg.topRows(kF).noalias() += f.transpose() * dzg;
  wg.bottomRows(H).noalias() += h.transpose() * dzg;
  wc.topRows(kF).noalias() += f.transpose() * dzc;
  wc.bottomRows(H).noalias() += rh.transpose() * dzc;
  T sg[2 * kMaxHidden] = {}, sc[kMaxHidden] = {};
  for (int64_t i = 0; i < m; ++i) {
    const T* b = B + i * L.wb;
    for (int j = 0; j < 2 * H; ++j) sg[j] += b[L.b_dzg + j];
    for (int j = 0; j < H; ++j) sc[j] += b[L.b_dzc + j];
  }
  for (int j = 0; j < 2 * H; ++j) dbg[j] += sg[j], db0[j] += sg[j];
  for (int j = 0; j < H; ++j) dbc[j] += sc[j], db0[2 * H + j] += sc[j];
}

}  // namespace

template <typename T>
void l2o_scale_step_cpu(const L2oScaleShape& s, const T* phi, const T* g, const L2oScaleState<T>& st, int64_t slot,
                        T* u) {
  check_l2o_scale_shape(s);
  L2O_CHECK(slot >= 0 && slot <= s.slots, "slot " << slot << " outside [0, " << s.slots << "]");
  const L2oScaleLayout& L = s.L;
  const int64_t n = s.n;
  const int H1 = L.H1;
  T* gr = st.rec_g + slot * L.wg;
  T* rec = st.rec_p + slot * n * L.wp;
  std::copy(st.h2, st.h2 + L.H2, gr + L.g_h2p);
  double sum = 0;  // the problem's mean log learning rate (use_problem_lr_mean, H:432-442)
  for (int64_t p = 0; p < n; ++p) sum += st.lr[p];
  gr[L.g_meanlr] = static_cast<T>(sum / n);
  for (int k = 0; k < s.tensors; ++k) {
    const int64_t o = s.offs[k], m = s.offs[k + 1] - s.offs[k];
    T* tr = st.rec_t + (slot * s.tensors + k) * L.wt;
    for (int j = 0; j < kS; ++j) {
      bool forced = true;
      for (int64_t i = 0; i < m && forced; ++i) forced = st.ms[(o + i) * kS + j] == T(0);
      tr[L.t_forced + j] = forced ? T(1) : T(0);
    }
    lsc_tensor_bias(L, phi, st.h1 + k * H1, gr + L.g_h2p, tr);
    T* x1 = tr + L.t_x1;
    std::fill(x1, x1 + L.X1, T(0));
    double sq = 0;
    for (int64_t i = 0; i < m; i += kLanes)
      forward_block(L, phi, static_cast<const T*>(tr), gr[L.g_meanlr], g, st, rec, o + i,
                    static_cast<int>(std::min<int64_t>(kLanes, m - i)), x1, sq);
    for (int j = 0; j < L.X1; ++j) x1[j] /= static_cast<T>(m);
    lsc_tensor_level1(L, phi, gr + L.g_h2p, tr);
    std::copy(tr + L.t_h1n, tr + L.t_h1n + H1, st.h1 + k * H1);
    const T rms = std::sqrt(static_cast<T>(sq / m) + T(1e-16));
    tr[L.t_rms] = rms;
    for (int64_t p = o; p < o + m; ++p) u[p] = lsc_param_apply_rms(L, rms, rec + p * L.wp);
  }
  const T* last = st.rec_t + (slot * s.tensors + s.tensors - 1) * L.wt;
  lsc_global_level2(L, phi, last + L.t_h1n, gr);
  std::copy(gr + L.g_h2n, gr + L.g_h2n + L.H2, st.h2);
}

template <typename T>
void l2o_scale_backward_cpu(const L2oScaleShape& s, const T* phi, int64_t steps, const L2oScaleState<T>& st,
                            const T* dl_du, T* ws, T* dphi) {
  check_l2o_scale_shape(s);
  L2O_CHECK(steps >= 1 && steps <= s.slots, "steps " << steps << " outside [1, " << s.slots << "]");
  const L2oScaleLayout& L = s.L;
  const int64_t n = s.n, ss = s.state_size();
  const int H0 = L.H0, H1 = L.H1;
  std::fill(dphi, dphi + L.num_params, T(0));
  auto D = [&](int b) { return dphi + L.off[b]; };
  L2oScaleState<T> next = l2o_scale_state_view<T>(s, ws, nullptr), prev = l2o_scale_state_view<T>(s, ws + ss, nullptr);
  std::fill(ws, ws + 2 * ss, T(0));
  T* dh_all = ws + 2 * ss;
  T* df_all = dh_all + n * H0;
  T* rows = df_all + n * kF;
  std::vector<T> dx2(H1), dx1(L.X1), db0(3 * H0);
  const T lrm = lsc_sigmoid(phi[L.off[kLrMom]]);
  T dlrm = 0;
  for (int64_t t = steps - 1; t >= 0; --t) {
    std::fill(prev.h0, prev.h0 + ss, T(0));
    const T* gr = st.rec_g + t * L.wg;
    const T* h2p = gr + L.g_h2p;
    const T* last = st.rec_t + (t * s.tensors + s.tensors - 1) * L.wt;
    lsc_global_back_level2(L, phi, last, gr, static_cast<const T*>(next.h2), dx2.data(), prev.h2, dphi);
    T dlr_sum = 0;  // the relative-lr feature's gradient on the problem's mean log lr
    for (int k = 0; k < s.tensors; ++k) {
      const int64_t o = s.offs[k], m = s.offs[k + 1] - s.offs[k];
      const T* tr = st.rec_t + (t * s.tensors + k) * L.wt;
      T S = 0;
      for (int64_t i = 0; i < m; ++i) {
        const int64_t p = o + i;
        const T* R = st.rec_p + (t * n + p) * L.wp;
        T* Bw = rows + (t * n + p) * L.wb;
        prev.lr[p] += lsc_param_back_readouts(L, phi, R, dl_du[t * n + p], next.h0 + p * H0, next.lr[p], next.scl[p],
                                              next.inp[p], dh_all + p * H0, Bw);
        *D(kOffset) += Bw[L.b_dstepc];
        dlrm += Bw[L.b_dlrm];
        *D(kLrB) += Bw[L.b_dstep];
        *D(kSclB) += Bw[L.b_dzs];
        *D(kInpB) += Bw[L.b_dzi];
        const T* h0n = R + L.o_h0n;
        for (int j = 0; j < H0; ++j) {
          D(kLrW)[j] += Bw[L.b_dstep] * h0n[j];
          D(kSclW)[j] += Bw[L.b_dzs] * h0n[j];
          D(kInpW)[j] += Bw[L.b_dzi] * h0n[j];
        }
        S += Bw[L.b_ddelta] * R[L.o_delta];
      }
      const T rms = tr[L.t_rms];
      for (int64_t i = 0; i < m; ++i) {
        const int64_t p = o + i;
        const T* R = st.rec_p + (t * n + p) * L.wp;
        T* Bw = rows + (t * n + p) * L.wb;
        lsc_param_back_direction(L, phi, R, S, static_cast<T>(m), rms, dh_all + p * H0, df_all + p * kF, Bw);
        for (int j = 0; j < H0; ++j) D(kUpdW)[j] += Bw[L.b_dr] * R[L.o_h0n + j];
        for (int j = 0; j < kS; ++j) D(kG2D)[j] += Bw[L.b_dr] * R[L.o_f + j];
      }
      // Level 1: its new state feeds the next step (and level 2 for the last tensor).
      lsc_tensor_back_level1(L, phi, tr, h2p, static_cast<const T*>(next.h1 + k * H1),
                             k == s.tensors - 1 ? static_cast<const T*>(dx2.data()) : nullptr, dx1.data(),
                             prev.h1 + k * H1, prev.h2, dphi);
      // Level 0, row by row; its input rows got the mean's share of dx1.
      std::fill(db0.begin(), db0.end(), T(0));
      for (int64_t i = 0; i < m; ++i) {
        const int64_t p = o + i;
        const T* R = st.rec_p + (t * n + p) * L.wp;
        T* Bw = rows + (t * n + p) * L.wb;
        lsc_param_back_cell(L, phi, R, tr, static_cast<const T*>(dx1.data()), static_cast<T>(m),
                            static_cast<const T*>(next.acc + p * kS), static_cast<const T*>(next.ms + p * kS),
                            dh_all + p * H0, df_all + p * kF, Bw, prev.h0 + p * H0, prev.acc + p * kS,
                            prev.ms + p * kS, prev.scl + p, prev.inp + p, prev.lr + p);
        dlr_sum += Bw[L.b_dlr];
      }
      level0_weight_grads(L, st.rec_p + (t * n + o) * L.wp, rows + (t * n + o) * L.wb, m, D(kG0W), D(kG0B), D(kC0W),
                          D(kC0B), db0.data());
      lsc_tensor_back_bias(L, phi, tr, h2p, static_cast<const T*>(db0.data()), prev.h1 + k * H1, prev.h2, dphi);
    }
    for (int64_t p = 0; p < n; ++p) prev.lr[p] -= dlr_sum / static_cast<T>(n);  // through the mean log lr
    std::swap(prev, next);
  }
  *D(kLrMom) += dlrm * lrm * (T(1) - lrm);
}

template void l2o_scale_step_cpu<float>(const L2oScaleShape&, const float*, const float*, const L2oScaleState<float>&,
                                        int64_t, float*);
template void l2o_scale_step_cpu<double>(const L2oScaleShape&, const double*, const double*,
                                         const L2oScaleState<double>&, int64_t, double*);
template void l2o_scale_backward_cpu<float>(const L2oScaleShape&, const float*, int64_t, const L2oScaleState<float>&,
                                            const float*, float*, float*);
template void l2o_scale_backward_cpu<double>(const L2oScaleShape&, const double*, int64_t,
                                             const L2oScaleState<double>&, const double*, double*, double*);

}  // namespace l2o
