// The CPU backend's coordinatewise LSTM optimizers: an input stage -> LSTM layers -> Linear(1)
// -> x scale (or scale * tanh), applied to every coordinate. L2O-DM (l2o_dm.h: LogAndSign input)
// and RNNprop (rnnprop.h: Adam moments through a learned projection, tanh output) are this class
// with their own input stage. Coordinates are processed in fixed-size blocks, in parallel;
// per-block weight-gradient partials are summed in block order, so dphi is bit-identical whatever
// the thread count.
//
// Layout: every per-coordinate array is feature-major within a block (kernels/lstm.h). phi holds
// the input stage's parameters first, then per layer w (in+H, 4H) and b (4H), then the output
// projection w (H_top) and b (1).
#pragma once
#include <vector>

#include "learners/learner.h"

namespace l2o {

struct CoordinatewiseLstmShape {
  int64_t in0 = 2;                       // layer-0 input features the input stage writes
  std::vector<ParamBlock> input_blocks;  // the input stage's parameters, at the start of phi
  std::vector<int64_t> hidden = {20, 20};
  double forget_bias = 1.0, output_scale = 0.01;
  bool tanh_output = false;
};

template <typename T>
class CoordinatewiseLstm : public LearnerT<T> {
 public:
  int64_t num_params() const override { return num_params_; }
  const std::vector<ParamBlock>& param_blocks() const override { return blocks_; }
  int64_t saved_floats_per_coordinate_step() const override;
  void reset(int64_t n, int64_t max_steps) override;
  void zero_state() override;
  void begin_segment() override;
  void step(const T* phi, const T* g, T* u, bool save) override;
  int64_t saved_steps() const override { return saved_; }
  void backward(const T* phi, const T* dl_du, T* dphi) override;

  static constexpr int64_t kBlockRows = 256;  // coordinates per parallel block

 protected:
  explicit CoordinatewiseLstm(CoordinatewiseLstmShape shape);
  // Offsets of the LSTM layers' and the output projection's parameters in phi.
  int64_t layer_w(size_t l) const { return layers_[l].w_off; }
  int64_t layer_b(size_t l) const { return layers_[l].b_off; }
  int64_t out_w() const { return out_w_off_; }
  int64_t out_b() const { return out_b_off_; }
  int64_t coordinates() const { return n_; }
  int64_t slots() const { return slots_; }

  // The input stage. input_step() runs once per step before the blocks; input_forward writes the
  // layer-0 input x (in0, nb) of coordinates [r0, r0 + nb) (block blk) at step slot `slot`;
  // input_backward gets dx (in0, nb), the gradient on that input at saved step t, and adds the
  // stage's parameter gradients into the block's partial dphi.
  virtual void input_reset(int64_t /*n*/, int64_t /*slots*/, int64_t /*blocks*/) {}
  virtual void input_zero_state() {}
  virtual void input_step() {}
  virtual void input_forward(const T* phi, const T* g, int64_t blk, int64_t r0, int64_t nb, int64_t slot, bool save,
                             T* x) = 0;
  virtual void input_backward(const T* /*phi*/, int64_t /*blk*/, int64_t /*r0*/, int64_t /*nb*/, int64_t /*t*/,
                              const T* /*x*/, const T* /*dx*/, T* /*dphi_block*/) {}
  virtual int64_t input_saved_floats() const { return 0; }

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
    std::vector<T> z, dz, dh, dh_above, du;
    // Per layer: dxh (in+H, rows) of the last step done. Rows [0, in) are the layer below's dh_above,
    // rows [in, in+H) the dh carried to the previous step.
    std::vector<std::vector<T>> dxh, dc_carry;
    std::vector<T> dphi;
  };
  int64_t width(const Layer& L) const { return L.in + L.H; }

  CoordinatewiseLstmShape shape_;
  std::vector<ParamBlock> blocks_;
  int64_t num_params_ = 0, out_w_off_ = 0, out_b_off_ = 0;
  std::vector<Layer> layers_;
  std::vector<T> hout_;          // (slots, n, H_top) saved top-layer outputs
  std::vector<T> tanh_out_;      // (slots, n) saved tanh(o), with tanh_output
  std::vector<Workspace> ws_;
  int64_t n_ = 0, slots_ = 0, saved_ = 0;
};

}  // namespace l2o
