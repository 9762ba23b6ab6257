// FLOP and byte counts of the op families (kernels/lstm.h, kernels/optim.h, the MLP optimizee),
// for benchmarks (bench/) and floors (DESIGN.md section 6). Kept next to the kernels' declarations
// so a change to a kernel's arithmetic changes its count in the same place.
//
// Conventions:
// - A GEMM (m x k)(k x n) is 2 m n k FLOPs. Every add, multiply, divide, compare-and-select or
//   sqrt is 1 FLOP; exp, log and tanh count 1 each (the float exp is really ~20 instructions, so
//   elementwise GFLOP/s understate the instruction rate). Sigmoid = neg + exp + add + div = 4.
// - Bytes are the op's interface traffic: every input read once and every output written once
//   (read-modify-write buffers twice), at sizeof(T) each. Workspace round trips inside an op
//   (e.g. the LSTM's pre-activations z) are counted when the op's signature exposes them.
//   Parameters (w, b) are counted once per call, not once per coordinate.
// - Costs are per call of the op as declared, for n coordinates (columns).
#pragma once
#include <cstdint>
#include <vector>

namespace l2o {

struct OpCost {
  double flops = 0;
  double bytes = 0;
  double gemm_flops = 0;  // the part of flops spent in GEMMs (the floor's dominant term)
  // Float sigmoid and tanh evaluations (kernels/activation_math.h), also counted in flops. Each is
  // ~20 vector instructions and a divide, so their count, not their FLOPs, bounds the cell math.
  double sigmoids = 0, tanhs = 0;
  OpCost& operator+=(const OpCost& o) {
    flops += o.flops;
    bytes += o.bytes;
    gemm_flops += o.gemm_flops;
    sigmoids += o.sigmoids;
    tanhs += o.tanhs;
    return *this;
  }
  OpCost scaled(double s) const { return {flops * s, bytes * s, gemm_flops * s, sigmoids * s, tanhs * s}; }
  double activation_flops() const;
};

// Per-element FLOPs of the shared math (kernels/lstm_math.h).
constexpr double kSigmoidFlops = 4;
constexpr double kTanhFlops = 1;
// lstm_cell_forward_elem: 3 sigmoids, 2 tanh, forget-bias add, c = gf cp + gi gj (3), h = go tanh(c) (1).
constexpr double kLstmCellForwardFlops = 3 * kSigmoidFlops + 2 * kTanhFlops + 1 + 3 + 1;
// lstm_cell_backward_elem: tanh(c) 1, dct 5, dzi 4, dzj 4, dzf 4, dzo 4, dc 1.
constexpr double kLstmCellBackwardFlops = kTanhFlops + 5 + 4 * 4 + 1;
// log_and_sign: fabs, add, log, div, clamp (1); mul, exp(k), clamp (2).
constexpr double kLogAndSignFlops = 9;

inline double OpCost::activation_flops() const { return sigmoids * kSigmoidFlops + tanhs * kTanhFlops; }

inline double gemm_flops(double m, double n, double k) { return 2.0 * m * n * k; }

// preprocess_cpu: g (n) -> x (2, n) with LogAndSign (log_k > 0), a copy otherwise.
inline OpCost preprocess_cost(int64_t n, bool log_and_sign, int64_t elem_bytes = 4) {
  const double features = log_and_sign ? 2 : 1;
  return {log_and_sign ? kLogAndSignFlops * n : 0.0, double(elem_bytes) * n * (1 + features), 0};
}

// lstm_layer_forward_cpu: z = w^T xh (GEMM 4H x (in+H) x n), bias add, cell math.
inline OpCost lstm_layer_forward_cost(int64_t n, int64_t in, int64_t H, int64_t elem_bytes = 4) {
  const double K = double(in + H), G = 4.0 * H, N = double(n);
  OpCost c;
  c.gemm_flops = gemm_flops(G, N, K);
  c.flops = c.gemm_flops + G * N + kLstmCellForwardFlops * H * N;
  c.sigmoids = 3.0 * H * N;
  c.tanhs = 2.0 * H * N;
  // read xh, w, b, c_prev; write z, gates, c, h
  c.bytes = elem_bytes * (K * N + K * G + G + H * N + G * N + G * N + H * N + H * N);
  return c;
}

// lstm_layer_backward_cpu: cell backward, dxh = w dz and dw += xh dz^T (two GEMMs), db row sums.
inline OpCost lstm_layer_backward_cost(int64_t n, int64_t in, int64_t H, int64_t elem_bytes = 4) {
  const double K = double(in + H), G = 4.0 * H, N = double(n);
  OpCost c;
  c.gemm_flops = 2 * gemm_flops(K, N, G);
  c.flops = c.gemm_flops + kLstmCellBackwardFlops * H * N + G * N;
  c.tanhs = double(H) * N;  // tanh(c) recomputed
  // read xh, w, gates, c_prev, c, dh; dc read+write; write dz, dxh; dw, db read+write
  c.bytes = elem_bytes * (K * N + K * G + G * N + 3 * H * N + 2 * H * N + G * N + K * N + 2 * K * G + 2 * G);
  return c;
}

// linear_out_forward_cpu: u = scale (w^T h + b).
inline OpCost linear_out_forward_cost(int64_t n, int64_t H, int64_t elem_bytes = 4) {
  const double N = double(n);
  return {2.0 * H * N + 2 * N, elem_bytes * (H * N + N + H + 1), 2.0 * H * N};
}

// linear_out_backward_cpu: dh = scale w du^T, dw += scale h du, db += scale sum(du).
inline OpCost linear_out_backward_cost(int64_t n, int64_t H, int64_t elem_bytes = 4) {
  const double N = double(n);
  return {3.0 * H * N + N, elem_bytes * (H * N + N + H * N + 2 * (H + 1)), 2.0 * H * N};
}

// The LSTM layers and output of a coordinatewise LSTM learner (learners/coordinatewise_lstm.h)
// from a layer-0 input of in0 features: one step (each layer's forward, the state copies as bytes,
// the output projection), and the backward of one saved step (output backward, per layer
// dh = dh_above + dh_carry and the layer backward).
inline OpCost lstm_stack_step_cost(int64_t n, int64_t in0, const std::vector<int64_t>& hidden,
                                   int64_t elem_bytes = 4) {
  OpCost c;
  int64_t in = in0;
  for (int64_t H : hidden) {
    c += lstm_layer_forward_cost(n, in, H, elem_bytes);
    c.bytes += double(elem_bytes) * n * H * 4;  // h -> xh, c/h state copies
    in = H;
  }
  c += linear_out_forward_cost(n, in, elem_bytes);
  return c;
}

inline OpCost lstm_stack_backward_step_cost(int64_t n, int64_t in0, const std::vector<int64_t>& hidden,
                                            int64_t elem_bytes = 4) {
  OpCost c = linear_out_backward_cost(n, hidden.back(), elem_bytes);
  int64_t in = in0;
  for (int64_t H : hidden) {
    c += lstm_layer_backward_cost(n, in, H, elem_bytes);
    c.flops += double(H) * n;  // dh = dh_above + dh_carry
    c.bytes += double(elem_bytes) * n * H * 3;
    in = H;
  }
  return c;
}

inline int64_t lstm_stack_num_params(int64_t in0, const std::vector<int64_t>& hidden) {
  int64_t p = 0, in = in0;
  for (int64_t H : hidden) {
    p += (in + H) * 4 * H + 4 * H;
    in = H;
  }
  return p + in + 1;
}

// The segment backward's fixed-order sum of the per-block dphi partials.
inline OpCost block_partials_sum_cost(int64_t n, int64_t block_rows, int64_t params, int64_t elem_bytes = 4) {
  const double blocks = double((n + block_rows - 1) / block_rows), p = double(params);
  return {blocks * p, elem_bytes * (blocks * p + p), 0};
}

// L2O-DM (learners/l2o_dm.h): preprocessing, then the stack; the backward of `steps` saved steps.
inline OpCost l2o_dm_step_cost(int64_t n, const std::vector<int64_t>& hidden, bool log_and_sign,
                               int64_t elem_bytes = 4) {
  OpCost c = preprocess_cost(n, log_and_sign, elem_bytes);
  c += lstm_stack_step_cost(n, log_and_sign ? 2 : 1, hidden, elem_bytes);
  return c;
}

inline int64_t l2o_dm_num_params(const std::vector<int64_t>& hidden, bool log_and_sign) {
  return lstm_stack_num_params(log_and_sign ? 2 : 1, hidden);
}

inline OpCost l2o_dm_backward_cost(int64_t n, int64_t steps, const std::vector<int64_t>& hidden, bool log_and_sign,
                                   int64_t block_rows, int64_t elem_bytes = 4) {
  OpCost c = lstm_stack_backward_step_cost(n, log_and_sign ? 2 : 1, hidden, elem_bytes).scaled(double(steps));
  c += block_partials_sum_cost(n, block_rows, l2o_dm_num_params(hidden, log_and_sign), elem_bytes);
  return c;
}

// RNNprop (learners/rnnprop.h): moments and features (~14 FLOPs and a sqrt per coordinate, m and
// v read and written), the projection 2 -> P with ELU (one exp each), the stack from in0 = P and
// the tanh output. Backward per step: the tanh factor, the stack, and the projection's
// dz = dp ELU'(p) with its weight sums (8 FLOPs per feature); then the block partials.
inline OpCost rnnprop_step_cost(int64_t n, int64_t P, const std::vector<int64_t>& hidden, int64_t elem_bytes = 4) {
  const double N = double(n);
  OpCost c{(14.0 + 6.0 * P) * N, elem_bytes * (N + 4 * N + 2 * N + P * N), 0};
  c.tanhs = (P + 1.0) * N;  // the ELU's exp and the output tanh, counted as transcendental calls
  c += lstm_stack_step_cost(n, P, hidden, elem_bytes);
  return c;
}

inline OpCost rnnprop_backward_cost(int64_t n, int64_t steps, int64_t P, const std::vector<int64_t>& hidden,
                                    int64_t block_rows, int64_t elem_bytes = 4) {
  const double N = double(n);
  OpCost per_step = lstm_stack_backward_step_cost(n, P, hidden, elem_bytes);
  per_step += OpCost{3.0 * N + 8.0 * P * N, elem_bytes * (2.0 * N + 2.0 * P * N + 2.0 * N), 0};
  OpCost c = per_step.scaled(double(steps));
  c += block_partials_sum_cost(n, block_rows, 3 * P + lstm_stack_num_params(P, hidden), elem_bytes);
  return c;
}

// L2O-Scale (kernels/l2o_scale_ops.h), per parameter of one tensor, H0 level-0 units (the
// per-tensor and global levels are a few thousand FLOPs per tensor: left out). Forward: the 12
// features (~60 FLOPs; asinh, sqrt and log per scale counted as 4 transcendental calls each), the
// level-0 GRU on 12 + H0 inputs (gates 2H0, candidate H0 outputs), the readouts (direction, lr,
// two decays: 4 H0-dots) and the step; bytes: the state in and out (H0 + 11 values each way), g,
// u and the record written (wp = 8 H0 + 29 values). Backward: the cell's dx/dh and weight products
// (twice the forward's multiply-adds), ~150 FLOPs of feature and readout algebra; bytes: the
// record and the backward row (wb = 4 H0 + 8) read, the adjoints in and out.
inline OpCost l2o_scale_step_cost(int64_t n, int64_t H0, int64_t elem_bytes = 4) {
  const double N = double(n), H = double(H0), X = 12.0 + H;
  OpCost c{N * (60.0 + 2.0 * X * 3.0 * H + 6.0 * H + 8.0 * H + 20.0),
           elem_bytes * N * (2.0 * (H + 11.0) + 2.0 + 8.0 * H + 29.0), 0};
  c.sigmoids = N * (2.0 * H + 3.0);
  c.tanhs = N * (H + 4.0 * 4.0 + 1.0);
  return c;
}

inline OpCost l2o_scale_backward_cost(int64_t n, int64_t steps, int64_t H0, int64_t elem_bytes = 4) {
  const double N = double(n), H = double(H0), X = 12.0 + H;
  OpCost per_step{N * (2.0 * 2.0 * X * 3.0 * H + 150.0 + 8.0 * H),
                  elem_bytes * N * ((8.0 * H + 29.0) + (4.0 * H + 8.0) + 2.0 * (H + 11.0) + 2.0 * (H + 12.0)), 0};
  return per_step.scaled(double(steps));
}

// Fully connected classifier (optimizees/mlp.h): sizes = {input, hidden..., classes}, batch rows.
// Forward: per layer z = a w (GEMM) + b, activation (sigmoid cost) on hidden layers; softmax
// cross-entropy ~ 6 FLOPs per logit (max, sub, exp, sum, div, log amortised). Backward: per layer
// gw = a^T delta (GEMM), gb = column sums, and for hidden layers delta w^T (GEMM) times the
// activation derivative y (1 - y) (3 FLOPs). Bytes: theta, the gathered input rows, grad.
inline OpCost mlp_forward_cost(const std::vector<int64_t>& sizes, int64_t batch, int64_t elem_bytes = 4) {
  OpCost c;
  const double B = double(batch);
  double params = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double in = double(sizes[l]), out = double(sizes[l + 1]);
    c.gemm_flops += gemm_flops(B, out, in);
    c.flops += B * out * (l + 2 < sizes.size() ? 1 + kSigmoidFlops : 1);
    if (l + 2 < sizes.size()) c.sigmoids += B * out;  // MLP-orig's hidden layer (sigmoid)
    params += in * out + out;
  }
  c.flops += c.gemm_flops + 6 * B * double(sizes.back());
  c.bytes = elem_bytes * (params + B * double(sizes.front())) + 4 * B;  // + labels
  return c;
}

