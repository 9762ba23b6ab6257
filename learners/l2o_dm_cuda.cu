// L2O-DM on the CUDA backend: the fused kernels of kernels/l2o_dm_fused.h behind the shared CUDA
// learner (cuda_fused_learner.cuh).
#include "kernels/l2o_dm_fused.h"
#include "learners/cuda_fused_learner.cuh"
#include "learners/l2o_dm_cuda.h"

namespace l2o {

namespace {

class CudaL2oDm : public CudaFusedLearner<L2oDm<float>, L2oDmFusedShape> {
 public:
  explicit CudaL2oDm(const L2oDmConfig& cfg) : CudaFusedLearner(cfg, checked_shape(cfg)) {}

 protected:
  void check_shape(const L2oDmFusedShape& s) const override { check_fused_shape(s); }
  void launch_step(const float* d_phi, const float* d_g, float* saved, int64_t slot, float* d_u,
                   float* d_theta) override {
    l2o_dm_fused_step_cuda(shape_, d_phi, d_g, state_.data(), saved, slot, d_u, d_theta);
  }
  void launch_backward(const float* d_phi, int64_t steps, const float* d_dl_du, float* d_dphi) override {
    l2o_dm_fused_backward_cuda(shape_, d_phi, steps, saved_buf_.data(), c_init_.data(), d_dl_du, ws_.data(), d_dphi);
  }

 private:
  static L2oDmFusedShape checked_shape(const L2oDmConfig& cfg) {
    std::string why;
    if (!cuda_supports_learner(cfg, &why)) throw InputError("backend \"cuda\": " + why);
    return fused_shape(cfg, 1, 1);  // n and slots are set by reset()
  }
};

}  // namespace

std::unique_ptr<LearnerT<float>> make_l2o_dm_cuda(const L2oDmConfig& cfg) { return std::make_unique<CudaL2oDm>(cfg); }

}  // namespace l2o
