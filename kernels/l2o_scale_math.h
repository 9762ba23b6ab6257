// The math of L2O-Scale (the authors' HierarchicalRNN; docs/l2o_scale.md derives it with file:line),
// shared by the CPU ops and their CUDA twins (l2o_scale_ops.h): the BiasGRU cell, the affine maps,
// and one parameter's share of a step and of its backward, each a function of that parameter's
// record and of per-tensor values computed before it. Per-tensor and global pieces are here too;
// they run once per tensor (one thread on the device).
#pragma once
#include <cstdint>

#include "kernels/activation_math.h"
#include "kernels/common.h"

namespace l2o {

namespace lsc {

constexpr int kS = 4;           // num_gradient_scales
constexpr int kF = 3 * kS;      // features: 4 scaled momenta, 3 products, 4 log ms, relative lr
constexpr int kMaxHidden = 64;  // per level (stack arrays in the cell loops)

// phi's blocks in order (learners/l2o_scale.cpp names them as the authors' variables).
enum Block : int {
  kInit0, kInit1, kInit2,       // Level{0,1,2}_RNN/init_vector
  kG0W, kG0B, kC0W, kC0B,       // PerTensor/Layer0_RNN/BiasGRUCell/{gates,candidate}/Affine
  kParamW, kParamB,             // PerTensor/Layer0_RNN/Param/Affine: bias from the tensor state
  kGlobW, kGlobB,               // PerTensor/Layer0_RNN/Global/Affine: bias from the global state
  kG1W, kG1B, kC1W, kC1B,       // PerTensor/Layer1_RNN/BiasGRUCell
  kL1W, kL1B,                   // PerTensor/Layer1_RNN/Affine: bias from the global state
  kG2W, kG2B, kC2W, kC2B,       // Layer2_RNN/BiasGRUCell
  kUpdW, kG2D,                  // update_weights, PerTensor/GradsToDelta/Matrix
  kLrW, kLrB, kLrMom, kOffset,  // learning_rate_{weights,bias}, PerTensor/{learning_rate_momentum_logit, param_stepsize_offset}
  kSclW, kSclB, kInpW, kInpB,   // {scl,inp}_decay_{weights,bias}
  kBlockCount
};

}  // namespace lsc

// Sizes, phi's block offsets and the record layouts. Per parameter and step, a record of wp
// values: the previous state, g, the features, the level-0 cell's r, u, c and new state, the
// new momenta and mean squares, the direction, exp(lr), the clipped lr and the new decays. Per
// tensor (wt): h1_old, the level-1 input x1, its injected bias, r, u, c, h1_new, the level-0
// injected bias b0, the direction's RMS, the forced-zero decay flags. Global (wg): h2_old, r, u, c,
// h2_new, the problem's mean log lr. Backward rows (wb per parameter and step): the readouts'
// pre-activation gradients, the level-0 cell's dz and r*h_old (the weight gradients are sums of
// their products with the record over parameters and steps).
struct L2oScaleLayout {
  int H0 = 10, H1 = 20, H2 = 20, X1 = 22;
  double max_log_lr = 33;
  int64_t off[lsc::kBlockCount] = {};  // phi's blocks
  int64_t num_params = 0;
  int o_h0p, o_accp, o_msp, o_sclp, o_inpp, o_lrp, o_g, o_f, o_r, o_u, o_c, o_h0n, o_acc, o_ms, o_delta, o_lrparam,
      o_stepc, o_scln, o_inpn, wp;
  int t_h1p, t_x1, t_b1, t_r, t_u, t_c, t_h1n, t_b0, t_rms, t_forced, wt;
  int g_h2p, g_r, g_u, g_c, g_h2n, g_meanlr, wg;
  int b_dstepc, b_dstep, b_dzs, b_dzi, b_dlrm, b_dr, b_ddelta, b_dlr, b_dzg, b_dzc, b_rh, wb;
};

// The layout for levels of H0, H1, H2 units; phi has num_params values in blocks at block_offsets.
L2oScaleLayout make_l2o_scale_layout(int H0, int H1, int H2, double max_log_lr, const int64_t* block_offsets,
                                     int64_t num_params);

// The float transcendentals are activation_math.h's branch-free approximations (<= 3e-7 relative),
// so the CPU's loops over parameters vectorise and the GPU runs the same arithmetic; double keeps
// the library.
template <typename T>
L2O_HD T lsc_sigmoid(T x) {
  return sigmoid(x);
}

template <typename T>
L2O_HD T lsc_dot(int n, const T* a, const T* b) {
  T s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// out (O) += v (I) @ W (I, O) + b.
template <typename T>
L2O_HD void lsc_affine_add(int I, int O, const T* v, const T* W, const T* b, T* out) {
  for (int j = 0; j < O; ++j) out[j] += b[j];
  for (int a = 0; a < I; ++a)
    for (int j = 0; j < O; ++j) out[j] += v[a] * W[a * O + j];
}

// The backward of lsc_affine_add: dv += W dout, dW += v dout^T, db += dout.
template <typename T>
L2O_HD void lsc_affine_backward(int I, int O, const T* v, const T* W, const T* dout, T* dv, T* dW, T* db) {
  for (int j = 0; j < O; ++j) db[j] += dout[j];
  for (int a = 0; a < I; ++a) {
    T s = 0;
    for (int j = 0; j < O; ++j) {
      s += W[a * O + j] * dout[j];
      dW[a * O + j] += v[a] * dout[j];
    }
    dv[a] += s;
  }
}

// The GRU's new state from its update gate u, old state h and candidate c.
template <typename T>
L2O_HD T lsc_gru_blend(T u, T h, T c) {
  return u * h + (T(1) - u) * c;
}

// BiasGRUCell (rnn_cells.py:46-68) on one row: [r, u] = sigmoid([x, h] Wg + bg + bias[0:2H]),
// c = tanh([x, r h] Wc + bc + bias[2H:3H]), h' = u h + (1 - u) c. bias null: none (Layer2).
template <typename T>
L2O_HD void lsc_gru_forward(int X, int H, const T* x, const T* h, const T* Wg, const T* bg, const T* Wc, const T* bc,
                            const T* bias, T* r, T* u, T* c, T* hn) {
  T z[2 * lsc::kMaxHidden];
  for (int j = 0; j < 2 * H; ++j) z[j] = bg[j] + (bias ? bias[j] : T(0));
  for (int k = 0; k < X + H; ++k) {
    const T v = k < X ? x[k] : h[k - X];
    const T* row = Wg + k * 2 * H;
    for (int j = 0; j < 2 * H; ++j) z[j] += v * row[j];
  }
  for (int j = 0; j < H; ++j) {
    r[j] = lsc_sigmoid(z[j]);
    u[j] = lsc_sigmoid(z[H + j]);
    z[j] = bc[j] + (bias ? bias[2 * H + j] : T(0));
  }
  for (int k = 0; k < X + H; ++k) {
    const T v = k < X ? x[k] : r[k - X] * h[k - X];
    const T* row = Wc + k * H;
    for (int j = 0; j < H; ++j) z[j] += v * row[j];
  }
  for (int j = 0; j < H; ++j) {
    c[j] = tanh_act(z[j]);
    hn[j] = lsc_gru_blend(u[j], h[j], c[j]);
  }
}

// The cell's backward for dhn without its weights: the pre-activation gradients dzg (2H: r, u)
// and dzc (H); adds to dx (X) and dh (H).
template <typename T>
L2O_HD void lsc_gru_backward_dz(int X, int H, const T* x, const T* h, const T* Wg, const T* Wc, const T* r,
                                const T* u, const T* c, const T* dhn, T* dx, T* dh, T* dzg, T* dzc) {
  for (int j = 0; j < H; ++j) {
    dzc[j] = dhn[j] * (T(1) - u[j]) * (T(1) - c[j] * c[j]);
    dzg[H + j] = dhn[j] * (h[j] - c[j]) * u[j] * (T(1) - u[j]);
    dh[j] += dhn[j] * u[j];
  }
  for (int k = 0; k < X + H; ++k) {  // candidate: inputs [x, r h]
    const T* row = Wc + k * H;
    T s = 0;
    for (int j = 0; j < H; ++j) s += row[j] * dzc[j];
    if (k < X) {
      dx[k] += s;
    } else {
      const int q = k - X;
      dh[q] += s * r[q];
      dzg[q] = s * h[q] * r[q] * (T(1) - r[q]);
    }
  }
  for (int k = 0; k < X + H; ++k) {  // gates: inputs [x, h]
    const T* row = Wg + k * 2 * H;
    T s = 0;
    for (int j = 0; j < 2 * H; ++j) s += row[j] * dzg[j];
    if (k < X) {
      dx[k] += s;
    } else {
      dh[k - X] += s;
    }
  }
}

// The cell's weight gradients from lsc_gru_backward_dz's dz: dWg += [x, h]^T dzg, dWc += [x, r h]^T
// dzc, dbg += dzg, dbc += dzc, and the injected bias's dbias += [dzg, dzc] unless null.
template <typename T>
L2O_HD void lsc_gru_weight_grads(int X, int H, const T* x, const T* h, const T* r, const T* dzg, const T* dzc,
                                 T* dWg, T* dbg, T* dWc, T* dbc, T* dbias) {
  for (int k = 0; k < X + H; ++k) {
    const T vg = k < X ? x[k] : h[k - X];
    const T vc = k < X ? x[k] : r[k - X] * h[k - X];
    for (int j = 0; j < 2 * H; ++j) dWg[k * 2 * H + j] += vg * dzg[j];
    for (int j = 0; j < H; ++j) dWc[k * H + j] += vc * dzc[j];
  }
  for (int j = 0; j < 2 * H; ++j) dbg[j] += dzg[j];
  for (int j = 0; j < H; ++j) dbc[j] += dzc[j];
  if (dbias) {
    for (int j = 0; j < 2 * H; ++j) dbias[j] += dzg[j];
    for (int j = 0; j < H; ++j) dbias[2 * H + j] += dzc[j];
  }
}

// ---- forward, one parameter ---------------------------------------------------------------------

// One timescale of a parameter's features (utils.py:108-160): the momentum a at decay d, its mean
// square m2 at decay se, the RMS-scaled momentum asinh(a / sqrt(m2)) and log m2.
template <typename T>
L2O_HD void lsc_timescale(T g, T d, T acc, T ms, T se, T& a, T& m2, T& scaled, T& log_ms) {
  a = (T(1) - d) * g + d * acc;
  m2 = (T(1) - se) * (a * a + T(1e-12)) + se * ms;
  scaled = asinh_act(a / sqrt(m2 + T(1e-16)));
  log_ms = log_act(m2 + T(1e-16));
}

// The features after the kS scaled momenta (f, at stride fs) from the log mean squares (lms, at
// stride ls; H:497-531): products of neighbouring scales, the log mean squares about their mean
// and the relative lr. The strides let a block of parameters keep each feature contiguous.
template <typename T>
L2O_HD void lsc_features_rest(T* f, int fs, const T* lms, int ls, T relative_lr) {
  using namespace lsc;
  for (int j = 0; j + 1 < kS; ++j) f[(kS + j) * fs] = f[j * fs] * f[(j + 1) * fs];
  const T avg = (lms[0] + lms[ls] + lms[2 * ls] + lms[3 * ls]) / T(kS);
  for (int j = 0; j < kS; ++j) f[(2 * kS - 1 + j) * fs] = lms[j * ls] - avg;
  f[(kF - 1) * fs] = relative_lr;
}

// The features and the level-0 cell (H:458-531, utils.py:108-160) of one parameter with gradient
// g and state (h0, acc, ms, scl, inp, lr) before the step, under its tensor's record `tr` (b0,
// forced flags) and the problem's mean log lr. Writes the record R (the direction is left for
// lsc_param_direction).
template <typename T>
L2O_HD void lsc_param_forward(const L2oScaleLayout& L, const T* phi, const T* tr, T mean_lr, T g, const T* h0,
                              const T* acc, const T* ms, T scl, T inp, T lr, T* R) {
  using namespace lsc;
  for (int j = 0; j < L.H0; ++j) R[L.o_h0p + j] = h0[j];
  for (int j = 0; j < kS; ++j) {
    R[L.o_accp + j] = acc[j];
    R[L.o_msp + j] = ms[j];
  }
  R[L.o_sclp] = scl;
  R[L.o_inpp] = inp;
  R[L.o_lrp] = lr;
  R[L.o_g] = g;
  // Momenta on timescales doubling from inp_decay, RMS-scaled; the decay is forced to 0 while the
  // tensor's mean squares are all zero (utils.py:129-130).
  T d = inp, lms[kS];
  T* f = R + L.o_f;
  for (int j = 0; j < kS; ++j) {
    if (j > 0) d = sqrt(d);
    const T se = tr[L.t_forced + j] != T(0) ? T(0) : scl;
    lsc_timescale(g, d, acc[j], ms[j], se, R[L.o_acc + j], R[L.o_ms + j], f[j], lms[j]);
  }
  lsc_features_rest(f, 1, lms, 1, lr - mean_lr);
  lsc_gru_forward(kF, L.H0, f, R + L.o_h0p, phi + L.off[kG0W], phi + L.off[kG0B], phi + L.off[kC0W],
                  phi + L.off[kC0B], tr + L.t_b0, R + L.o_r, R + L.o_u, R + L.o_c, R + L.o_h0n);
}

// The raw direction: readout of the new level-0 state plus the gradient shortcut (H:612-622).
template <typename T>
L2O_HD T lsc_param_direction(const L2oScaleLayout& L, const T* phi, T* R) {
  using namespace lsc;
  const T dr = lsc_dot(L.H0, R + L.o_h0n, phi + L.off[kUpdW]) + lsc_dot(kS, R + L.o_f, phi + L.off[kG2D]);
  R[L.o_delta] = dr;
  return dr;
}

// The readouts of a parameter's new level-0 state (H:623-706) from its dot products with the lr,
// scl and inp weights: the step log lr (clipped forward only), exp(lr + offset), the next decays
// and the lr with momentum, from the old log lr lrp.
template <typename T>
L2O_HD void lsc_readouts(const L2oScaleLayout& L, const T* phi, T lrp, T lr_dot, T scl_dot, T inp_dot, T& stepc,
                         T& lrparam, T& scln, T& inpn, T& lr_new) {
  using namespace lsc;
  const T lrm = lsc_sigmoid(phi[L.off[kLrMom]]);
  const T step_lr = lrp + lr_dot + phi[L.off[kLrB]];
  const T hi = static_cast<T>(L.max_log_lr);
  stepc = step_lr < T(-33) ? T(-33) : (step_lr > hi ? hi : step_lr);
  lrparam = exp_act(stepc + phi[L.off[kOffset]]);
  scln = lsc_sigmoid(scl_dot + phi[L.off[kSclB]]);
  inpn = lsc_sigmoid(inp_dot + phi[L.off[kInpB]]);
  lr_new = lrm * lrp + (T(1) - lrm) * stepc;
}

// The step's readouts into the record and the new state: all of the step but the RMS division,
// which needs the whole tensor's directions.
template <typename T>
L2O_HD void lsc_param_readouts(const L2oScaleLayout& L, const T* phi, T* R, T* h0, T* acc, T* ms, T* scl, T* inp,
                               T* lr) {
  using namespace lsc;
  const T* h0n = R + L.o_h0n;
  lsc_readouts(L, phi, R[L.o_lrp], lsc_dot(L.H0, h0n, phi + L.off[kLrW]), lsc_dot(L.H0, h0n, phi + L.off[kSclW]),
               lsc_dot(L.H0, h0n, phi + L.off[kInpW]), R[L.o_stepc], R[L.o_lrparam], R[L.o_scln], R[L.o_inpn], *lr);
  for (int j = 0; j < L.H0; ++j) h0[j] = h0n[j];
  for (int j = 0; j < kS; ++j) {
    acc[j] = R[L.o_acc + j];
    ms[j] = R[L.o_ms + j];
  }
  *scl = R[L.o_scln];
  *inp = R[L.o_inpn];
}

// The direction over its tensor's RMS, and the update u = -exp(lr + offset) delta.
template <typename T>
L2O_HD T lsc_param_apply_rms(const L2oScaleLayout& L, T rms, T* R) {
  R[L.o_delta] /= rms;
  return -R[L.o_lrparam] * R[L.o_delta];
}

// The whole step after the direction (H:623-706): the readouts and the new state, then u.
template <typename T>
L2O_HD T lsc_param_finish(const L2oScaleLayout& L, const T* phi, T rms, T* R, T* h0, T* acc, T* ms, T* scl, T* inp,
                          T* lr) {
  lsc_param_readouts(L, phi, R, h0, acc, ms, scl, inp, lr);
  return lsc_param_apply_rms(L, rms, R);
}

// ---- forward, one tensor and the global level ------------------------------------------------------

// The level-0 injected bias from the old tensor and global states (H:561-575); copies h1_old.
template <typename T>
L2O_HD void lsc_tensor_bias(const L2oScaleLayout& L, const T* phi, const T* h1_old, const T* h2_old, T* tr) {
  using namespace lsc;
  for (int j = 0; j < L.H1; ++j) tr[L.t_h1p + j] = h1_old[j];
  T* b0 = tr + L.t_b0;
  for (int j = 0; j < 3 * L.H0; ++j) b0[j] = T(0);
  lsc_affine_add(L.H1, 3 * L.H0, h1_old, phi + L.off[kParamW], phi + L.off[kParamB], b0);
  lsc_affine_add(L.H2, 3 * L.H0, h2_old, phi + L.off[kGlobW], phi + L.off[kGlobB], b0);
}

// Level 1 (H:584-598) on x1 = the tensor's mean of [h0_new, features] (already in tr), with the
// bias from the old global state; writes h1_new.
template <typename T>
L2O_HD void lsc_tensor_level1(const L2oScaleLayout& L, const T* phi, const T* h2_old, T* tr) {
  using namespace lsc;
  T* b1 = tr + L.t_b1;
  for (int j = 0; j < 3 * L.H1; ++j) b1[j] = T(0);
  lsc_affine_add(L.H2, 3 * L.H1, h2_old, phi + L.off[kL1W], phi + L.off[kL1B], b1);
  lsc_gru_forward(L.X1, L.H1, tr + L.t_x1, tr + L.t_h1p, phi + L.off[kG1W], phi + L.off[kG1B], phi + L.off[kC1W],
                  phi + L.off[kC1B], static_cast<const T*>(b1), tr + L.t_r, tr + L.t_u, tr + L.t_c, tr + L.t_h1n);
}

// Level 2 on the last tensor's new state only (H:426, H:725); gr holds h2_old.
template <typename T>
L2O_HD void lsc_global_level2(const L2oScaleLayout& L, const T* phi, const T* last_h1n, T* gr) {
  using namespace lsc;
  lsc_gru_forward(L.H1, L.H2, last_h1n, gr + L.g_h2p, phi + L.off[kG2W], phi + L.off[kG2B], phi + L.off[kC2W],
                  phi + L.off[kC2B], static_cast<const T*>(nullptr), gr + L.g_r, gr + L.g_u, gr + L.g_c,
                  gr + L.g_h2n);
}

// ---- backward, one parameter ------------------------------------------------------------------------
// "next" adjoints are dL/d(state after the step), "prev" dL/d(state before it).

// The readouts (u, the new log lr and decays): writes dh (H0: dL/dh0_new so far, from next_h0 and
// the readouts), the backward row Bw (b_dstepc, b_dstep, b_dzs, b_dzi, b_dlrm, b_ddelta) and
// returns what prev_lr gets from the lr momentum. The clip passes the gradient straight through.
template <typename T>
L2O_HD T lsc_param_back_readouts(const L2oScaleLayout& L, const T* phi, const T* R, T du, const T* next_h0,
                                 T next_lr, T next_scl, T next_inp, T* dh, T* Bw) {
  using namespace lsc;
  const T lrm = lsc_sigmoid(phi[L.off[kLrMom]]);
  const T dstepc = -du * R[L.o_delta] * R[L.o_lrparam];
  const T dstep = dstepc + (T(1) - lrm) * next_lr;
  const T sn = R[L.o_scln], in = R[L.o_inpn];
  const T dzs = next_scl * sn * (T(1) - sn), dzi = next_inp * in * (T(1) - in);
  for (int j = 0; j < L.H0; ++j)
    dh[j] = next_h0[j] + (dstep * phi[L.off[kLrW] + j] + dzs * phi[L.off[kSclW] + j] + dzi * phi[L.off[kInpW] + j]);
  Bw[L.b_dstepc] = dstepc;
  Bw[L.b_dstep] = dstep;
  Bw[L.b_dzs] = dzs;
  Bw[L.b_dzi] = dzi;
  Bw[L.b_dlrm] = next_lr * (R[L.o_lrp] - R[L.o_stepc]);
  Bw[L.b_ddelta] = -du * R[L.o_lrparam];
  return lrm * next_lr + dstep;
}

// The RMS normalisation: delta = raw / rms with rms = sqrt(mean raw^2 + eps) over the tensor's m
// parameters, so d raw = (d delta - delta S / m) / rms with S = sum d delta * delta over the
// tensor. Adds the raw direction's share to dh and to the first kS features' df (df's other
// entries are set to 0); writes b_dr.
template <typename T>
L2O_HD void lsc_param_back_direction(const L2oScaleLayout& L, const T* phi, const T* R, T S, T m, T rms, T* dh, T* df,
                                     T* Bw) {
  using namespace lsc;
  const T dr = (Bw[L.b_ddelta] - R[L.o_delta] * S / m) / rms;
  for (int j = 0; j < L.H0; ++j) dh[j] += dr * phi[L.off[kUpdW] + j];
  for (int j = 0; j < kF; ++j) df[j] = j < kS ? dr * phi[L.off[kG2D] + j] : T(0);
  Bw[L.b_dr] = dr;
}

// The level-0 cell and the features, back to the state before the step: dh and df get the
// tensor mean's share of dx1 (X1: [h0_new, features]); writes the cell's dz and r*h_old to Bw
// (b_dzg, b_dzc, b_rh), the relative-lr feature's gradient to b_dlr, and the prev adjoints
// (prev_lr is added to).
template <typename T>
L2O_HD void lsc_param_back_cell(const L2oScaleLayout& L, const T* phi, const T* R, const T* tr, const T* dx1, T m,
                                const T* next_acc, const T* next_ms, T* dh, T* df, T* Bw, T* prev_h0, T* prev_acc,
                                T* prev_ms, T* prev_scl, T* prev_inp, T* prev_lr) {
  using namespace lsc;
  for (int j = 0; j < L.H0; ++j) dh[j] += dx1[j] / m;
  for (int j = 0; j < kF; ++j) df[j] += dx1[L.H0 + j] / m;
  for (int j = 0; j < L.H0; ++j) {
    prev_h0[j] = T(0);
    Bw[L.b_rh + j] = R[L.o_r + j] * R[L.o_h0p + j];
  }
  lsc_gru_backward_dz(kF, L.H0, R + L.o_f, R + L.o_h0p, phi + L.off[kG0W], phi + L.off[kC0W], R + L.o_r, R + L.o_u,
                      R + L.o_c, dh, df, prev_h0, Bw + L.b_dzg, Bw + L.b_dzc);
  // The features back to the momenta, mean squares, decays and log lr.
  const T* f = R + L.o_f;
  T ds[kS];
  for (int j = 0; j < kS; ++j) ds[j] = df[j];
  for (int j = 0; j + 1 < kS; ++j) {
    ds[j] += df[kS + j] * f[j + 1];
    ds[j + 1] += df[kS + j] * f[j];
  }
  const T dmean = (df[7] + df[8] + df[9] + df[10]) / T(kS);
  *prev_lr += df[kF - 1];
  Bw[L.b_dlr] = df[kF - 1];
  T d[kS], dd[kS], dse = 0;
  d[0] = R[L.o_inpp];
  for (int j = 1; j < kS; ++j) d[j] = sqrt(d[j - 1]);
  for (int j = 0; j < kS; ++j) {
    const T a = R[L.o_acc + j], ms = R[L.o_ms + j] + T(1e-16), q = sqrt(ms), x = a / q;
    const T dx = ds[j] / sqrt(T(1) + x * x);  // asinh'
    const T dms = next_ms[j] + (df[2 * kS - 1 + j] - dmean) / ms - T(0.5) * dx * x / ms;
    T da = next_acc[j] + dx / q;
    const bool forced = tr[L.t_forced + j] != T(0);
    const T se = forced ? T(0) : R[L.o_sclp];
    da += dms * (T(1) - se) * T(2) * a;
    if (!forced) dse += dms * (R[L.o_msp + j] - a * a - T(1e-12));
    prev_ms[j] = dms * se;
    dd[j] = da * (R[L.o_accp + j] - R[L.o_g]);
    prev_acc[j] = da * d[j];
  }
  for (int j = kS - 1; j > 0; --j)  // d_j = sqrt(d_{j-1}); at d = 0 only the constant initial state
    if (d[j] > T(0)) dd[j - 1] += dd[j] * T(0.5) / d[j];
  *prev_inp = dd[0];
  *prev_scl = dse;
}

// ---- backward, one tensor and the global level --------------------------------------------------------

// A whole cell's backward: dz, then the weight gradients into dphi's blocks gw (gates) and cw
// (candidate); dbias (3H) gets [dzg, dzc] unless null.
template <typename T>
L2O_HD void lsc_gru_backward(const L2oScaleLayout& L, const T* phi, T* dphi, int gw, int cw, int X, int H, const T* x,
                             const T* h, const T* r, const T* u, const T* c, const T* dhn, T* dx, T* dh, T* dbias) {
  T dzg[2 * lsc::kMaxHidden], dzc[lsc::kMaxHidden];
  lsc_gru_backward_dz(X, H, x, h, phi + L.off[gw], phi + L.off[cw], r, u, c, dhn, dx, dh, dzg, dzc);
  lsc_gru_weight_grads(X, H, x, h, r, dzg, dzc, dphi + L.off[gw], dphi + L.off[gw + 1], dphi + L.off[cw],
                       dphi + L.off[cw + 1], dbias);
}

// Level 2 for next_h2 = dL/dh2_new: sets dx2 (H1: dL/d of the last tensor's h1_new) and adds to
// prev_h2 and dphi.
template <typename T>
L2O_HD void lsc_global_back_level2(const L2oScaleLayout& L, const T* phi, const T* last_tr, const T* gr,
                                   const T* next_h2, T* dx2, T* prev_h2, T* dphi) {
  using namespace lsc;
  for (int j = 0; j < L.H1; ++j) dx2[j] = T(0);
  lsc_gru_backward(L, phi, dphi, kG2W, kC2W, L.H1, L.H2, last_tr + L.t_h1n, gr + L.g_h2p, gr + L.g_r, gr + L.g_u,
                   gr + L.g_c, next_h2, dx2, prev_h2, static_cast<T*>(nullptr));
}

// Level 1 of one tensor for dh1_new = next_h1 (+ dx2 for the last tensor; else dx2 null): sets dx1
// (X1) and prev_h1 (H1), adds to prev_h2 and dphi.
template <typename T>
L2O_HD void lsc_tensor_back_level1(const L2oScaleLayout& L, const T* phi, const T* tr, const T* h2_old,
                                   const T* next_h1, const T* dx2, T* dx1, T* prev_h1, T* prev_h2, T* dphi) {
  using namespace lsc;
  T dh1n[kMaxHidden], db1[3 * kMaxHidden];
  for (int j = 0; j < L.H1; ++j) {
    dh1n[j] = next_h1[j] + (dx2 ? dx2[j] : T(0));
    prev_h1[j] = T(0);
  }
  for (int j = 0; j < L.X1; ++j) dx1[j] = T(0);
  for (int j = 0; j < 3 * L.H1; ++j) db1[j] = T(0);
  lsc_gru_backward(L, phi, dphi, kG1W, kC1W, L.X1, L.H1, tr + L.t_x1, tr + L.t_h1p, tr + L.t_r, tr + L.t_u,
                   tr + L.t_c, dh1n, dx1, prev_h1, db1);
  lsc_affine_backward(L.H2, 3 * L.H1, h2_old, phi + L.off[kL1W], static_cast<const T*>(db1), prev_h2,
                      dphi + L.off[kL1W], dphi + L.off[kL1B]);
}

// The level-0 injected bias of one tensor, db0 (3H0) summed over its parameters: adds to prev_h1,
// prev_h2 and dphi.
template <typename T>
L2O_HD void lsc_tensor_back_bias(const L2oScaleLayout& L, const T* phi, const T* tr, const T* h2_old, const T* db0,
                                 T* prev_h1, T* prev_h2, T* dphi) {
  using namespace lsc;
  lsc_affine_backward(L.H1, 3 * L.H0, tr + L.t_h1p, phi + L.off[kParamW], db0, prev_h1, dphi + L.off[kParamW],
                      dphi + L.off[kParamB]);
  lsc_affine_backward(L.H2, 3 * L.H0, h2_old, phi + L.off[kGlobW], db0, prev_h2, dphi + L.off[kGlobW],
                      dphi + L.off[kGlobB]);
}

}  // namespace l2o
