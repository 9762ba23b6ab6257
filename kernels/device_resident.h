// Device-side entry points of the CUDA backend's learner and optimizees: the same work as their
// LearnerT / OptimizeeT methods, on device arrays, with no host round trip. The device-resident
// meta-segment (engine/cuda_segment.cu) and evaluation rollout (engine/cuda_evaluate.cu) drive
// them. Plain C++ (no CUDA headers); the CUDA twins in learners/ and optimizees/ implement them.
#pragma once
#include <atomic>
#include <cstdint>

namespace l2o {

// Identity of a device-resident object's buffers, for caches of captured CUDA graphs: a unique
// id per object, and a version bumped whenever its device buffers may move.
class DeviceResident {
 public:
  virtual ~DeviceResident() = default;
  uint64_t resident_id() const { return id_; }
  // Changes whenever a device buffer this object uses may have moved (a composite, such as a task
  // batch, also counts its parts' moves).
  virtual uint64_t buffers_version() const { return version_; }

 protected:
  void buffers_moved() { ++version_; }

 private:
  static uint64_t next_id() {
    static std::atomic<uint64_t> counter{0};
    return ++counter;
  }
  uint64_t id_ = next_id(), version_ = 0;
};

class DeviceOptimizee : public DeviceResident {
 public:
  virtual ~DeviceOptimizee() = default;
  // d_loss[0] = mean loss at d_theta on the minibatch d_idx (B example indices); d_grad (may be
  // null) = its gradient. Asynchronous on cuda_stream().
  virtual void loss_and_grad_device(const float* d_theta, const int32_t* d_idx, int64_t B, float* d_loss,
                                    float* d_grad) = 0;
};

class DeviceLearner : public DeviceResident {
 public:
  virtual ~DeviceLearner() = default;
  // As LearnerT::step, on device arrays; d_theta (may be null) gets theta += u in the same kernel.
  virtual void step_device(const float* d_phi, const float* d_g, float* d_u, float* d_theta, bool save) = 0;
  // As LearnerT::backward: d_dl_du (saved_steps, n) on the device, d_dphi written on the device.
  virtual void backward_device(const float* d_phi, const float* d_dl_du, float* d_dphi) = 0;
  // Host bookkeeping of a replayed graph: the `steps` step_device calls it contains were not made
  // from the host this time, so the saved-step count is set directly.
  virtual void set_saved_steps(int64_t steps) = 0;
};

// A hand-designed rule's device path (learners/hand_optimizers_cuda.cu), for the device-resident
// evaluation rollout (engine/cuda_evaluate.cu).
class DeviceUpdateRule {
 public:
  virtual ~DeviceUpdateRule() = default;
  // As UpdateRule::update, on device arrays of the n given to reset(); asynchronous on cuda_stream().
  virtual void update_device(const float* d_g, float* d_u) = 0;
};

}  // namespace l2o
