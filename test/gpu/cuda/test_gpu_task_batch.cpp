// The batched MLP task path (make_mlp_tasks_cuda: one launch per op for all K tasks) against the
// CPU task batch, and its per-task ops against their CPU twins.
#include "kernels/device_resident.h"
#include "kernels/mlp_ops.h"
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
