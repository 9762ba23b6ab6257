// L2O-DM (Andrychowicz et al. 2016): LogAndSign -> LSTM(20) -> LSTM(20) -> Linear(1) -> x 0.01,
// applied to every coordinate (REFERENCE.md section 1). Coordinates are processed in fixed-size
// blocks, in parallel; per-block weight-gradient partials are summed in block order, so dphi is
// bit-identical whatever the thread count.
//
// Three implementations of the same learner, and what each is for:
// - this class (with the kernels/lstm.h ops): the CPU backend, what l2o_train runs on the CPU;
//   checked against finite differences in double;
// - the fused CPU twins (kernels/l2o_dm_fused_cpu.cpp): the oracle for the CUDA kernels, run by
//   the GPU tests; themselves tested against this class;
// - the fused CUDA kernels (kernels/l2o_dm_fused.cu, wrapped by learners/l2o_dm_cuda.cu): the
//   CUDA backend.
#pragma once
#include "kernels/l2o_dm_fused.h"
#include "learners/learner.h"

namespace l2o {

struct L2oDmConfig {
  std::vector<int64_t> hidden = {20, 20};
  double log_k = 5.0;          // LogAndSign k; <= 0 feeds the raw gradient (the quadratic's setting)
  double output_scale = 0.01;
  double forget_bias = 1.0;
  // Sonnet's Linear initialises its bias to zero (docs/fidelity.md); a non-zero bias adds the same
  // drift 0.01*b to every coordinate and stalls meta-training. false keeps the old truncated normal.
  bool output_bias_zero = true;
  int64_t input_size() const { return log_k > 0 ? 2 : 1; }
};

// Floats the CPU learner keeps per coordinate and saved step (inputs, gates, cells, top output):
// reset(n, steps) allocates about 4 * n * steps times this many bytes.
int64_t saved_floats_per_coordinate_step(const L2oDmConfig& cfg);

// The fused ops' shape for this config (two LSTM layers) over n coordinates and `slots` saved steps.
L2oDmFusedShape fused_shape(const L2oDmConfig& cfg, int64_t n, int64_t slots);

template <typename T>
class L2oDm : public LearnerT<T> {
 public:
  explicit L2oDm(L2oDmConfig cfg);
  std::string type() const override { return "l2o_dm"; }
  const L2oDmConfig& config() const { return cfg_; }
  int64_t num_params() const override { return num_params_; }
  const std::vector<ParamBlock>& param_blocks() const override { return blocks_; }
  void init_params(uint64_t seed, T* phi) const override;
  int64_t saved_floats_per_coordinate_step() const override { return l2o::saved_floats_per_coordinate_step(cfg_); }
  void reset(int64_t n, int64_t max_steps) override;
  void zero_state() override;
  void begin_segment() override;
  void step(const T* phi, const T* g, T* u, bool save) override;
  int64_t saved_steps() const override { return saved_; }
  void backward(const T* phi, const T* dl_du, T* dphi) override;

  static constexpr int64_t kBlockRows = 256;  // coordinates per parallel block

 private:
  struct Layer {
    int64_t in = 0, H = 0;
    int64_t w_off = 0, b_off = 0;
    std::vector<T> h, c;         // (n, H) state carried across steps and segments
    std::vector<T> c_init;       // (n, H) c at the segment start
    std::vector<T> xh;           // (slots, n, in + H) saved inputs [x, h_prev]
    std::vector<T> gates;        // (slots, n, 4H) saved post-activation gates
    std::vector<T> cs;           // (slots, n, H) saved cell states
  };
  struct Workspace {             // per block, sized once
    std::vector<T> z, dz, dh, dh_above;
    // Per layer: dxh (in+H, rows) of the last step done. Rows [0, in) are the layer below's dh_above,
    // rows [in, in+H) the dh carried to the previous step.
    std::vector<std::vector<T>> dxh, dc_carry;
    std::vector<T> dphi;
  };
  int64_t width(const Layer& L) const { return L.in + L.H; }

  L2oDmConfig cfg_;
  std::vector<ParamBlock> blocks_;
  int64_t num_params_ = 0, out_w_off_ = 0, out_b_off_ = 0;
  std::vector<Layer> layers_;
  std::vector<T> hout_;          // (slots, n, H_top) saved top-layer outputs
  std::vector<Workspace> ws_;
  int64_t n_ = 0, slots_ = 0, saved_ = 0;
};

}  // namespace l2o
