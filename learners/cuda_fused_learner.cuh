// What the CUDA learners over fused kernels share (l2o_dm_cuda.cu, rnnprop_cuda.cu): the Learner
// interface with the recurrent state, the saved segment and the workspace resident on the device
// (allocated once in reset()). The host interface exchanges host arrays: g and u cross PCIe each
// step (n floats each way), phi is re-sent each call (it changes every meta-step), dl_du once per
// backward. A learner supplies its CPU twin (names, layout, init), its fused-op shape and launches.
#pragma once
#include <algorithm>

#include "kernels/cuda_context.cuh"
#include "kernels/device_resident.h"
#include "learners/learner.h"

namespace l2o {

// Host: the CPU learner; Shape: the fused ops' shape (n, slots, state/saved/workspace sizes).
template <typename Host, typename Shape>
class CudaFusedLearner : public LearnerT<float>, public DeviceLearner {
 public:
  template <typename Config>
  CudaFusedLearner(const Config& cfg, Shape shape) : host_(cfg), shape_(shape) {}
  std::string type() const override { return host_.type(); }
  int64_t num_params() const override { return host_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return host_.param_blocks(); }
  void init_params(uint64_t seed, float* phi) const override { host_.init_params(seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override { return host_.saved_floats_per_coordinate_step(); }

  void reset(int64_t n, int64_t max_steps) override {
    shape_.n = n;
    shape_.slots = std::max<int64_t>(max_steps, 1);
    check_shape(shape_);
    state_.resize(shape_.state_size());
    c_init_.resize(shape_.state_size());
    saved_buf_.resize(shape_.saved_size());
    ws_.resize(shape_.workspace_size());
    phi_.resize(num_params());
    dphi_.resize(num_params());
    g_.resize(n);
    u_.resize(n);
    dl_du_.resize(shape_.slots * n);
    extra_reset();
    buffers_moved();
    zero_state();
  }
  void zero_state() override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    state_.zero();
    extra_zero();
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
    launch_step(d_phi, d_g, save ? saved_buf_.data() : nullptr, saved_, d_u, d_theta);
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
    launch_backward(d_phi, saved_, d_dl_du, d_dphi);
  }

 protected:
  virtual void check_shape(const Shape& s) const = 0;
  // One fused step on device arrays; saved (may be null) is the whole saved buffer, slot the step's.
  virtual void launch_step(const float* d_phi, const float* d_g, float* saved, int64_t slot, float* d_u,
                           float* d_theta) = 0;
  virtual void launch_backward(const float* d_phi, int64_t steps, const float* d_dl_du, float* d_dphi) = 0;
  // Device state beyond the recurrent state (e.g. a step count), sized in reset(), zeroed with it.
  virtual void extra_reset() {}
  virtual void extra_zero() {}

  Host host_;  // names, parameter layout and initialisation: identical to the CPU learner
  Shape shape_;
  DeviceBuffer<float> state_, c_init_, saved_buf_, ws_;

 private:
  DeviceBuffer<float> phi_, dphi_, g_, u_, dl_du_;
  int64_t saved_ = 0;
};

}  // namespace l2o
