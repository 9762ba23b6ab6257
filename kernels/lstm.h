// Coordinatewise LSTM optimizer ops on a block of n coordinates (rows). The CPU versions are the
// reference; CUDA twins take the same arguments. All matrices are row-major.
#pragma once
#include <cstdint>

namespace l2o {

// Preprocessing into the first columns of the layer-0 input: x(i, :) = LogAndSign(g_i) with
// k = log_k (2 features), or the raw gradient when log_k <= 0 (1 feature). Row stride `ld`.
template <typename T>
void preprocess_cpu(int64_t n, const T* g, T log_k, T* x, int64_t ld);

// One LSTM layer step. xh: (n, in+H) = [x, h_prev]; w: (in+H, 4H); b: (4H); c_prev: (n, H).
// Writes z (n, 4H) pre-activations (workspace), gates (n, 4H) post-activations, c and h (n, H).
// h may point into the next layer's or next step's xh (row stride ld_h).
template <typename T>
void lstm_layer_forward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* b, T forget_bias,
                            const T* c_prev, T* z, T* gates, T* c, T* h, int64_t ld_h);

// Backward of one LSTM layer step. dh: (n, H) total gradient on this step's h; dc: (n, H) on entry
// the gradient on c from the next step, on exit the gradient on c_prev. Writes dz (n, 4H) and
// dxh = dz w^T (n, in+H); accumulates dw += xh^T dz and db += column sums of dz.
template <typename T>
void lstm_layer_backward_cpu(int64_t n, int64_t in, int64_t H, const T* xh, const T* w, const T* gates,
                             const T* c_prev, const T* c, const T* dh, T* dc, T* dz, T* dxh, T* dw, T* db);

// Output projection u = scale * (h w + b), h: (n, H) with row stride ld_h, w: (H), b: scalar.
template <typename T>
void linear_out_forward_cpu(int64_t n, int64_t H, const T* h, int64_t ld_h, const T* w, const T* b, T scale, T* u);

// Backward: dh = scale * du w^T (n, H); accumulates dw += scale * h^T du, db += scale * sum(du).
template <typename T>
void linear_out_backward_cpu(int64_t n, int64_t H, const T* h, int64_t ld_h, const T* w, T scale, const T* du, T* dh,
                             T* dw, T* db);

}  // namespace l2o
