// The shared part of the CUDA backend's optimizees: each wraps its CPU twin, whose name, size,
// initialisation and minibatch sampling it uses (so both backends train the same instances on the
// same batches), keeps the dataset on the device, and implements the host-array loss_and_grad
// through its device path. Subclasses implement loss_and_grad_device.
#pragma once
#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/device_resident.h"
#include "kernels/cuda_context.cuh"
#include "kernels/mlp_ops.h"
#include "optimizees/dataset.h"
#include "optimizees/optimizee.h"

namespace l2o {

class CudaTwinOptimizee : public OptimizeeT<float>, public DeviceOptimizee {
 public:
  CudaTwinOptimizee(std::unique_ptr<OptimizeeT<float>> host, const Dataset& data) : host_(std::move(host)) {
    images_.resize(static_cast<int64_t>(data.images.size()));
    images_.upload(data.images.data(), images_.size());
    labels_.resize(static_cast<int64_t>(data.labels.size()));
    labels_.upload(data.labels.data(), labels_.size());
    theta_.resize(host_->num_params());
    grad_.resize(host_->num_params());
    loss_.resize(1);
  }
  std::string name() const override { return host_->name(); }
  int64_t num_params() const override { return host_->num_params(); }
  void init(uint64_t seed, float* theta) override { host_->init(seed, theta); }
  void sample_batch(Rng& rng, Batch& batch) const override { host_->sample_batch(rng, batch); }
  CoordRanges learner_frozen() const override { return host_->learner_frozen(); }
  std::vector<int64_t> tensor_sizes() const override { return host_->tensor_sizes(); }

  float loss_and_grad(const float* theta, const Batch& batch, float* grad) override {
    const int64_t B = static_cast<int64_t>(batch.idx.size());
    L2O_CHECK(B > 0, "empty minibatch");
    theta_.upload(theta, num_params());
    idx_.resize(B);
    idx_.upload(batch.idx.data(), B);
    loss_and_grad_device(theta_.data(), idx_.data(), B, loss_.data(), grad ? grad_.data() : nullptr);
    float loss = 0;
    loss_.download(&loss, 1);
    if (grad) grad_.download(grad, num_params());
    return loss;
  }

 protected:
  // Sizes the per-example buffers every subclass has for a batch of B (after its own), and marks
  // the buffers moved for graph caches.
  void size_batch_buffers(int64_t B) {
    loss_rows_.resize(B);
    y_.resize(B);
    std::vector<float> ones(B, 1.0f);
    ones_.resize(B);
    ones_.upload(ones.data(), B);
    cub_bytes_ = 0;
    sum_cuda(B, loss_rows_.data(), nullptr, nullptr, &cub_bytes_);  // query the temporary size
    cub_ws_.resize(std::max<int64_t>(1, static_cast<int64_t>(cub_bytes_)));  // null would mean "query"
    batch_ = B;
    buffers_moved();
  }

  std::unique_ptr<OptimizeeT<float>> host_;
  DeviceBuffer<float> images_;    // (examples, dim)
  DeviceBuffer<int32_t> labels_;  // (examples)
  DeviceBuffer<float> loss_rows_, ones_;  // (B): per-example losses; ones for column sums
  DeviceBuffer<int32_t> y_;               // (B): the batch's labels
  DeviceBuffer<unsigned char> cub_ws_;    // the loss sum's temporary storage
  size_t cub_bytes_ = 0;
  int64_t batch_ = 0;  // the batch size the buffers are sized for

 private:
  DeviceBuffer<float> theta_, grad_, loss_;  // the host path's staging
  DeviceBuffer<int32_t> idx_;
};

// K MLP tasks (CudaMlp) of one shape on one dataset as one device optimizee: task k's theta and
// gradient at k n, its examples the k-th of K equal parts of the batch; one launch per op for all
// tasks. Null when the tasks are not such MLPs (the task batch then runs them one by one).
std::unique_ptr<DeviceOptimizee> make_mlp_tasks_cuda(const std::vector<OptimizeeT<float>*>& tasks);
// The same for K conv nets (CudaConvNet) of one architecture on one dataset (convnet_cuda.cu).
std::unique_ptr<DeviceOptimizee> make_convnet_tasks_cuda(const std::vector<OptimizeeT<float>*>& tasks);

// The shared part of the CUDA task batches (K tasks as one computation: mlp_cuda.cu,
// convnet_cuda.cu): the per-row losses, the per-task mean losses, the labels and a ones vector for
// the per-task bias GEMVs, sized for B = K * per rows.
class CudaTaskBatchBuffers : public DeviceOptimizee {
 protected:
  // Sizes those buffers for K tasks of `per` rows (after the subclass's own) and marks the buffers
  // moved for graph caches.
  void size_task_buffers(int64_t K, int64_t per) {
    const int64_t B = K * per;
    loss_rows_.resize(B);
    y_.resize(B);
    task_loss_.resize(K);
    std::vector<float> ones(per, 1.0f);
    ones_.resize(per);
    ones_.upload(ones.data(), per);
    rows_ = B;
    buffers_moved();
  }

  int64_t rows_ = 0;  // the rows the buffers are sized for
  DeviceBuffer<float> loss_rows_, task_loss_, ones_;
  DeviceBuffer<int32_t> y_;
};

}  // namespace l2o
