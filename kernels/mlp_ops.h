// Elementwise and row ops of the MLP optimizee's forward/backward (the GEMMs between them are
// Eigen on the CPU, cuBLAS on the GPU). CPU twins here are the reference for the CUDA twins in
// mlp_ops.cu, which take the same arguments on device pointers. All matrices row-major.
#pragma once
#include <cstdint>

#include "kernels/activation_math.h"

namespace l2o {

// Minibatch gather: x (rows, dim) = images[idx[r]], y (rows) = labels[idx[r]].
void gather_rows_cpu(int64_t rows, int64_t dim, const float* images, const int32_t* labels, const int32_t* idx,
                     float* x, int32_t* y);
void gather_rows_cuda(int64_t rows, int64_t dim, const float* images, const int32_t* labels, const int32_t* idx,
                      float* x, int32_t* y);

// In place on z (rows, cols): z = act(z + b), b (cols).
void bias_act_forward_cpu(int64_t rows, int64_t cols, const float* b, Activation act, float* z);
void bias_act_forward_cuda(int64_t rows, int64_t cols, const float* b, Activation act, float* z);
// In place on z (rows, cols): z += b (the logits layer: no activation).
void bias_add_cpu(int64_t rows, int64_t cols, const float* b, float* z);
void bias_add_cuda(int64_t rows, int64_t cols, const float* b, float* z);

// The same for a batch of tasks: z holds `tasks` blocks of (rows, cols), and block k adds the
// bias b + k * b_stride (the task's own theta). One launch for all tasks on CUDA.
void bias_act_forward_tasks_cpu(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride,
                                Activation act, float* z);
void bias_act_forward_tasks_cuda(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride,
                                 Activation act, float* z);
void bias_add_tasks_cpu(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride, float* z);
void bias_add_tasks_cuda(int64_t tasks, int64_t rows, int64_t cols, const float* b, int64_t b_stride, float* z);

// delta (count) *= act'(z) expressed through the activation's output a.
void act_backward_cpu(int64_t count, Activation act, const float* a, float* delta);
void act_backward_cuda(int64_t count, Activation act, const float* a, float* delta);

// Softmax cross-entropy per row of logits (rows, classes): loss_rows (rows) and
// dlogits (rows, classes) = scale * (softmax - onehot(y)).
void softmax_xent_cpu(int64_t rows, int64_t classes, const float* logits, const int32_t* y, float scale,
                      float* loss_rows, float* dlogits);
void softmax_xent_cuda(int64_t rows, int64_t classes, const float* logits, const int32_t* y, float scale,
                       float* loss_rows, float* dlogits);

// x (count) *= a.
void scale_cpu(int64_t count, float a, float* x);
void scale_cuda(int64_t count, float a, float* x);

// out[k] = a * (sum of x[k * len .. k * len + len)), each summed in index order (CUDA: one thread
// per segment, the CPU's order, so both give the same bits).
void segment_sums_cpu(int64_t segments, int64_t len, const float* x, float a, float* out);
void segment_sums_cuda(int64_t segments, int64_t len, const float* x, float a, float* out);

// out[0] = sum of x (count). The CUDA twin writes device memory (CUB's deterministic reduction);
// ws/ws_bytes: its temporary storage (query with ws = nullptr, which sets ws_bytes and returns).
void sum_cpu(int64_t count, const float* x, float* out, void* ws, size_t* ws_bytes);
void sum_cuda(int64_t count, const float* x, float* out, void* ws, size_t* ws_bytes);

}  // namespace l2o
