// ConvNet optimizee on the CUDA backend: the dataset lives on the device; a minibatch is gathered
// there from its indices; each block runs the conv/BN/ReLU/max-pool CUDA twins (kernels/conv.h), the
// FC layer is cuBLAS with the MLP's bias and softmax-cross-entropy kernels, the loss a CUB sum.
// Same computation, in the same order, as ConvNet<float>::loss_and_grad (optimizees/convnet.cpp).
// Initialisation and batch sampling are the CPU twin's, so both backends see the same instances.
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

  std::vector<ConvBlockLayout> layout_;
  bool relu_logits_;
  float bn_eps_;  // as the CPU twin's T(kBnEps)
  int64_t features_, classes_, dim_, off_fc_w_, off_fc_b_;
  std::vector<Act> blocks_;
  DeviceBuffer<float> x0_, col_, dcol_, da_, dp_, logits_, delta_;
};

}  // namespace

std::unique_ptr<OptimizeeT<float>> make_convnet_cuda(std::unique_ptr<OptimizeeT<float>> cpu_twin, const Dataset& data,
                                                     ConvNetLayout layout) {
  return std::make_unique<CudaConvNet>(std::move(cpu_twin), data, layout);
}

}  // namespace l2o
