// RNNprop on the CUDA backend: the Learner interface over the fused kernels, with the recurrent
// state (moments and the step count included), the saved segment and the workspace resident on
// the device.
#include "kernels/cuda_context.cuh"
#include "kernels/device_resident.h"
#include "kernels/rnnprop_fused.h"
#include "learners/rnnprop_cuda.h"

namespace l2o {

namespace {

class CudaRnnprop : public LearnerT<float>, public DeviceLearner {
 public:
  explicit CudaRnnprop(const RnnpropConfig& cfg) : host_(cfg), shape_(rnnprop_shape(cfg, 1, 1)) {}
  std::string type() const override { return host_.type(); }
  int64_t num_params() const override { return host_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return host_.param_blocks(); }
  void init_params(uint64_t seed, float* phi) const override { host_.init_params(seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override { return host_.saved_floats_per_coordinate_step(); }

  void reset(int64_t n, int64_t max_steps) override {
    shape_.n = n;
    shape_.slots = std::max<int64_t>(max_steps, 1);
    check_rnnprop_shape(shape_);
    state_.resize(shape_.state_size());
    c_init_.resize(shape_.state_size());
    saved_buf_.resize(shape_.saved_size());
    ws_.resize(shape_.workspace_size());
    phi_.resize(num_params());
    dphi_.resize(num_params());
    g_.resize(n);
    u_.resize(n);
    dl_du_.resize(shape_.slots * n);
    t_.resize(1);
    buffers_moved();
    zero_state();
  }
  void zero_state() override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    state_.zero();
    t_.zero();
    saved_ = 0;
  }
  void begin_segment() override {
    saved_ = 0;
    CUDA_CHECK(cudaMemcpyAsync(c_init_.data(), state_.data(), shape_.state_size() * sizeof(float),
                               cudaMemcpyDeviceToDevice, cuda_stream()));
  }
  void step(const float* phi, const float* g, float* u, bool save) override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    phi_.upload(phi, num_params());
    g_.upload(g, shape_.n);
    step_device(phi_.data(), g_.data(), u_.data(), nullptr, save);
    u_.download(u, shape_.n);
  }
  void step_device(const float* d_phi, const float* d_g, float* d_u, float* d_theta, bool save) override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    L2O_CHECK(!save || saved_ < shape_.slots, "segment longer than the max_steps given to reset()");
    rnnprop_fused_step_cuda(shape_, t_.data(), d_phi, d_g, state_.data(), save ? saved_buf_.data() : nullptr, saved_, d_u,
                            d_theta);
    if (save) ++saved_;
  }
  int64_t saved_steps() const override { return saved_; }
  void backward(const float* phi, const float* dl_du, float* dphi) override {
    L2O_CHECK(saved_ > 0, "backward without saved steps");
    phi_.upload(phi, num_params());
    dl_du_.upload(dl_du, saved_ * shape_.n);
    backward_device(phi_.data(), dl_du_.data(), dphi_.data());
    dphi_.download(dphi, num_params());
  }
  void set_saved_steps(int64_t steps) override {
    L2O_CHECK(steps >= 0 && steps <= shape_.slots, "saved steps " << steps << " outside [0, " << shape_.slots << "]");
    saved_ = steps;
  }
  void backward_device(const float* d_phi, const float* d_dl_du, float* d_dphi) override {
    L2O_CHECK(saved_ > 0, "backward without saved steps");
    rnnprop_fused_backward_cuda(shape_, d_phi, saved_, saved_buf_.data(), c_init_.data(), d_dl_du, ws_.data(),
                                d_dphi);
  }

 private:
  Rnnprop<float> host_;  // names, parameter layout and initialisation: identical to the CPU learner
  RnnpropFusedShape shape_;
  DeviceBuffer<float> state_, c_init_, saved_buf_, ws_, phi_, dphi_, g_, u_, dl_du_;
  DeviceBuffer<int64_t> t_;  // steps since zero_state(), on the device so graph replays advance it
  int64_t saved_ = 0;
};

}  // namespace

std::unique_ptr<LearnerT<float>> make_rnnprop_cuda(const RnnpropConfig& cfg) {
  return std::make_unique<CudaRnnprop>(cfg);
}

}  // namespace l2o
