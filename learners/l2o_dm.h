// L2O-DM (Andrychowicz et al. 2016): LogAndSign -> LSTM(20) -> LSTM(20) -> Linear(1) -> x 0.01,
// applied to every coordinate (REFERENCE.md section 1).
//
// Three implementations of the same learner, and what each is for:
// - this class (coordinatewise_lstm.h with the kernels/lstm.h ops): the CPU backend, what
//   l2o_train runs on the CPU; checked against finite differences in double;
// - the fused CPU twins (kernels/l2o_dm_fused_cpu.cpp): the oracle for the CUDA kernels, run by
//   the GPU tests; themselves tested against this class;
// - the fused CUDA kernels (kernels/l2o_dm_fused.cu, wrapped by learners/l2o_dm_cuda.cu): the
//   CUDA backend.
#pragma once
#include "kernels/l2o_dm_fused.h"
#include "learners/coordinatewise_lstm.h"

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

// The fused ops' shape for this config (two LSTM layers) over n coordinates and `slots` saved steps.
L2oDmFusedShape fused_shape(const L2oDmConfig& cfg, int64_t n, int64_t slots);

template <typename T>
class L2oDm : public CoordinatewiseLstm<T> {
 public:
  explicit L2oDm(L2oDmConfig cfg);
  std::string type() const override { return "l2o_dm"; }
  const L2oDmConfig& config() const { return cfg_; }
  void init_params(uint64_t seed, T* phi) const override;

 protected:
  // LogAndSign(g) (or the raw gradient) as the layer-0 input.
  void input_forward(const T* phi, const T* g, int64_t blk, int64_t r0, int64_t nb, int64_t slot, bool save,
                     T* x) override;

 private:
  L2oDmConfig cfg_;
};

}  // namespace l2o
