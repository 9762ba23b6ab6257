// Per-coordinate update math for the hand-designed optimizers, shared by the CPU loops
// (optim_cpu.cpp) and the CUDA kernels (optim.cu) so both do exactly the same arithmetic.
// Every function returns the additive update u (theta += u) and advances its state in place.
// Two families: PyTorch's torch.optim (no weight decay, no dampening) and TensorFlow 1's
// tf.train optimizers (the *_tf functions), which the authors' teachers and meta-optimizer use
// (docs/fidelity.md). SGD and both momentum forms are the same in the two.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace l2o {

// Defaults shared by the CPU ops, the UpdateRule wrappers and the spec parser.
constexpr float kAdamBeta1 = 0.9f;
constexpr float kAdamBeta2 = 0.999f;
constexpr float kAdamEps = 1e-8f;
constexpr float kAdagradEps = 1e-10f;
constexpr float kRmspropAlpha = 0.99f;
constexpr float kRmspropEps = 1e-8f;
constexpr float kMomentum = 0.9f;
constexpr float kAdagradTfInitAcc = 0.1f;  // tf.train.AdagradOptimizer's initial_accumulator_value
constexpr float kRmspropTfDecay = 0.9f;    // tf.train.RMSPropOptimizer: decay, epsilon, and ms
constexpr float kRmspropTfEps = 1e-10f;    // starting at ones
constexpr float kRmspropTfInitMs = 1.0f;

L2O_HD float sgd_coord(float g, float lr) { return -lr * g; }

// Heavy ball (PyTorch momentum): v = mu v + g; u = -lr v.
L2O_HD float momentum_coord(float g, float& v, float lr, float mu) {
  v = mu * v + g;
  return -lr * v;
}

// PyTorch nesterov=True: same buffer, but the step looks ahead: u = -lr (g + mu v).
L2O_HD float nag_coord(float g, float& v, float lr, float mu) {
  v = mu * v + g;
  return -lr * (g + mu * v);
}

// bc1 = 1 - b1^t and bc2 = 1 - b2^t are computed once per step by the caller (t is 1-based).
L2O_HD float adam_coord(float g, float& m, float& v, float lr, float b1, float b2, float eps, float bc1,
                        float bc2) {
  m = b1 * m + (1.0f - b1) * g;
  v = b2 * v + (1.0f - b2) * g * g;
  const float m_hat = m / bc1;
  const float v_hat = v / bc2;
  return -lr * m_hat / (sqrtf(v_hat) + eps);
}

// PyTorch Adagrad with initial accumulator 0 and no lr decay.
L2O_HD float adagrad_coord(float g, float& s, float lr, float eps) {
  s += g * g;
  return -lr * g / (sqrtf(s) + eps);
}

// PyTorch RMSprop (not centered, no momentum).
L2O_HD float rmsprop_coord(float g, float& s, float lr, float alpha, float eps) {
  s = alpha * s + (1.0f - alpha) * g * g;
  return -lr * g / (sqrtf(s) + eps);
}

// TF's ApplyAdam: moments in the "m += (g - m)(1 - b1)" form and the "epsilon hat" step, with
// lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) computed once per step by the caller (adam_tf_lr).
L2O_HD float adam_tf_coord(float g, float& m, float& v, float lr_t, float b1, float b2, float eps) {
  m += (g - m) * (1.0f - b1);
  v += (g * g - v) * (1.0f - b2);
  return -(m * lr_t) / (sqrtf(v) + eps);
}

// TF's ApplyAdagrad: the accumulator starts at kAdagradTfInitAcc (set by the caller), no epsilon.
L2O_HD float adagrad_tf_coord(float g, float& acc, float lr) {
  acc += g * g;
  return -g * lr / sqrtf(acc);
}

// TF's ApplyRMSProp without momentum: ms starts at kRmspropTfInitMs, epsilon inside the root.
L2O_HD float rmsprop_tf_coord(float g, float& ms, float lr, float decay, float eps) {
  ms += (g * g - ms) * (1.0f - decay);
  return -g * lr / sqrtf(ms + eps);
}

// TF's ApplyRMSProp with its momentum slot (the authors' L2O-Scale meta-optimizer): mom =
// momentum mom + lr g / sqrt(ms + eps), theta -= mom. With momentum 0 this is rmsprop_tf_coord.
L2O_HD float rmsprop_tf_momentum_coord(float g, float& ms, float& mom, float lr, float decay, float momentum,
                                       float eps) {
  ms += (g * g - ms) * (1.0f - decay);
  mom = momentum * mom + g * lr / sqrtf(ms + eps);
  return -mom;
}

}  // namespace l2o
