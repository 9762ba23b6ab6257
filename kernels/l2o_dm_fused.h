// Fused two-layer L2O-DM ops: one optimizer step over all coordinates in one pass
// (preprocessing, both LSTM layers, output projection, optional theta += u), and the segment
// backward (per-coordinate BPTT, then weight gradients as reductions over coordinates x steps).
// The CPU twins are the reference; the CUDA twins (l2o_dm_fused.cu) take the same arguments, on
// device pointers. Per-coordinate math: l2o_dm_fused_math.h.
//
// Bytes per coordinate per saved step (float, H0 = H1 = 20, LogAndSign): saved rows
// (in+H0) + (H0+H1) + H0 + H1 + H1 = 122 floats = 488 B, and the backward workspace holds dz,
// 4 (H0 + H1) = 160 floats = 640 B. A 20-step segment on MLP-orig (15,910 coordinates) thus
// keeps 155 MB of activations and 204 MB of dz; dz is kept whole so that each layer's weight
// gradient is a single GEMM over all coordinates x steps (deterministic, no atomics).
#pragma once
#include <cstdint>

#include "kernels/l2o_dm_fused_math.h"

namespace l2o {

struct L2oDmFusedShape {
  int64_t n = 0;      // coordinates
  int64_t slots = 1;  // saved steps the buffers hold
  int in = 2, H0 = 20, H1 = 20;
  double log_k = 5.0, forget_bias = 1.0, output_scale = 0.01;

  template <typename T>
  FusedDims<T> dims() const {
    FusedDims<T> d;
    d.in = in;
    d.H0 = H0;
    d.H1 = H1;
    d.log_k = static_cast<T>(log_k);
    d.forget_bias = static_cast<T>(forget_bias);
    d.scale = static_cast<T>(output_scale);
    d.n = n;
    d.ld = slots * n;
    return d;
  }
  int64_t num_params() const { return dims<float>().num_params(); }
  int64_t state_size() const { return dims<float>().state_rows() * n; }
  int64_t saved_size() const { return dims<float>().saved_rows() * slots * n; }
  // Backward workspace: dz0 (4 H0, ld), dz1 (4 H1, ld), a vector of ones (ld).
  int64_t workspace_size() const { return (4 * (H0 + H1) + 1) * slots * n; }
};

// Throws Error unless the shape fits the fused ops (in 1 or 2, hidden sizes 1..kFusedMaxHidden, n >= 1).
void check_fused_shape(const L2oDmFusedShape& s);
// The preconditions both twins share: the shape, and the slot (when saving) or the step count.
void check_fused_step_args(const L2oDmFusedShape& s, bool saving, int64_t slot);
void check_fused_backward_args(const L2oDmFusedShape& s, int64_t steps);

// u (n) = the update for gradient g (n); advances state (state_size). With saved non-null, keeps
// the step's activations in column block `slot` of saved (saved_size). theta (n), when non-null,
// gets theta += u.
template <typename T>
void l2o_dm_fused_step_cpu(const L2oDmFusedShape& s, const T* phi, const T* g, T* state, T* saved, int64_t slot,
                           T* u, T* theta);
void l2o_dm_fused_step_cuda(const L2oDmFusedShape& s, const float* phi, const float* g, float* state, float* saved,
                            int64_t slot, float* u, float* theta);

// dphi (num_params) = gradient of sum_t <dl_du_t, u_t> over the `steps` saved steps (truncated
// BPTT from the segment start, whose state c_init (state_size) is a constant). dl_du: (steps, n).
// ws: workspace_size values. dphi is overwritten.
template <typename T>
void l2o_dm_fused_backward_cpu(const L2oDmFusedShape& s, const T* phi, int64_t steps, const T* saved,
                               const T* c_init, const T* dl_du, T* ws, T* dphi);
void l2o_dm_fused_backward_cuda(const L2oDmFusedShape& s, const float* phi, int64_t steps, const float* saved,
                                const float* c_init, const float* dl_du, float* ws, float* dphi);

// FLOPs of one fused step per coordinate (forward) and of one backward step per coordinate
// (recompute + BPTT + weight-gradient GEMMs), counting a multiply-add as 2.
double l2o_dm_fused_step_flops(const L2oDmFusedShape& s);
double l2o_dm_fused_backward_flops(const L2oDmFusedShape& s);

}  // namespace l2o
