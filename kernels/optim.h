// Hand-designed optimizer ops over n coordinates. Each writes the additive update u
// (theta += u) and advances its state buffers in place; the _cuda twins (optim.cu) take the
// same arguments in the same order. All buffers have length n; state starts at zero.
#pragma once
#include <cstdint>

namespace l2o {

void sgd_update_cpu(int64_t n, const float* g, float* u, float lr);
// nesterov=false: heavy ball (PyTorch momentum); true: PyTorch nesterov=True.
void momentum_update_cpu(int64_t n, const float* g, float* vel, float* u, float lr, float mu, bool nesterov);
// t: 1-based step number, for bias correction.
void adam_update_cpu(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                     float eps, int64_t t);
void adagrad_update_cpu(int64_t n, const float* g, float* s, float* u, float lr, float eps);
void rmsprop_update_cpu(int64_t n, const float* g, float* s, float* u, float lr, float alpha, float eps);

// Meta-optimizer step: Adam applied in place (param += u), for the learner's own parameters.
void adam_apply_cpu(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                    float eps, int64_t t);

// TensorFlow 1 forms (optim_math.h). State starts as TF starts it: Adam's m, v at 0, Adagrad's
// accumulator at kAdagradTfInitAcc, RMSProp's ms at kRmspropTfInitMs; the caller fills it.
void adam_tf_update_cpu(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                        float eps, int64_t t);
void adagrad_tf_update_cpu(int64_t n, const float* g, float* acc, float* u, float lr);
void rmsprop_tf_update_cpu(int64_t n, const float* g, float* ms, float* u, float lr, float decay, float eps);
void adam_tf_apply_cpu(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                       float eps, int64_t t);

// CUDA twins (optim.cu): the same arguments, on device pointers (hyperparameters and t by value).
void sgd_update_cuda(int64_t n, const float* g, float* u, float lr);
void momentum_update_cuda(int64_t n, const float* g, float* vel, float* u, float lr, float mu, bool nesterov);
void adam_update_cuda(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                      float eps, int64_t t);
void adagrad_update_cuda(int64_t n, const float* g, float* s, float* u, float lr, float eps);
void rmsprop_update_cuda(int64_t n, const float* g, float* s, float* u, float lr, float alpha, float eps);
void adam_apply_cuda(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                     float eps, int64_t t);

void adam_tf_update_cuda(int64_t n, const float* g, float* m, float* v, float* u, float lr, float b1, float b2,
                         float eps, int64_t t);
void adagrad_tf_update_cuda(int64_t n, const float* g, float* acc, float* u, float lr);
void rmsprop_tf_update_cuda(int64_t n, const float* g, float* ms, float* u, float lr, float decay, float eps);
void adam_tf_apply_cuda(int64_t n, float* param, const float* g, float* m, float* v, float lr, float b1, float b2,
                        float eps, int64_t t);

// Bias-correction denominators 1 - b^t, computed in double so large t stays accurate.
void adam_bias_corrections(float b1, float b2, int64_t t, float* bc1, float* bc2);
// TF Adam's step size lr sqrt(1 - b2^t) / (1 - b1^t), in double, rounded once.
float adam_tf_lr(float lr, float b1, float b2, int64_t t);

}  // namespace l2o
