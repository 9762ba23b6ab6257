// RNNprop on the CUDA backend: the fused kernels of kernels/rnnprop_fused.h behind the shared CUDA
// learner (cuda_fused_learner.cuh), with the step count on the device so graph replays advance it.
#include "kernels/rnnprop_fused.h"
#include "learners/cuda_fused_learner.cuh"
#include "learners/rnnprop_cuda.h"

namespace l2o {

namespace {

class CudaRnnprop : public CudaFusedLearner<Rnnprop<float>, RnnpropFusedShape> {
 public:
  explicit CudaRnnprop(const RnnpropConfig& cfg) : CudaFusedLearner(cfg, rnnprop_shape(cfg, 1, 1)) {}

 protected:
  void check_shape(const RnnpropFusedShape& s) const override { check_rnnprop_shape(s); }
  void launch_step(const float* d_phi, const float* d_g, float* saved, int64_t slot, float* d_u,
                   float* d_theta) override {
    rnnprop_fused_step_cuda(shape_, t_.data(), d_phi, d_g, state_.data(), saved, slot, d_u, d_theta);
  }
  void launch_backward(const float* d_phi, int64_t steps, const float* d_dl_du, float* d_dphi) override {
    rnnprop_fused_backward_cuda(shape_, d_phi, steps, saved_buf_.data(), c_init_.data(), d_dl_du, ws_.data(),
                                d_dphi);
  }
  void extra_reset() override { t_.resize(1); }
  void extra_zero() override { t_.zero(); }

 private:
  DeviceBuffer<int64_t> t_;  // steps since zero_state()
};

}  // namespace

std::unique_ptr<LearnerT<float>> make_rnnprop_cuda(const RnnpropConfig& cfg) {
  return std::make_unique<CudaRnnprop>(cfg);
}

}  // namespace l2o
