// L2O-Scale's step and segment backward over a whole problem (all tensors), as CPU ops and their
// CUDA twins with the same arguments (l2o_scale_cpu.cpp, l2o_scale.cu; pointers on the op's
// device). The per-parameter, per-tensor and global pieces are l2o_scale_math.h's; the CUDA twin
// runs them as per-parameter kernels between deterministic per-tensor reductions, one thread for
// each tensor's and the global level, and takes the level-0 and readout weight gradients as sums
// of products over parameters and steps. learners/l2o_scale.h is the CPU learner over these ops.
#pragma once
#include <cstdint>

#include "kernels/l2o_scale_math.h"

namespace l2o {

struct L2oScaleShape {
  L2oScaleLayout L;
  int64_t n = 0;              // parameters
  int tensors = 0;
  int64_t slots = 0;          // saved steps; slot `slots` is the scratch record of an unsaved step
  const int64_t* offs = nullptr;  // tensors + 1 offsets (the last is n), on the op's device

  int64_t state_size() const { return n * (L.H0 + 2 * lsc::kS + 3) + tensors * L.H1 + L.H2; }
  int64_t records_size() const { return (slots + 1) * (n * L.wp + tensors * L.wt + L.wg); }
  // Backward workspace: two adjoint sets (state_size each), dh (n H0), df (n kF), the backward rows
  // (slots n wb), per tensor dx1 (X1), db0 (3 H0) and S, then dx2 (H1), the lr-mean gradient and
  // the lr-momentum gradient.
  int64_t workspace_size() const {
    return 2 * state_size() + n * (L.H0 + lsc::kF) + slots * n * L.wb + tensors * (L.X1 + 3 * L.H0 + 1) + L.H1 + 2;
  }
};

// The state (state_size values, in this order) and the step records (records_size values).
template <typename T>
struct L2oScaleState {
  T *h0, *acc, *ms, *scl, *inp, *lr;  // (n, H0), (n, kS), (n, kS), n, n, n
  T *h1, *h2;                         // (tensors, H1), (H2)
  T *rec_p, *rec_t, *rec_g;           // per slot: (n, wp), (tensors, wt), (wg)
};

// Points an L2oScaleState into `state` (state_size) and `records` (records_size; null for an
// adjoint set, which has the state's layout).
template <typename T>
L2oScaleState<T> l2o_scale_state_view(const L2oScaleShape& s, T* state, T* records) {
  L2oScaleState<T> v;
  const int64_t n = s.n;
  v.h0 = state;
  v.acc = v.h0 + n * s.L.H0;
  v.ms = v.acc + n * lsc::kS;
  v.scl = v.ms + n * lsc::kS;
  v.inp = v.scl + n;
  v.lr = v.inp + n;
  v.h1 = v.lr + n;
  v.h2 = v.h1 + s.tensors * s.L.H1;
  v.rec_p = v.rec_t = v.rec_g = nullptr;  // an adjoint set has no records
  if (records) {
    v.rec_p = records;
    v.rec_t = v.rec_p + (s.slots + 1) * n * s.L.wp;
    v.rec_g = v.rec_t + (s.slots + 1) * s.tensors * s.L.wt;
  }
  return v;
}

// Throws Error unless the shape is consistent (levels of 1..kMaxHidden units, n, tensors >= 1).
void check_l2o_scale_shape(const L2oScaleShape& s);

// u (n) = the update for gradient g (n); advances the state; keeps the step's record in `slot`
// (0..slots; slots = the scratch record of a step not saved for backward).
template <typename T>
void l2o_scale_step_cpu(const L2oScaleShape& s, const T* phi, const T* g, const L2oScaleState<T>& st, int64_t slot,
                        T* u);
void l2o_scale_step_cuda(const L2oScaleShape& s, const float* phi, const float* g, const L2oScaleState<float>& st,
                         int64_t slot, float* u);

// dphi (overwritten) = gradient of sum_t <dl_du_t, u_t> over the records of slots 0..steps-1
// (truncated BPTT: the state entering slot 0 is a constant). dl_du: (steps, n); ws:
// workspace_size values.
template <typename T>
void l2o_scale_backward_cpu(const L2oScaleShape& s, const T* phi, int64_t steps, const L2oScaleState<T>& st,
                            const T* dl_du, T* ws, T* dphi);
void l2o_scale_backward_cuda(const L2oScaleShape& s, const float* phi, int64_t steps,
                             const L2oScaleState<float>& st, const float* dl_du, float* ws, float* dphi);

}  // namespace l2o
