// RNNprop (Lv et al. 2017) as the authors of docs/fidelity.md train it: per-coordinate Adam
// moments (beta1 = beta2 = 0.95, bias-corrected by the step count since the last zero_state())
// feed m^/(sqrt(v^) + eps) and g/(sqrt(v^) + eps) through Linear(2 -> P) + ELU, two LSTM layers
// and Linear(H1 -> 1), then u = scale * tanh(o) (REFERENCE.md section 8).
//
// The CPU backend runs the fused CPU twins of kernels/rnnprop_fused.h (a parallel loop over
// coordinates), checked against finite differences in double; the CUDA backend
// (rnnprop_cuda.cu) runs their CUDA twins on the same per-coordinate code.
#pragma once
#include "kernels/rnnprop_fused.h"
#include "learners/learner.h"

namespace l2o {

struct RnnpropConfig {
  int64_t projection = 20;  // P: input_projection's width
  std::vector<int64_t> hidden = {20, 20};
  double beta1 = 0.95, beta2 = 0.95, eps = 1e-8;
  double output_scale = 0.01;
  double forget_bias = 1.0;
};

// The fused ops' shape for this config over n coordinates and `slots` saved steps.
RnnpropFusedShape rnnprop_shape(const RnnpropConfig& cfg, int64_t n, int64_t slots);
// Parameter blocks in phi order, named as the checkpoints and the authors' variables name them.
std::vector<ParamBlock> rnnprop_param_blocks(const RnnpropConfig& cfg);
// Sonnet's initialisers: truncated normal, stddev 1/sqrt(fan_in), for every weight; zero biases.
template <typename T>
void rnnprop_init_params(const RnnpropConfig& cfg, uint64_t seed, T* phi);

template <typename T>
class Rnnprop : public LearnerT<T> {
 public:
  explicit Rnnprop(RnnpropConfig cfg);
  std::string type() const override { return "rnnprop"; }
  const RnnpropConfig& config() const { return cfg_; }
  int64_t num_params() const override { return shape_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return blocks_; }
  void init_params(uint64_t seed, T* phi) const override { rnnprop_init_params(cfg_, seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override;
  void reset(int64_t n, int64_t max_steps) override;
  void zero_state() override;
  void begin_segment() override;
  void step(const T* phi, const T* g, T* u, bool save) override;
  int64_t saved_steps() const override { return saved_; }
  void backward(const T* phi, const T* dl_du, T* dphi) override;

 private:
  RnnpropConfig cfg_;
  std::vector<ParamBlock> blocks_;
  RnnpropFusedShape shape_;
  std::vector<T> state_, c_init_, saved_buf_, ws_;
  int64_t saved_ = 0, t_ = 0;  // t_: steps since zero_state(), for the bias correction
};

}  // namespace l2o