inline OpCost mlp_forward_backward_cost(const std::vector<int64_t>& sizes, int64_t batch, int64_t elem_bytes = 4) {
  OpCost c = mlp_forward_cost(sizes, batch, elem_bytes);
  const double B = double(batch);
  double params = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double in = double(sizes[l]), out = double(sizes[l + 1]);
    c.gemm_flops += gemm_flops(in, out, B);  // gw = a^T delta
    c.flops += gemm_flops(in, out, B) + B * out;
    if (l > 0) {
      c.gemm_flops += gemm_flops(B, in, out);  // delta w^T
      c.flops += gemm_flops(B, in, out) + 3 * B * in;
    }
    params += in * out + out;
  }
  c.bytes += elem_bytes * params;  // grad written
  return c;
}

inline int64_t mlp_num_params(const std::vector<int64_t>& sizes) {
  int64_t p = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) p += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return p;
}

// Elementwise optimizers (kernels/optim.h), per call over n coordinates. FLOPs per coordinate of
// the _coord math in optim_math.h; bytes: g read, state read+written, u written (adam_apply:
// param read+written instead of u).
enum class OptimOp { sgd, momentum, nag, adam, adagrad, rmsprop, adam_apply };

inline OpCost optim_cost(OptimOp op, int64_t n, int64_t elem_bytes = 4) {
  double flops = 0, arrays = 0;  // arrays: float arrays touched per coordinate (reads + writes)
  switch (op) {
    case OptimOp::sgd: flops = 1; arrays = 2; break;            // u = -lr g
    case OptimOp::momentum: flops = 3; arrays = 4; break;       // v = mu v + g; u = -lr v
    case OptimOp::nag: flops = 5; arrays = 4; break;            // + u = -lr (g + mu v)
    case OptimOp::adam: flops = 13; arrays = 6; break;          // m, v updates 7, hats 2, sqrt, add, div, mul
    case OptimOp::adagrad: flops = 7; arrays = 4; break;        // s += g^2 (2); sqrt, add, div, mul, neg
    case OptimOp::rmsprop: flops = 9; arrays = 4; break;        // s = a s + (1-a) g^2 (4); sqrt, add, div, mul, neg
    case OptimOp::adam_apply: flops = 14; arrays = 7; break;    // adam + param +=
  }
  return {flops * n, arrays * n * elem_bytes, 0};
}

}  // namespace l2o
