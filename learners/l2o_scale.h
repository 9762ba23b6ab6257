// L2O-Scale (Wichrowska et al. 2017) as the authors of Chen et al. 2020 train it: the
// HierarchicalRNN of their L2O-Scale/l2o-scale-regularize-train/optimizer/hierarchical_rnn.py
// with the flags of their metarun.py (docs/l2o_scale.md has the derivation with file:line).
//
// Three BiasGRU levels: per parameter (hidden[0]), per tensor (hidden[1]), global (hidden[2]).
// Per parameter, 12 inputs: 4 RMS-normalised momenta at learned timescales (asinh-squashed), their
// 3 neighbour products, 4 relative log mean squares, the log learning rate relative to the
// problem's mean. The update is -exp(step_log_lr + offset) * delta, with delta a readout of the
// level-0 state plus a gradient shortcut, RMS-normalised per tensor, and the log learning rate a
// per-parameter state with learned momentum. The level-1 and level-2 states enter the lower
// levels as injected GRU biases; the global level reads the last tensor's state only (as the
// code does). The optimizee's tensors come from set_tensor_sizes() (one tensor of n without it).
// The step and backward are kernels/l2o_scale_ops.h's CPU ops; the CUDA twin of this learner
// (l2o_scale_cuda.cu) runs their CUDA twins on device copies of the same state.
//
// Deviation (documented in docs/fidelity.md): the initial log learning rates, unseeded random in
// the authors' code, are drawn from Rng(lr_init_seed, kStreamLearnerState) at every zero_state(),
// so every run starts from the same draw. The state entering a segment, including the initial
// state built from phi's init vectors, is a constant (the authors' init vectors get no
// meta-gradient either: their state is assigned to slot variables).
#pragma once
#include <vector>

#include "kernels/l2o_scale_ops.h"
#include "learners/learner.h"

namespace l2o {

struct L2oScaleConfig {
  std::vector<int64_t> hidden = {10, 20, 20};  // HRNN_CELL_SIZES (metarun.py:240)
  double min_lr = 1e-6, max_lr = 1e-2;         // init_lr_range
  double max_log_lr = 33;
  uint64_t lr_init_seed = 0;  // ours: the initial learning rates' draw
  // Initialisers: the authors' flag values (hierarchical_rnn.py:32-56).
  double biasgrucell_scale = 0.5, biasgrucell_gate_bias_init = 2.2, hrnn_rnn_readout_scale = 0.5;
  double hrnn_default_decay_var_init = 2.2, scale_decay_bias_init = 3.2, learning_rate_momentum_logit_init = 3.2;
  double hrnn_affine_scale = 0.5, param_stepsize_offset_init = -1.0;
};

// Parameter blocks in phi order, named as the authors' variables without the "LOL/" scope.
std::vector<ParamBlock> l2o_scale_param_blocks(const L2oScaleConfig& cfg);

template <typename T>
class L2oScale : public LearnerT<T> {
 public:
  static constexpr int kScales = lsc::kS;          // num_gradient_scales
  static constexpr int kFeatures = lsc::kF;        // 4 scaled momenta, 3 products, 4 log ms, relative lr
  static constexpr int kMaxHidden = lsc::kMaxHidden;

  explicit L2oScale(L2oScaleConfig cfg);
  std::string type() const override { return "l2o_scale"; }
  const L2oScaleConfig& config() const { return cfg_; }
  int64_t num_params() const override { return num_params_; }
  const std::vector<ParamBlock>& param_blocks() const override { return blocks_; }
  void init_params(uint64_t seed, T* phi) const override;
  // Per parameter and saved step: its record and its backward row.
  int64_t saved_floats_per_coordinate_step() const override { return layout_.wp + layout_.wb; }
  void set_tensor_sizes(const std::vector<int64_t>& sizes) override;
  void reset(int64_t n, int64_t max_steps) override;
  void zero_state() override;
  void begin_segment() override { saved_ = 0; }
  void step(const T* phi, const T* g, T* u, bool save) override;
  int64_t saved_steps() const override { return saved_; }
  void backward(const T* phi, const T* dl_du, T* dphi) override;
  bool can_carry_state() const override { return true; }
  // h0, momenta, mean squares, decays and log lr per parameter, then h1 per tensor and h2.
  std::vector<T> carried_state() const override;
  void set_carried_state(const std::vector<T>& state, const std::string& origin) override;

  // For the CUDA twin (learners/l2o_scale_cuda.cu), which keeps its state on the device: the ops'
  // shape (offsets on the host), the host state, and the initial state built from phi into it.
  const L2oScaleShape& shape() const { return shape_; }
  const std::vector<int64_t>& tensor_offsets() const { return offs_; }
  std::vector<T>& host_state() { return state_; }
  void build_initial_state(const T* phi);
  bool fresh() const { return fresh_; }

  // The learner's per-parameter log learning rates (for tests).
  std::vector<T> log_lr() const { return std::vector<T>(st_.lr, st_.lr + n_); }

 private:
  L2oScaleConfig cfg_;
  std::vector<ParamBlock> blocks_;
  int64_t num_params_ = 0;
  L2oScaleLayout layout_;
  L2oScaleShape shape_;
  std::vector<int64_t> sizes_, offs_;  // tensors: sizes; tensors + 1 start offsets
  bool sizes_given_ = false;
  std::vector<T> state_, records_, ws_;  // l2o_scale_ops.h: state, step records, backward workspace
  L2oScaleState<T> st_{};
  bool fresh_ = true;  // the state waits for build_initial_state(phi)
  int64_t n_ = 0, slots_ = 0, saved_ = 0;
};

}  // namespace l2o
