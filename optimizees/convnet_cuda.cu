// ConvNet optimizee on the CUDA backend: the dataset lives on the device; a minibatch is gathered
// there from its indices; each block runs the conv/BN/ReLU/max-pool CUDA twins (kernels/conv.h), the
// FC layer is cuBLAS with the MLP's bias and softmax-cross-entropy kernels, the loss a CUB sum
// (a fixed tree: deterministic, but not the CPU's sequential order). The same computation, op for
// op, as ConvNet<float>::loss_and_grad (optimizees/convnet.cpp).
// Initialisation and batch sampling are the CPU twin's, so both backends see the same instances.
// CudaConvTasks runs K such nets (a task batch) with one launch per op for all tasks.
#include <algorithm>

#include "optimizees/cuda_optimizees.h"
#include "optimizees/cuda_twin_optimizee.cuh"
#include "kernels/conv.h"
#include "kernels/cuda_context.cuh"
#include "kernels/mlp_ops.h"

namespace l2o {

namespace {

class CudaConvNet : public CudaTwinOptimizee {
 public:
  CudaConvNet(std::unique_ptr<OptimizeeT<float>> host, const Dataset& data, const ConvNetLayout& layout)
      : CudaTwinOptimizee(std::move(host), data),
        data_(&data),
        layout_(layout.blocks),
        relu_logits_(layout.relu_logits),
        bn_eps_(static_cast<float>(layout.bn_eps)),
        features_(layout.features),
        classes_(data.num_classes),
        dim_(data.dim()),
        off_fc_w_(layout.off_fc_w),
        off_fc_b_(layout.off_fc_b) {
    L2O_CHECK(!layout_.empty() && features_ > 0 && layout.bn_eps > 0, "conv net without blocks or batch-norm epsilon");
    const ConvBlockLayout& last = layout_.back();
    const ConvShape& first = layout_.front().conv;
    L2O_CHECK(last.conv.c_out * last.ph * last.pw == features_ && first.c_in * first.h * first.w == dim_ &&
                  off_fc_b_ - off_fc_w_ == features_ * classes_ && off_fc_b_ + classes_ == host_->num_params(),
              "conv net layout does not match the CPU twin or the dataset");
    blocks_.resize(layout_.size());
  }

  void loss_and_grad_device(const float* d_theta, const int32_t* d_idx, int64_t B, float* d_loss,
                            float* d_grad) override {
    L2O_CHECK(B > 0, "empty batch");
    size_buffers(B);
    run(d_theta, d_idx, B, d_loss, d_grad);
    scale_cuda(1, 1.0f / static_cast<float>(B), d_loss);  // the batch mean, as the CPU divides the sum
  }

 private:
  friend class CudaConvTasks;

  // Whether o computes the same net on the same dataset (a task batch can share one computation).
  bool same_net(const CudaConvNet& o) const {
    if (data_ != o.data_ || layout_.size() != o.layout_.size() || relu_logits_ != o.relu_logits_ ||
        bn_eps_ != o.bn_eps_ || features_ != o.features_ || off_fc_w_ != o.off_fc_w_ || off_fc_b_ != o.off_fc_b_)
      return false;
    for (size_t l = 0; l < layout_.size(); ++l) {
      const ConvBlockLayout &a = layout_[l], &b = o.layout_[l];
      if (a.conv.c_in != b.conv.c_in || a.conv.h != b.conv.h || a.conv.w != b.conv.w || a.conv.c_out != b.conv.c_out ||
          a.conv.k != b.conv.k || a.conv.stride != b.conv.stride || a.off_w != b.off_w || a.off_b != b.off_b ||
          a.off_gamma != b.off_gamma || a.off_beta != b.off_beta)
        return false;
    }
    return true;
  }

