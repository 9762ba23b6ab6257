// MLP optimizee on the CUDA backend: the dataset lives on the device; a minibatch is gathered
// there from its indices; forward and backward are cuBLAS GEMMs with the fused bias+activation,
// activation-backward and softmax-cross-entropy kernels between them; the loss is a CUB sum.
// Initialisation and batch sampling are the CPU twin's, so both backends see the same instances.
// CudaMlpTasks runs K such MLPs (a task batch) with one launch per op for all tasks.
#include "optimizees/cuda_optimizees.h"
#include "optimizees/cuda_twin_optimizee.cuh"
#include "kernels/cuda_context.cuh"
#include "kernels/mlp_ops.h"

namespace l2o {

namespace {

class CudaMlp : public CudaTwinOptimizee {
 public:
  CudaMlp(std::unique_ptr<OptimizeeT<float>> host, const Dataset& data, std::vector<int64_t> sizes, Activation act)
      : CudaTwinOptimizee(std::move(host), data), data_(&data), sizes_(std::move(sizes)), act_(act) {
    int64_t off = 0;
    for (size_t l = 0; l + 1 < sizes_.size(); ++l) {
      offsets_.push_back(off);
      off += sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
    }
    L2O_CHECK(!offsets_.empty() && off == host_->num_params(), "MLP layer sizes do not match the CPU twin");
    a_.resize(sizes_.size());
  }

  void loss_and_grad_device(const float* d_theta, const int32_t* d_idx, int64_t B, float* d_loss,
                            float* d_grad) override {
    const int64_t layers = static_cast<int64_t>(offsets_.size()), classes = sizes_.back();
    size_buffers(B);
    gather_rows_cuda(B, sizes_[0], images_.data(), labels_.data(), d_idx, a_[0].data(), y_.data());
    cublasHandle_t h = cublas_handle();
    const float one = 1.0f, zero = 0.0f;
    // Row-major Z (B, out) = A (B, in) W (in, out) is column-major Z^T = W^T A^T: W and A as stored.
    for (int64_t l = 0; l < layers; ++l) {
      const int in = static_cast<int>(sizes_[l]), out = static_cast<int>(sizes_[l + 1]);
      const float* w = d_theta + offsets_[l];
      const float* b = w + sizes_[l] * sizes_[l + 1];
      float* z = a_[l + 1].data();
      CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, out, static_cast<int>(B), in, &one, w, out,
                               a_[l].data(), in, &zero, z, out));
      if (l + 1 < layers) {
        bias_act_forward_cuda(B, out, b, act_, z);
      } else {
        bias_add_cuda(B, out, b, z);
      }
    }
    softmax_xent_cuda(B, classes, a_[layers].data(), y_.data(), 1.0f / static_cast<float>(B), loss_rows_.data(),
                      delta_.data());
    sum_cuda(B, loss_rows_.data(), d_loss, cub_ws_.data(), &cub_bytes_);
    scale_cuda(1, 1.0f / static_cast<float>(B), d_loss);  // the batch mean, as the CPU divides the sum
    if (!d_grad) return;
    for (int64_t l = layers - 1; l >= 0; --l) {
      const int in = static_cast<int>(sizes_[l]), out = static_cast<int>(sizes_[l + 1]);
      const float* w = d_theta + offsets_[l];
      float* gw = d_grad + offsets_[l];
      float* gb = gw + sizes_[l] * sizes_[l + 1];
      // gW (in, out) = A^T delta: column-major gW^T (out, in) = delta^T (out, B) A (B, in).
      CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, out, in, static_cast<int>(B), &one, delta_.data(), out,
                               a_[l].data(), in, &zero, gw, out));
      // gb (out) = column sums of delta (B, out).
      CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, out, static_cast<int>(B), &one, delta_.data(), out, ones_.data(), 1,
                               &zero, gb, 1));
      if (l > 0) {
        // back (B, in) = delta W^T: column-major back^T (in, B) = W (in, out) delta^T (out, B).
        CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, in, static_cast<int>(B), out, &one, w, out,
                                 delta_.data(), out, &zero, back_.data(), in));
        act_backward_cuda(B * in, act_, a_[l].data(), back_.data());
        delta_.swap(back_);
      }
    }
  }

 private:
  friend class CudaMlpTasks;

  void size_buffers(int64_t B) {
    if (B == batch_) return;
    int64_t widest = 0;
    for (size_t l = 0; l < sizes_.size(); ++l) {
      a_[l].resize(B * sizes_[l]);
      if (l > 0) widest = std::max(widest, sizes_[l]);
    }
    delta_.resize(B * widest);
    back_.resize(B * widest);
    size_batch_buffers(B);
  }

  const Dataset* data_;  // the host dataset (cached by load_dataset): tasks on one dataset can share
  std::vector<int64_t> sizes_, offsets_;
  Activation act_;
  DeviceBuffer<float> delta_, back_;
  std::vector<DeviceBuffer<float>> a_;  // activations per layer (B, sizes[l]); the last holds the logits
};

// K MLP tasks of one shape on one dataset: CudaMlp's computation for all tasks at once. Task k's
// theta and gradient are at k n (n = one task's parameters) and its `per` examples are rows
// [k per, k per + per) of every activation, so each GEMM is one strided-batched call, each
// elementwise op one launch over all rows. Uses task 0's device copy of the dataset.
class CudaMlpTasks : public CudaTaskBatchBuffers {
 public:
  explicit CudaMlpTasks(std::vector<CudaMlp*> tasks) : tasks_(std::move(tasks)), first_(*tasks_.front()) {
    a_.resize(first_.sizes_.size());
  }

