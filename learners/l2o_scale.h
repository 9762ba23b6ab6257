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
//
// Deviation (documented in docs/fidelity.md): the initial log learning rates, unseeded random in
// the authors' code, are drawn from Rng(lr_init_seed, kStreamLearnerState) at every zero_state(),
// so every run starts from the same draw. The state entering a segment, including the initial
// state built from phi's init vectors, is a constant (the authors' init vectors get no
// meta-gradient either: their state is assigned to slot variables).
#pragma once
#include <vector>

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
  static constexpr int kScales = 4;                  // num_gradient_scales
  static constexpr int kFeatures = 3 * kScales;      // 4 scaled momenta, 3 products, 4 log ms, relative lr
  static constexpr int kMaxHidden = 64;              // per level (stack buffers in the GRU loops)

  explicit L2oScale(L2oScaleConfig cfg);
  std::string type() const override { return "l2o_scale"; }
  const L2oScaleConfig& config() const { return cfg_; }
  int64_t num_params() const override { return num_params_; }
  const std::vector<ParamBlock>& param_blocks() const override { return blocks_; }
  void init_params(uint64_t seed, T* phi) const override;
  int64_t saved_floats_per_coordinate_step() const override { return wp_; }
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

  // The learner's per-parameter log learning rates (for tests).
  const std::vector<T>& log_lr() const { return lr_; }

 private:
  const T* P(const T* phi, int b) const { return phi + blocks_[b].offset; }
  void init_state(const T* phi);
  // One tensor's forward (rows [o, o + m)) at `slot`; writes u.
  void tensor_forward(const T* phi, int64_t k, const T* g, T mean_lr, int64_t slot, T* u);

  L2oScaleConfig cfg_;
  std::vector<ParamBlock> blocks_;
  int64_t num_params_ = 0;
  int H0_, H1_, H2_, X1_;  // hidden sizes; level-1 input width H0 + 12
  // Per-parameter record of one step (width wp_): previous state, activations, new state.
  int64_t wp_ = 0, o_h0p_, o_accp_, o_msp_, o_sclp_, o_inpp_, o_lrp_, o_g_, o_f_, o_r_, o_u_, o_c_, o_h0n_, o_acc_, o_ms_,
          o_delta_, o_lrparam_, o_stepc_, o_scln_, o_inpn_;
  // Per-tensor record (width wt_) and global record (width wg_).
  int64_t wt_ = 0, t_h1p_, t_x1_, t_b1_, t_r_, t_u_, t_c_, t_h1n_, t_b0_, t_rms_, t_forced_;
  int64_t wg_ = 0, g_h2p_, g_r_, g_u_, g_c_, g_h2n_, g_meanlr_;

  std::vector<int64_t> sizes_, offs_;  // tensors: sizes and start offsets
  bool sizes_given_ = false;
  // State carried across steps and segments.
  std::vector<T> h0_, acc_, ms_, scl_, inp_, lr_;  // (n, H0), (n, 4), (n, 4), (n), (n), (n)
  std::vector<T> h1_, h2_;                          // (tensors, H1), (H2)
  bool fresh_ = true;                               // the state waits for init_state(phi)
  // Saved steps: slots_ saved slots, then one scratch slot for unsaved steps.
  std::vector<T> rec_p_, rec_t_, rec_g_;
  int64_t n_ = 0, slots_ = 0, saved_ = 0;
};

}  // namespace l2o