  // On device arrays, asynchronous: d_loss[0] = the summed loss over the B examples d_idx at th,
  // g (may be null) = the gradient of the mean loss. size_buffers(B) must have run.
  void run(const float* th, const int32_t* d_idx, int64_t B, float* d_loss, float* g) {
    const int64_t nb = static_cast<int64_t>(layout_.size());
    gather_rows_cuda(B, dim_, images_.data(), labels_.data(), d_idx, x0_.data(), y_.data());
    // Forward: conv -> BN -> ReLU (in place) -> max-pool, block by block.
    const float* x = x0_.data();
    for (int64_t l = 0; l < nb; ++l) {
      const ConvBlockLayout& L = layout_[l];
      Act& a = blocks_[l];
      const ConvShape& s = L.conv;
      conv2d_forward_cuda(s, x, th + L.off_w, th + L.off_b, a.z.data(), col_.data());
      batchnorm_forward_cuda(B, s.c_out, s.col_cols(), a.z.data(), th + L.off_gamma, th + L.off_beta,
                             bn_eps_, a.a.data(), a.xhat.data(), a.inv_std.data());
      relu_forward_cuda(s.out_size(), a.a.data(), a.a.data());
      maxpool2x2_forward_cuda(B * s.c_out, s.h_out(), s.w_out(), a.a.data(), a.p.data(), a.argmax.data());
      x = a.p.data();
    }
    // FC: row-major logits (B, classes) = feat (B, features) W (features, classes), as column-major
    // logits^T = W^T feat^T (W and feat as stored); then the bias and the optional ReLU.
    cublasHandle_t h = cublas_handle();
    const float one = 1.0f, zero = 0.0f;
    const int F = static_cast<int>(features_), C = static_cast<int>(classes_), Bi = static_cast<int>(B);
    const float* fw = th + off_fc_w_;
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, C, Bi, F, &one, fw, C, x, F, &zero, logits_.data(), C));
    bias_add_cuda(B, classes_, th + off_fc_b_, logits_.data());
    if (relu_logits_) relu_forward_cuda(B * classes_, logits_.data(), logits_.data());
    softmax_xent_cuda(B, classes_, logits_.data(), y_.data(), 1.0f / static_cast<float>(B), loss_rows_.data(),
                      delta_.data());
    sum_cuda(B, loss_rows_.data(), d_loss, cub_ws_.data(), &cub_bytes_);
    if (!g) return;

