// The batched MLP and ConvNet task paths (make_mlp_tasks_cuda, make_convnet_tasks_cuda: one launch
// per op for all K tasks) against the CPU task batch, and the per-task MLP ops against their CPU twins.
#include "kernels/device_resident.h"
#include "kernels/mlp_ops.h"
#include "optimizees/cuda_twin_optimizee.cuh"
#include "optimizees/task_batch.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

TEST_CASE("per-task bias and segment-sum ops: GPU matches the CPU twins", "[gpu][tasks]") {
  const int64_t tasks = 3, rows = 7, cols = 5, stride = 11;
  const auto z0 = random_floats(tasks * rows * cols, -2.0f, 2.0f, 1);
  const auto b = random_floats(tasks * stride, -1.0f, 1.0f, 2);
  for (bool act : {true, false}) {
    std::vector<float> z = z0;
    Guarded<float> d_b(b), d_z(z0);
    if (act) {
      bias_act_forward_tasks_cpu(tasks, rows, cols, b.data(), stride, Activation::sigmoid, z.data());
      bias_act_forward_tasks_cuda(tasks, rows, cols, d_b.data(), stride, Activation::sigmoid, d_z.data());
    } else {
      bias_add_tasks_cpu(tasks, rows, cols, b.data(), stride, z.data());
      bias_add_tasks_cuda(tasks, rows, cols, d_b.data(), stride, d_z.data());
    }
    require_close(d_z.get(), z, 1e-6, 1e-7, act ? "bias + sigmoid per task" : "bias per task");
  }
  std::vector<float> sums(tasks);
  Guarded<float> d_x(z0), d_sums{std::vector<float>(tasks)};
  segment_sums_cpu(tasks, rows * cols, z0.data(), 0.5f, sums.data());
  segment_sums_cuda(tasks, rows * cols, d_x.data(), 0.5f, d_sums.data());
  REQUIRE(d_sums.get() == sums);  // the same additions in the same order
}

TEST_CASE("K MLP tasks batched on the GPU match the CPU task batch", "[gpu][tasks]") {
  for (const char* name : {"mlp_orig", "mlp_deeper"}) {
    INFO(name);
    const ProblemConfig c = problem(name);
    const int K = 3;
    auto cpu = make_task_batch(c, K, Backend::cpu);
    auto gpu = make_task_batch(c, K, Backend::cuda);
    auto* dev = dynamic_cast<DeviceOptimizee*>(gpu.get());
    REQUIRE(dev);
    const int64_t n = cpu->num_params();
    std::vector<float> theta(n);
    cpu->init(5, theta.data());
    for (auto& x : theta) x *= 30.0f;  // away from the init, where the gradients are tiny
    Rng r(6, kStreamBatch);
    Batch batch;
    cpu->sample_batch(r, batch);
    std::vector<float> g_cpu(n);
    const float f_cpu = cpu->loss_and_grad(theta.data(), batch, g_cpu.data());

    const int64_t B = static_cast<int64_t>(batch.idx.size());
    Guarded<float> d_theta(theta), d_loss{std::vector<float>(1)}, d_grad{std::vector<float>(n)};
    Guarded<int32_t> d_idx(batch.idx);
    dev->loss_and_grad_device(d_theta.data(), d_idx.data(), B, d_loss.data(), d_grad.data());
    const float f_gpu = d_loss.get()[0];
    INFO("loss cpu " << f_cpu << ", gpu " << f_gpu);
    REQUIRE(std::fabs(f_gpu - f_cpu) <= 1e-5f * std::fabs(f_cpu));
    require_close(d_grad.get(), g_cpu, 1e-3, 1e-5, "gradient of K tasks");
    // Loss only: the gradient is left alone.
    Guarded<float> d_loss2{std::vector<float>(1)};
    dev->loss_and_grad_device(d_theta.data(), d_idx.data(), B, d_loss2.data(), nullptr);
    REQUIRE(d_loss2.get()[0] == f_gpu);
  }
}

