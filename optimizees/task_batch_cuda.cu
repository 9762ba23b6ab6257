// A task batch on the CUDA backend. K MLP tasks of one shape, or K conv nets of one architecture,
// on one dataset run as one batched computation (make_mlp_tasks_cuda, make_convnet_tasks_cuda:
// strided-batched GEMMs over the tasks, one launch per op). Other batches (mixed or K = 1) run the
// tasks one after another on the one stream (host threads would race on it). Inside the
// device-resident segment the loss and gradient are computed on the device; the K task losses are
// summed there, in task order by the batched nets (segment_sums_cuda) and by CUB's fixed tree for
// the others (deterministic either way, but not the same bits as the CPU's task-order sum). The
// frozen coordinates (learner_frozen) are TaskBatch's, per task.
#include "optimizees/cuda_optimizees.h"
#include "optimizees/cuda_twin_optimizee.cuh"
#include "kernels/device_resident.h"
#include "kernels/cuda_context.cuh"
#include "kernels/mlp_ops.h"
#include "optimizees/task_batch.h"

namespace l2o {

namespace {

class CudaTaskBatch : public TaskBatch, public DeviceOptimizee {
 public:
  explicit CudaTaskBatch(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks) : TaskBatch(std::move(tasks), false) {
    for (auto& t : tasks_) {
      auto* d = dynamic_cast<DeviceOptimizee*>(t.get());
      L2O_CHECK(d, "a CUDA task batch needs CUDA optimizees");
      dev_.push_back(d);
    }
    std::vector<OptimizeeT<float>*> raw;
    for (auto& t : tasks_) raw.push_back(t.get());
    batched_ = make_mlp_tasks_cuda(raw);
    if (!batched_) batched_ = make_convnet_tasks_cuda(raw);
    losses_dev_.resize(TaskBatch::tasks());
    sum_cuda(TaskBatch::tasks(), losses_dev_.data(), nullptr, nullptr, &cub_bytes_);
    cub_ws_.resize(std::max<int64_t>(1, static_cast<int64_t>(cub_bytes_)));
  }
  void loss_and_grad_device(const float* d_theta, const int32_t* d_idx, int64_t B, float* d_loss,
                            float* d_grad) override {
    const int K = tasks();
    const int64_t per = B / K;
    L2O_CHECK(per * K == B, "batch does not split into " << K << " tasks");
    if (batched_) return batched_->loss_and_grad_device(d_theta, d_idx, B, d_loss, d_grad);
    for (int k = 0; k < K; ++k)
      dev_[k]->loss_and_grad_device(d_theta + k * n_, d_idx + k * per, per, losses_dev_.data() + k,
                                    d_grad ? d_grad + k * n_ : nullptr);
    sum_cuda(K, losses_dev_.data(), d_loss, cub_ws_.data(), &cub_bytes_);
  }
  // The tasks' buffers are part of this batch's: a task that reallocates moves the batch too.
  uint64_t buffers_version() const override {
    uint64_t v = DeviceResident::buffers_version();
    for (const auto* d : dev_) v += d->buffers_version();
    return batched_ ? v + batched_->buffers_version() : v;
  }

 private:
  std::vector<DeviceOptimizee*> dev_;
  std::unique_ptr<DeviceOptimizee> batched_;  // all tasks at once, when they allow it
  DeviceBuffer<float> losses_dev_;
  DeviceBuffer<unsigned char> cub_ws_;
  size_t cub_bytes_ = 0;
};

}  // namespace

std::unique_ptr<TaskBatch> make_task_batch_cuda(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks) {
  return std::make_unique<CudaTaskBatch>(std::move(tasks));
}

}  // namespace l2o