  void loss_and_grad_device(const float* d_theta, const int32_t* d_idx, int64_t B, float* d_loss,
                            float* d_grad) override {
    const int64_t K = static_cast<int64_t>(tasks_.size()), per = B / K, n = first_.num_params();
    L2O_CHECK(per * K == B && per > 0, "batch of " << B << " does not split into " << K << " tasks");
    const std::vector<int64_t>& sizes = first_.sizes_;
    const std::vector<int64_t>& offsets = first_.offsets_;
    const int64_t layers = static_cast<int64_t>(offsets.size()), classes = sizes.back();
    size_buffers(K, per);
    gather_rows_cuda(B, sizes[0], first_.images_.data(), first_.labels_.data(), d_idx, a_[0].data(), y_.data());
    cublasHandle_t h = cublas_handle();
    const float one = 1.0f, zero = 0.0f;
    const int Ki = static_cast<int>(K), P = static_cast<int>(per);
    // Per task, as CudaMlp: column-major Z_k^T (out, per) = W_k^T A_k^T.
    for (int64_t l = 0; l < layers; ++l) {
      const int in = static_cast<int>(sizes[l]), out = static_cast<int>(sizes[l + 1]);
      const float* w = d_theta + offsets[l];
      const float* b = w + sizes[l] * sizes[l + 1];
      float* z = a_[l + 1].data();
      CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, out, P, in, &one, w, out, n, a_[l].data(),
                                             in, per * in, &zero, z, out, per * out, Ki));
      if (l + 1 < layers) {
        bias_act_forward_tasks_cuda(K, per, out, b, n, first_.act_, z);
      } else {
        bias_add_tasks_cuda(K, per, out, b, n, z);
      }
    }
    softmax_xent_cuda(B, classes, a_[layers].data(), y_.data(), 1.0f / static_cast<float>(per), loss_rows_.data(),
                      delta_.data());
    // Each task's mean loss, then their sum (the task batch's loss).
    segment_sums_cuda(K, per, loss_rows_.data(), 1.0f / static_cast<float>(per), task_loss_.data());
    segment_sums_cuda(1, K, task_loss_.data(), 1.0f, d_loss);
    if (!d_grad) return;
    for (int64_t l = layers - 1; l >= 0; --l) {
      const int in = static_cast<int>(sizes[l]), out = static_cast<int>(sizes[l + 1]);
      const float* w = d_theta + offsets[l];
      float* gw = d_grad + offsets[l];
      float* gb = gw + sizes[l] * sizes[l + 1];
      // gW_k^T (out, in) = delta_k^T (out, per) A_k (per, in).
      CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, out, in, P, &one, delta_.data(), out,
                                             per * out, a_[l].data(), in, per * in, &zero, gw, out, n, Ki));
      // gb_k = column sums of delta_k (per, out).
      CUBLAS_CHECK(cublasSgemvStridedBatched(h, CUBLAS_OP_N, out, P, &one, delta_.data(), out, per * out,
                                             ones_.data(), 1, 0, &zero, gb, 1, n, Ki));
      if (l > 0) {
        // back_k^T (in, per) = W_k (in, out) delta_k^T (out, per).
        CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, in, P, out, &one, w, out, n,
                                               delta_.data(), out, per * out, &zero, back_.data(), in, per * in, Ki));
        act_backward_cuda(B * in, first_.act_, a_[l].data(), back_.data());
        delta_.swap(back_);
      }
    }
  }
  // Null unless the tasks are at least 2 CudaMlps of one shape and activation on one dataset.
  static std::unique_ptr<DeviceOptimizee> make(const std::vector<OptimizeeT<float>*>& tasks) {
    std::vector<CudaMlp*> mlps;
    for (OptimizeeT<float>* t : tasks) {
      auto* m = dynamic_cast<CudaMlp*>(t);
      if (!m) return nullptr;
      const CudaMlp& f = mlps.empty() ? *m : *mlps.front();
      if (m->data_ != f.data_ || m->sizes_ != f.sizes_ || m->act_ != f.act_) return nullptr;
      mlps.push_back(m);
    }
    if (mlps.size() < 2) return nullptr;
    return std::make_unique<CudaMlpTasks>(std::move(mlps));
  }
  // The dataset copy used is task 0's.
  uint64_t buffers_version() const override { return DeviceResident::buffers_version() + first_.buffers_version(); }

 private:
  void size_buffers(int64_t K, int64_t per) {
    if (K * per == rows_) return;
    const std::vector<int64_t>& sizes = first_.sizes_;
    const int64_t B = K * per;
    int64_t widest = 0;
    for (size_t l = 0; l < sizes.size(); ++l) {
      a_[l].resize(B * sizes[l]);
      if (l > 0) widest = std::max(widest, sizes[l]);
    }
    delta_.resize(B * widest);
    back_.resize(B * widest);
    size_task_buffers(K, per);
  }

  std::vector<CudaMlp*> tasks_;
  CudaMlp& first_;
  std::vector<DeviceBuffer<float>> a_;
  DeviceBuffer<float> delta_, back_;
};

}  // namespace

std::unique_ptr<OptimizeeT<float>> make_mlp_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                 std::vector<int64_t> sizes, Activation act) {
  return std::make_unique<CudaMlp>(std::move(cpu_twin), data, std::move(sizes), act);
}

std::unique_ptr<DeviceOptimizee> make_mlp_tasks_cuda(const std::vector<OptimizeeT<float>*>& tasks) {
  return CudaMlpTasks::make(tasks);
}

}  // namespace l2o
