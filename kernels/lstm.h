// Coordinatewise LSTM optimizer ops on a block of n coordinates: the building blocks of the CPU
// backend's L2O-DM (learners/l2o_dm.cpp). They have no CUDA twins: the CUDA backend runs the fused
// whole-step ops of l2o_dm_fused.h instead, which are tested against this path.
//
// Layout: every per-coordinate array is feature-major, feature f of coordinate i at [f * n + i]
// (a (features, n) row-major matrix). The elementwise work then runs over n contiguous
// coordinates, which vectorises fully whatever the hidden size (H = 20 left a scalar tail per
// coordinate in the coordinate-major layout), and it is the layout a CUDA kernel coalesces.
#pragma once
#include <cstdint>

namespace l2o {

// Preprocessing into the first features of the layer-0 input: x (in, n) = LogAndSign(g) with
// k = log_k (2 features), or the raw gradient when log_k <= 0 (1 feature).
template <typename T>
void preprocess_cpu(int64_t n, const T* g, T log_k, T* x);

// The gates' pre-activations z (4H, n) = b + w^T xh: the forward's GEMM, register-blocked (no
// packing), the bias as the accumulators' start value. xh: (in+H, n); w: (in+H, 4H); b: (4H).
template <typename T>
void lstm_gates_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T* z);

// One LSTM layer step (lstm_gates_cpu, then the cell math). xh: (in+H, n) = [x; h_prev]; w: (in+H, 4H) row-major; b: (4H);
// c_prev: (H, n). Writes z (4H, n) pre-activations (workspace), gates (4H, n) post-activations
// [s(i); tanh(j); s(f + fb); s(o)], c and h (H, n).
template <typename T>
void lstm_layer_forward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T forget_bias,
                            const T* c_prev, T* z, T* gates, T* c, T* h);

// Backward of one LSTM layer step. dh: (H, n) total gradient on this step's h; dc: (H, n) on entry
// the gradient on c from the next step, on exit the gradient on c_prev. Writes dz (4H, n) and
// dxh = w dz (in+H, n); accumulates dw += xh dz^T and db += row sums of dz (fixed order).
template <typename T>
void lstm_layer_backward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* gates,
                             const T* c_prev, const T* c, const T* dh, T* dc, T* dz, T* dxh, T* dw, T* db);

// Output projection u = scale * (w^T h + b), h: (H, n), w: (H), b: scalar.
template <typename T>
void linear_out_forward_cpu(int64_t n, int64_t H, const T* h, const T* w, const T* b, T scale, T* u);

// Backward: dh = scale * w du^T (H, n); accumulates dw += scale * h du, db += scale * sum(du).
template <typename T>
void linear_out_backward_cpu(int64_t n, int64_t H, const T* h, const T* w, T scale, const T* du, T* dh, T* dw,
                             T* db);

}  // namespace l2o
