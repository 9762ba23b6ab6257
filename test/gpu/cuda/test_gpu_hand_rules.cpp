// The hand-designed optimizers as UpdateRules on the CUDA backend (learners/hand_optimizers_cuda.cu)
// against their CPU twins: every rule, three steps, from each rule's own starting state.
#include "learners/hand_optimizers.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

TEST_CASE("hand-designed rules on the CUDA backend match the CPU rules over three steps", "[gpu][optim]") {
  for (int64_t n : sizes()) {
    for (const auto& type : hand_optimizer_names()) {
      INFO("n = " << n << ", " << type);
      HandOptimizerConfig cfg;
      cfg.type = type;
      cfg.lr = default_lr(type);
      auto cpu = make_hand_optimizer(cfg, Backend::cpu);
      auto gpu = make_hand_optimizer(cfg, Backend::cuda);
      REQUIRE(gpu->name() == cpu->name());
      cpu->reset(n);
      gpu->reset(n);
      std::vector<float> u_cpu(n), u_gpu(n);
      for (int t = 0; t < 3; ++t) {
        const auto g = random_floats(n, -1.0f, 1.0f, 60 + t);
        cpu->update(g.data(), u_cpu.data());
        gpu->update(g.data(), u_gpu.data());
        require_close(u_gpu, u_cpu, 1e-5, 1e-6, "update");
      }
    }
  }
}