    // Backward.
    if (relu_logits_) relu_backward_cuda(B * classes_, logits_.data(), delta_.data(), delta_.data());
    // gW (features, classes) = feat^T delta: column-major gW^T (C, F) = delta^T (C, B) feat (B, F).
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, C, F, Bi, &one, delta_.data(), C, x, F, &zero,
                             g + off_fc_w_, C));
    // gb (classes) = column sums of delta (B, classes).
    CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, C, Bi, &one, delta_.data(), C, ones_.data(), 1, &zero, g + off_fc_b_, 1));
    // dp (B, features) = delta W^T: column-major dp^T (F, B) = W (F, C) delta^T (C, B).
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, F, Bi, C, &one, fw, C, delta_.data(), C, &zero, dp_.data(),
                             F));
    for (int64_t l = nb - 1; l >= 0; --l) {
      const ConvBlockLayout& L = layout_[l];
      Act& a = blocks_[l];
      const ConvShape& s = L.conv;
      const int64_t count = s.out_size();
      maxpool2x2_backward_cuda(B * s.c_out, s.h_out(), s.w_out(), dp_.data(), a.argmax.data(), da_.data());
      relu_backward_cuda(count, a.a.data(), da_.data(), da_.data());
      batchnorm_backward_cuda(B, s.c_out, s.col_cols(), da_.data(), a.xhat.data(), th + L.off_gamma,
                              a.inv_std.data(), da_.data(), g + L.off_gamma, g + L.off_beta);
      const float* xin = l == 0 ? x0_.data() : blocks_[l - 1].p.data();
      // dL/d(previous block's pooled output) into dp (its contents were consumed by the max-pool backward).
      conv2d_backward_cuda(s, xin, th + L.off_w, da_.data(), l > 0 ? dp_.data() : static_cast<float*>(nullptr),
                           g + L.off_w, g + L.off_b, col_.data(), dcol_.data());
    }
  }

  struct Act {                       // one block's activations, B = batch size
    DeviceBuffer<float> z, xhat, a;  // conv out, BN xhat, ReLU(BN out): (B, c_out, h_out, w_out) each
    DeviceBuffer<float> p;           // pooled (B, c_out, ph, pw)
    DeviceBuffer<float> inv_std;     // (c_out)
    DeviceBuffer<int32_t> argmax;    // (B, c_out, ph, pw)
  };

  // Sized once per batch size (the training loop keeps one), never inside a step otherwise.
  void size_buffers(int64_t B) {
    if (B == batch_) return;
    int64_t col = 0, dcol = 0, widest = features_, widest_out = 0;
    for (size_t l = 0; l < layout_.size(); ++l) {
      ConvBlockLayout& L = layout_[l];
      L.conv.n = B;
      Act& a = blocks_[l];
      const int64_t count = L.conv.out_size(), pooled = B * L.conv.c_out * L.ph * L.pw;
      a.z.resize(count);
      a.xhat.resize(count);
      a.a.resize(count);
      a.p.resize(pooled);
      a.argmax.resize(pooled);
      a.inv_std.resize(L.conv.c_out);
      col = std::max(col, L.conv.cuda_col_size());  // the conv twins' batch-wide workspaces
      dcol = std::max(dcol, L.conv.cuda_dcol_size());
      widest_out = std::max(widest_out, count);
      if (l > 0) widest = std::max(widest, L.conv.in_size() / B);  // a dL/dinput that is kept (not block 0's)
    }
    x0_.resize(B * dim_);
    col_.resize(col);
    dcol_.resize(dcol);
    da_.resize(widest_out);
    dp_.resize(B * widest);
    logits_.resize(B * classes_);
    delta_.resize(B * classes_);
    size_batch_buffers(B);
  }

  const Dataset* data_;  // the host dataset (cached by load_dataset): tasks on one dataset can share
  std::vector<ConvBlockLayout> layout_;
  bool relu_logits_;
  float bn_eps_;  // as the CPU twin's T(kBnEps)
  int64_t features_, classes_, dim_, off_fc_w_, off_fc_b_;
  std::vector<Act> blocks_;
  DeviceBuffer<float> x0_, col_, dcol_, da_, dp_, logits_, delta_;
};

// K conv nets of one architecture on one dataset: CudaConvNet's computation for all tasks at once.
// Task k's theta and gradient are at k n, its `per` examples rows [k per, k per + per) of the
// gathered input. Between the conv and the FC layer activations are in the task layout (K, c, per,
// h, w) (kernels/conv.h): each conv is one GEMM over K with the weight stride n, and batch norm sees
// K c groups with per-task gamma/beta. Max-pool and ReLU do not care about the layout; one axis swap
// each way puts the features in CudaConvNet's (example, c, h, w) order for the FC layer, which is
// CudaMlpTasks' strided-batched GEMMs. Uses task 0's device copy of the dataset.
class CudaConvTasks : public CudaTaskBatchBuffers {
 public:
  explicit CudaConvTasks(std::vector<CudaConvNet*> tasks)
      : tasks_(std::move(tasks)), f_(*tasks_.front()), layout_(f_.layout_), blocks_(layout_.size()) {}

