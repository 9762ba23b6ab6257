// L2O-Scale on the CUDA backend: state, step records and the backward workspace on the device,
// the ops of kernels/l2o_scale_ops.h on them. The host interface exchanges host arrays (g and u
// each step, phi each call, dl_du once per backward), as the other CUDA learners' host paths do;
// the initial state is built on the host by the CPU learner (the same draw of log learning rates)
// and uploaded at the first step after zero_state().
#include "kernels/cuda_context.cuh"
#include "learners/l2o_scale_cuda.h"

namespace l2o {

namespace {

class CudaL2oScale : public LearnerT<float> {
 public:
  explicit CudaL2oScale(const L2oScaleConfig& cfg) : host_(cfg) {}
  std::string type() const override { return host_.type(); }
  int64_t num_params() const override { return host_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return host_.param_blocks(); }
  void init_params(uint64_t seed, float* phi) const override { host_.init_params(seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override { return host_.saved_floats_per_coordinate_step(); }
  void set_tensor_sizes(const std::vector<int64_t>& sizes) override { host_.set_tensor_sizes(sizes); }

  void reset(int64_t n, int64_t max_steps) override {
    host_.reset(n, 0);  // the host keeps the sizes, the layout and the initial state only
    shape_ = host_.shape();
    shape_.slots = std::max<int64_t>(max_steps, 0);
    const std::vector<int64_t>& offs = host_.tensor_offsets();
    offs_.resize(static_cast<int64_t>(offs.size()));
    offs_.upload(offs.data(), static_cast<int64_t>(offs.size()));
    shape_.offs = offs_.data();
    state_.resize(shape_.state_size());
    records_.resize(shape_.records_size());
    ws_.resize(shape_.slots > 0 ? shape_.workspace_size() : 1);
    phi_.resize(num_params());
    dphi_.resize(num_params());
    g_.resize(n);
    u_.resize(n);
    dl_du_.resize(std::max<int64_t>(shape_.slots, 1) * n);
    st_ = l2o_scale_state_view(shape_, state_.data(), records_.data());
    zero_state();
  }
  void zero_state() override {
    fresh_ = true;
    saved_ = 0;
  }
  void begin_segment() override { saved_ = 0; }
  void step(const float* phi, const float* g, float* u, bool save) override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    L2O_CHECK(!save || saved_ < shape_.slots, "segment longer than the max_steps given to reset()");
    if (fresh_) {
      host_.zero_state();
      host_.build_initial_state(phi);
      state_.upload(host_.host_state().data(), shape_.state_size());
      fresh_ = false;
    }
    phi_.upload(phi, num_params());
    g_.upload(g, shape_.n);
    l2o_scale_step_cuda(shape_, phi_.data(), g_.data(), st_, save ? saved_ : shape_.slots, u_.data());
    u_.download(u, shape_.n);
    if (save) ++saved_;
  }
  int64_t saved_steps() const override { return saved_; }
  void backward(const float* phi, const float* dl_du, float* dphi) override {
    L2O_CHECK(saved_ > 0, "backward without saved steps");
    phi_.upload(phi, num_params());
    dl_du_.upload(dl_du, saved_ * shape_.n);
    l2o_scale_backward_cuda(shape_, phi_.data(), saved_, st_, dl_du_.data(), ws_.data(), dphi_.data());
    dphi_.download(dphi, num_params());
  }
  bool can_carry_state() const override { return true; }
  std::vector<float> carried_state() const override {
    if (fresh_) return {};
    std::vector<float> s(shape_.state_size());
    state_.download(s.data(), shape_.state_size());
    return s;
  }
  void set_carried_state(const std::vector<float>& state, const std::string& origin) override {
    L2O_CHECK(shape_.n > 0, "reset() first");
    host_.set_carried_state(state, origin);  // checks the size and the values
    zero_state();
    if (state.empty()) return;
    state_.upload(state.data(), shape_.state_size());
    fresh_ = false;
  }

 private:
  L2oScale<float> host_;
  L2oScaleShape shape_;
  DeviceBuffer<int64_t> offs_;
  DeviceBuffer<float> state_, records_, ws_, phi_, dphi_, g_, u_, dl_du_;
  L2oScaleState<float> st_{};
  bool fresh_ = true;
  int64_t saved_ = 0;
};

}  // namespace

std::unique_ptr<LearnerT<float>> make_l2o_scale_cuda(const L2oScaleConfig& cfg) {
  return std::make_unique<CudaL2oScale>(cfg);
}

}  // namespace l2o
