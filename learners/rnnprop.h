// RNNprop (Lv et al. 2017) as the authors of docs/fidelity.md train it: per-coordinate Adam
// moments (beta1 = beta2 = 0.95, bias-corrected by the step count since the last zero_state())
// feed m^/(sqrt(v^) + eps) and g/(sqrt(v^) + eps) through Linear(2 -> P) + ELU, two LSTM layers
// and Linear(H1 -> 1), then u = scale * tanh(o) (REFERENCE.md section 8).
//
// Three implementations, as for L2O-DM: this class (coordinatewise_lstm.h's blocked CPU path
// with the moments and the projection as its input stage) is the CPU backend, checked against
// finite differences in double; the fused CPU twins (kernels/rnnprop_fused.h) are the oracle of
// the CUDA kernels, tested against this class; the CUDA backend (rnnprop_cuda.cu) runs the fused
// CUDA twins on the same per-coordinate code.
#pragma once
#include "kernels/rnnprop_fused.h"
#include "learners/coordinatewise_lstm.h"

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
class Rnnprop : public CoordinatewiseLstm<T> {
 public:
  explicit Rnnprop(RnnpropConfig cfg);
  std::string type() const override { return "rnnprop"; }
  const RnnpropConfig& config() const { return cfg_; }
  void init_params(uint64_t seed, T* phi) const override { rnnprop_init_params(cfg_, seed, phi); }

 protected:
  void input_reset(int64_t n, int64_t slots, int64_t blocks) override;
  void input_zero_state() override;
  void input_step() override;
  // Moments -> features [m^/(sqrt(v^) + eps), g/(sqrt(v^) + eps)] -> ELU(Wp^T x + bp).
  void input_forward(const T* phi, const T* g, int64_t blk, int64_t r0, int64_t nb, int64_t slot, bool save,
                     T* x) override;
  void input_backward(const T* phi, int64_t blk, int64_t r0, int64_t nb, int64_t t, const T* x, const T* dx,
                      T* dphi_block) override;
  int64_t input_saved_floats() const override { return 2; }

 private:
  RnnpropConfig cfg_;
  RnnpropDims<T> d_;
  std::vector<T> m_, v_;          // (n) moments
  std::vector<T> feats_;          // (slots, n, 2) saved features, block regions feature-major
  std::vector<std::vector<T>> scratch_;  // per block: unsaved features (2, kBlockRows)
  int64_t t_ = 0;                 // steps since the moments were reset
  T bc1_ = T(1), bc2_ = T(1);     // this step's bias corrections
};

}  // namespace l2o