  void loss_and_grad_device(const float* th, const int32_t* d_idx, int64_t B, float* d_loss, float* g) override {
    const int64_t K = static_cast<int64_t>(tasks_.size()), per = B / K, n = f_.num_params();
    L2O_CHECK(per * K == B && per > 0, "batch of " << B << " does not split into " << K << " tasks");
    const int64_t nb = static_cast<int64_t>(layout_.size()), C = f_.classes_, F = f_.features_;
    size_buffers(K, per);
    gather_rows_cuda(B, f_.dim_, f_.images_.data(), f_.labels_.data(), d_idx, x0_.data(), y_.data());
    const float* x = x0_.data();
    for (int64_t l = 0; l < nb; ++l) {
      const ConvBlockLayout& L = layout_[l];
      CudaConvNet::Act& a = blocks_[l];
      const ConvShape& s = L.conv;
      const int64_t len = per * s.col_cols();
      conv2d_forward_tasks_cuda(s, K, n, l == 0, x, th + L.off_w, th + L.off_b, a.z.data(), col_.data());
      batchnorm_forward_tasks_cuda(K, s.c_out, len, a.z.data(), th + L.off_gamma, th + L.off_beta, n, f_.bn_eps_,
                                   a.a.data(), a.xhat.data(), a.inv_std.data());
      relu_forward_cuda(B * s.c_out * s.col_cols(), a.a.data(), a.a.data());
      maxpool2x2_forward_cuda(B * s.c_out, s.h_out(), s.w_out(), a.a.data(), a.p.data(), a.argmax.data());
      x = a.p.data();
    }
    const ConvBlockLayout& last = layout_.back();
    const int64_t c_last = last.conv.c_out, plane = last.ph * last.pw;
    swap_axes_cuda(K, c_last, per, plane, x, feat_.data());  // (K, c, per, hw) -> (K per, features)
    // Per task, as CudaConvNet: column-major logits_k^T (C, per) = W_k^T feat_k^T.
    cublasHandle_t h = cublas_handle();
    const float one = 1.0f, zero = 0.0f;
    const int Ki = static_cast<int>(K), P = static_cast<int>(per), Fi = static_cast<int>(F), Ci = static_cast<int>(C);
    const float* fw = th + f_.off_fc_w_;
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, Ci, P, Fi, &one, fw, Ci, n, feat_.data(), Fi,
                                           per * F, &zero, logits_.data(), Ci, per * C, Ki));
    bias_add_tasks_cuda(K, per, C, th + f_.off_fc_b_, n, logits_.data());
    if (f_.relu_logits_) relu_forward_cuda(B * C, logits_.data(), logits_.data());
    softmax_xent_cuda(B, C, logits_.data(), y_.data(), 1.0f / static_cast<float>(per), loss_rows_.data(),
                      delta_.data());
    // Each task's mean loss, then their sum in task order (the task batch's loss).
    segment_sums_cuda(K, per, loss_rows_.data(), 1.0f / static_cast<float>(per), task_loss_.data());
    segment_sums_cuda(1, K, task_loss_.data(), 1.0f, d_loss);
    if (!g) return;

    if (f_.relu_logits_) relu_backward_cuda(B * C, logits_.data(), delta_.data(), delta_.data());
    // gW_k^T (C, F) = delta_k^T (C, per) feat_k (per, F); gb_k = column sums of delta_k.
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, Ci, Fi, P, &one, delta_.data(), Ci, per * C,
                                           feat_.data(), Fi, per * F, &zero, g + f_.off_fc_w_, Ci, n, Ki));
    CUBLAS_CHECK(cublasSgemvStridedBatched(h, CUBLAS_OP_N, Ci, P, &one, delta_.data(), Ci, per * C, ones_.data(), 1, 0,
                                           &zero, g + f_.off_fc_b_, 1, n, Ki));
    // dfeat_k^T (F, per) = W_k (F, C) delta_k^T into feat_ (read for the last time above), then back
    // to the task layout in dp_.
    CUBLAS_CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, Fi, P, Ci, &one, fw, Ci, n, delta_.data(), Ci,
                                           per * C, &zero, feat_.data(), Fi, per * F, Ki));
    swap_axes_cuda(K, per, c_last, plane, feat_.data(), dp_.data());
    for (int64_t l = nb - 1; l >= 0; --l) {
      const ConvBlockLayout& L = layout_[l];
      CudaConvNet::Act& a = blocks_[l];
      const ConvShape& s = L.conv;
      const int64_t len = per * s.col_cols(), count = B * s.c_out * s.col_cols();
      maxpool2x2_backward_cuda(B * s.c_out, s.h_out(), s.w_out(), dp_.data(), a.argmax.data(), da_.data());
      relu_backward_cuda(count, a.a.data(), da_.data(), da_.data());
      batchnorm_backward_tasks_cuda(K, s.c_out, len, da_.data(), a.xhat.data(), th + L.off_gamma, a.inv_std.data(), n,
                                    da_.data(), g + L.off_gamma, g + L.off_beta);
      const float* xin = l == 0 ? x0_.data() : blocks_[l - 1].p.data();
      conv2d_backward_tasks_cuda(s, K, n, l == 0, xin, th + L.off_w, da_.data(),
                                 l > 0 ? dp_.data() : static_cast<float*>(nullptr), g + L.off_w, g + L.off_b,
                                 col_.data(), dcol_.data());
    }
  }
  // Null unless the tasks are at least 2 CudaConvNets of one architecture on one dataset.
  static std::unique_ptr<DeviceOptimizee> make(const std::vector<OptimizeeT<float>*>& tasks) {
    std::vector<CudaConvNet*> nets;
    for (OptimizeeT<float>* t : tasks) {
      auto* c = dynamic_cast<CudaConvNet*>(t);
      if (!c || (!nets.empty() && !c->same_net(*nets.front()))) return nullptr;
      nets.push_back(c);
    }
    if (nets.size() < 2) return nullptr;
    return std::make_unique<CudaConvTasks>(std::move(nets));
  }
  // The dataset copy used is task 0's.
  uint64_t buffers_version() const override { return DeviceResident::buffers_version() + f_.buffers_version(); }

 private:
  void size_buffers(int64_t K, int64_t per) {
    const int64_t B = K * per;
    if (B == rows_) return;
    int64_t col = 0, widest = f_.features_, widest_out = 0;
    for (size_t l = 0; l < layout_.size(); ++l) {
      ConvBlockLayout& L = layout_[l];
      L.conv.n = per;  // the images of one task
      CudaConvNet::Act& a = blocks_[l];
      const int64_t count = B * L.conv.c_out * L.conv.col_cols(), pooled = B * L.conv.c_out * L.ph * L.pw;
      a.z.resize(count);
      a.xhat.resize(count);
      a.a.resize(count);
      a.p.resize(pooled);
      a.argmax.resize(pooled);
      a.inv_std.resize(K * L.conv.c_out);
      col = std::max(col, K * L.conv.cuda_col_size());  // = dcol's size: no per-image weight partials
      widest_out = std::max(widest_out, count);
      if (l > 0) widest = std::max(widest, L.conv.c_in * L.conv.h * L.conv.w);
    }
    x0_.resize(B * f_.dim_);
    col_.resize(col);
    dcol_.resize(col);
    da_.resize(widest_out);
    dp_.resize(B * widest);
    feat_.resize(B * f_.features_);
    logits_.resize(B * f_.classes_);
    delta_.resize(B * f_.classes_);
    size_task_buffers(K, per);
  }

  std::vector<CudaConvNet*> tasks_;
  CudaConvNet& f_;                        // task 0: dataset, shapes, offsets
  std::vector<ConvBlockLayout> layout_;   // f_'s, with conv.n = per
  std::vector<CudaConvNet::Act> blocks_;  // K tasks' activations (task layout); inv_std (K, c_out)
  DeviceBuffer<float> x0_, col_, dcol_, da_, dp_, feat_, logits_, delta_;
};

}  // namespace

std::unique_ptr<DeviceOptimizee> make_convnet_tasks_cuda(const std::vector<OptimizeeT<float>*>& tasks) {
  return CudaConvTasks::make(tasks);
}

std::unique_ptr<OptimizeeT<float>> make_convnet_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                     ConvNetLayout layout) {
  return std::make_unique<CudaConvNet>(std::move(cpu_twin), data, layout);
}

}  // namespace l2o
