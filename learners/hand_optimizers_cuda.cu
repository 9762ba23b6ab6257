// The hand-designed optimizers on the CUDA backend: the same rules as hand_optimizers.cpp, their
// state resident on the device and their arithmetic in the _cuda twins of kernels/optim.h. The
// UpdateRule interface exchanges host arrays, so g and u cross to the device each step; the
// device-resident evaluation rollout calls update_device on its own device arrays instead.
#include <vector>

#include "kernels/cuda_context.cuh"
#include "kernels/device_resident.h"
#include "kernels/optim.h"
#include "learners/hand_optimizers.h"

namespace l2o {

namespace {

class CudaHandRule : public UpdateRule, public DeviceUpdateRule {
 public:
  explicit CudaHandRule(const HandOptimizerConfig& cfg)
      : host_(make_hand_optimizer(cfg)), p_(resolve_hand_optimizer(cfg)) {}
  std::string name() const override { return host_->name(); }  // the CPU twin's: curves line up
  void reset(int64_t n) override {
    n_ = n;
    g_.resize(n);
    u_.resize(n);
    s1_.resize(n);
    s2_.resize(n);
    s1_.zero();  // momentum buffer or Adam's m
    const std::vector<float> start(static_cast<size_t>(n), hand_optimizer_initial_state(p_.type));
    s2_.upload(start.data(), n);  // Adam's v or the squared-gradient accumulator
    t_ = 0;
  }
  void update(const float* g, float* u) override {
    L2O_CHECK(n_ > 0, "reset() first");
    g_.upload(g, n_);
    update_device(g_.data(), u_.data());
    u_.download(u, n_);
  }
  void update_device(const float* g, float* u) override {
    L2O_CHECK(n_ > 0, "reset() first");
    const std::string& t = p_.type;
    if (t == "sgd") {
      sgd_update_cuda(n_, g, u, p_.lr);
    } else if (t == "momentum" || t == "nag") {
      momentum_update_cuda(n_, g, s1_.data(), u, p_.lr, p_.momentum, t == "nag");
    } else if (t == "adam") {
      adam_tf_update_cuda(n_, g, s1_.data(), s2_.data(), u, p_.lr, p_.beta1, p_.beta2, p_.eps, ++t_);
    } else if (t == "adam_torch") {
      adam_update_cuda(n_, g, s1_.data(), s2_.data(), u, p_.lr, p_.beta1, p_.beta2, p_.eps, ++t_);
    } else if (t == "adagrad") {
      adagrad_tf_update_cuda(n_, g, s2_.data(), u, p_.lr);
    } else if (t == "adagrad_torch") {
      adagrad_update_cuda(n_, g, s2_.data(), u, p_.lr, p_.eps);
    } else if (t == "rmsprop") {
      rmsprop_tf_update_cuda(n_, g, s2_.data(), u, p_.lr, p_.alpha, p_.eps);
    } else {
      rmsprop_update_cuda(n_, g, s2_.data(), u, p_.lr, p_.alpha, p_.eps);
    }
  }

 private:
  std::unique_ptr<UpdateRule> host_;
  HandOptimizerParams p_;
  int64_t n_ = 0, t_ = 0;
  DeviceBuffer<float> g_, u_, s1_, s2_;
};

}  // namespace

std::unique_ptr<UpdateRule> make_hand_optimizer_cuda(const HandOptimizerConfig& cfg) {
  return std::make_unique<CudaHandRule>(cfg);
}

}  // namespace l2o
