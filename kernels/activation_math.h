// Per-element activation functions and their derivatives, shared by CPU and CUDA code.
#pragma once
#include <cmath>

#include "kernels/common.h"

namespace l2o {

enum class Activation { sigmoid, relu, tanh };

template <typename T>
L2O_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <typename T>
L2O_HD T activate(Activation a, T z) {
  switch (a) {
    case Activation::sigmoid: return sigmoid(z);
    case Activation::relu: return z > T(0) ? z : T(0);
    default: return tanh(z);
  }
}

// Derivative expressed through the activation's output y = act(z) (what the forward pass keeps).
template <typename T>
L2O_HD T activate_grad_from_output(Activation a, T y) {
  switch (a) {
    case Activation::sigmoid: return y * (T(1) - y);
    case Activation::relu: return y > T(0) ? T(1) : T(0);
    default: return T(1) - y * y;
  }
}

}  // namespace l2o
