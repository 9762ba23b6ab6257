// Fused RNNprop ops: one optimizer step over all coordinates (moments, input projection, both
// LSTM layers, tanh output, optional theta += u), and the segment backward (per-coordinate BPTT,
// then the weight gradients as reductions over coordinates x steps). The CPU twins are the oracle
// of the CUDA twins (rnnprop_fused.cu, same arguments on device pointers) and are themselves
// tested against the CPU backend's blocked learner (learners/rnnprop.h). Per-coordinate math:
// rnnprop_fused_math.h.
#pragma once
#include <cstdint>

#include "kernels/rnnprop_fused_math.h"

namespace l2o {

struct RnnpropFusedShape {
  int64_t n = 0;      // coordinates
  int64_t slots = 1;  // saved steps the buffers hold
  int P = 20, H0 = 20, H1 = 20;
  double beta1 = 0.95, beta2 = 0.95, eps = 1e-8, forget_bias = 1.0, output_scale = 0.01;

  template <typename T>
  RnnpropDims<T> dims() const;
  int64_t num_params() const { return dims<float>().num_params(); }
  int64_t state_size() const { return dims<float>().state_rows() * n; }
  int64_t saved_size() const { return dims<float>().saved_rows() * slots * n; }
  // Backward workspace rows (each slots * n): dzp (P), dz0 (4 H0), dz1 (4 H1), dout, ones.
  int64_t workspace_size() const { return (P + 4 * (H0 + H1) + 2) * slots * n; }
};

template <typename T>
RnnpropDims<T> RnnpropFusedShape::dims() const {
  RnnpropDims<T> d;
  d.P = P;
  d.H0 = H0;
  d.H1 = H1;
  d.beta1 = static_cast<T>(beta1);
  d.beta2 = static_cast<T>(beta2);
  d.eps = static_cast<T>(eps);
  d.forget_bias = static_cast<T>(forget_bias);
  d.scale = static_cast<T>(output_scale);
  d.n = n;
  d.ld = slots * n;
  return d;
}

// Throws Error unless the shape fits (P, H0, H1 in 1..kFusedMaxHidden, n, slots >= 1).
void check_rnnprop_shape(const RnnpropFusedShape& s);

// u (n) = the update for gradient g (n); advances state (state_size) and the step count *t (the
// steps since the moments were reset; host memory for the CPU twin, device memory for the CUDA
// twin, so that a captured CUDA graph replays with the current count). With saved non-null, keeps
// the step's activations in column block `slot` of saved. theta += u if non-null.
template <typename T>
void rnnprop_fused_step_cpu(const RnnpropFusedShape& s, int64_t* t, const T* phi, const T* g, T* state, T* saved,
                            int64_t slot, T* u, T* theta);
void rnnprop_fused_step_cuda(const RnnpropFusedShape& s, int64_t* t, const float* phi, const float* g, float* state,
                             float* saved, int64_t slot, float* u, float* theta);

// dphi (num_params) = gradient of sum_t <dl_du_t, u_t> over the `steps` saved steps (truncated
// BPTT from the segment start, whose state c_init is a constant). dl_du: (steps, n). ws:
// workspace_size values. dphi is overwritten.
template <typename T>
void rnnprop_fused_backward_cpu(const RnnpropFusedShape& s, const T* phi, int64_t steps, const T* saved,
                                const T* c_init, const T* dl_du, T* ws, T* dphi);
void rnnprop_fused_backward_cuda(const RnnpropFusedShape& s, const float* phi, int64_t steps, const float* saved,
                                 const float* c_init, const float* dl_du, float* ws, float* dphi);

// FLOPs per coordinate of one step and of one backward step (a multiply-add counts 2).
double rnnprop_fused_step_flops(const RnnpropFusedShape& s);
double rnnprop_fused_backward_flops(const RnnpropFusedShape& s);

}  // namespace l2o