TEST_CASE("K ConvNet tasks batched on the GPU match the CPU task batch", "[gpu][tasks][conv]") {
  // conv_cifar_standin: stride 2 (the col2im's skipped rows and columns).
  for (const char* name : {"conv_mnist", "conv_cifar_standin"}) {
    for (int64_t per : {int64_t(2), int64_t(3), int64_t(4)}) {
      if (std::string(name) != "conv_mnist" && per != 3) continue;
      INFO(name << ", " << per << " examples per task");
      ProblemConfig c = problem(name);
      c.batch_size = per;
      const int K = 3;
      auto cpu = make_task_batch(c, K, Backend::cpu);
      auto gpu = make_task_batch(c, K, Backend::cuda);
      auto* dev = dynamic_cast<DeviceOptimizee*>(gpu.get());
      REQUIRE(dev);
      std::vector<OptimizeeT<float>*> raw;
      for (int k = 0; k < K; ++k) raw.push_back(&gpu->task(k));
      REQUIRE(make_convnet_tasks_cuda(raw));  // so the batch runs the batched path
      REQUIRE(gpu->learner_frozen() == cpu->learner_frozen());  // BN gamma/beta of every task
      REQUIRE(!gpu->learner_frozen().empty());
      const int64_t n = cpu->num_params();
      std::vector<float> theta(n);
      cpu->init(4, theta.data());
      // Away from the init (gamma 1, beta 0, biases 0): every parameter moves, each task differently.
      Rng noise(5, 77);
      for (auto& x : theta) x += static_cast<float>(0.05 * noise.normal());
      Rng r(6, kStreamBatch);
      Batch batch;
      cpu->sample_batch(r, batch);
      REQUIRE(static_cast<int64_t>(batch.idx.size()) == K * per);
      std::vector<float> g_cpu(n);
      const float f_cpu = cpu->loss_and_grad(theta.data(), batch, g_cpu.data());

      const int64_t B = K * per;
      Guarded<float> d_theta(theta), d_loss{std::vector<float>(1)}, d_grad{std::vector<float>(n)};
      Guarded<int32_t> d_idx(batch.idx);
      dev->loss_and_grad_device(d_theta.data(), d_idx.data(), B, d_loss.data(), d_grad.data());
      const float f_gpu = d_loss.get()[0];
      INFO("loss cpu " << f_cpu << ", gpu " << f_gpu);
      REQUIRE(std::isfinite(f_cpu));
      REQUIRE(std::fabs(f_gpu - f_cpu) <= 2e-5f * std::fabs(f_cpu));
      const std::vector<float> g_gpu = d_grad.get();
      require_close(g_gpu, g_cpu, 2e-3, 2e-4, "gradient of K conv tasks");  // the ConvNet twin's tolerances
      // Deterministic, and loss only leaves the gradient alone.
      Guarded<float> d_loss2{std::vector<float>(1)}, d_grad2{std::vector<float>(n)};
      dev->loss_and_grad_device(d_theta.data(), d_idx.data(), B, d_loss2.data(), d_grad2.data());
      REQUIRE(d_loss2.get()[0] == f_gpu);
      REQUIRE(d_grad2.get() == g_gpu);
      Guarded<float> d_loss3{std::vector<float>(1)};
      dev->loss_and_grad_device(d_theta.data(), d_idx.data(), B, d_loss3.data(), nullptr);
      REQUIRE(d_loss3.get()[0] == f_gpu);
      // The host-array path (TaskBatch::loss_and_grad: the tasks one by one) agrees too; not bit for
      // bit, since the batched dW sums over the images inside one GEMM.
      std::vector<float> g_seq(n);
      const float f_seq = gpu->loss_and_grad(theta.data(), batch, g_seq.data());
      REQUIRE(std::fabs(f_seq - f_cpu) <= 2e-5f * std::fabs(f_cpu));
      require_close(g_seq, g_cpu, 2e-3, 2e-4, "gradient of the tasks one by one");
    }
  }
}
