// End to end on both backends: the MLP optimizee's loss and gradient, and 20 meta-iterations of
// L2O-DM on MLP-orig giving the same meta-loss curve.
#include "engine/backend.h"
#include "engine/segment.h"
#include "kernels/optim.h"
#include "learners/learner_factory.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

ProblemConfig problem(const std::string& name) {
  ProblemConfig c = problem_config_by_name(name);
  c.data_dir = L2O_SOURCE_DIR "/data";
  return c;
}

}  // namespace

TEST_CASE("MLP optimizee: loss and gradient agree on both backends", "[gpu][mlp]") {
  for (const char* name : {"mlp_orig", "mlp_relu", "mlp_deeper"}) {
    for (int64_t batch : {int64_t(1), int64_t(7), int64_t(128)}) {
      INFO(name << ", batch " << batch);
      ProblemConfig c = problem(name);
      c.batch_size = batch;
      auto cpu = make_optimizee<float>(c, Backend::cpu);
      auto gpu = make_optimizee<float>(c, Backend::cuda);
      REQUIRE(gpu->num_params() == cpu->num_params());
      REQUIRE(gpu->name() == cpu->name());
      const int64_t n = cpu->num_params();
      std::vector<float> theta(n), theta_gpu(n), g_cpu(n), g_gpu(n);
      cpu->init(4, theta.data());
      gpu->init(4, theta_gpu.data());
      REQUIRE(theta_gpu == theta);  // the same instance
      for (auto& x : theta) x *= 30.0f;  // away from the init, where the gradients are tiny
      Rng r1(9, kStreamBatch), r2(9, kStreamBatch);
      Batch b1, b2;
      cpu->sample_batch(r1, b1);
      gpu->sample_batch(r2, b2);
      REQUIRE(b1.idx == b2.idx);
      const float f_cpu = cpu->loss_and_grad(theta.data(), b1, g_cpu.data());
      const float f_gpu = gpu->loss_and_grad(theta.data(), b2, g_gpu.data());
      REQUIRE(std::fabs(f_gpu - f_cpu) <= 1e-5f * std::fabs(f_cpu));
      require_close(g_gpu, g_cpu, 1e-3, 1e-4, "gradient");
      REQUIRE(gpu->loss_and_grad(theta.data(), b2, nullptr) == f_gpu);  // loss only: same value
    }
  }
}

TEST_CASE("20 meta-iterations of L2O-DM on MLP-orig give the same meta-loss curve on both backends",
          "[gpu][train]") {
  nlohmann::json cfg = nlohmann::json::object();
  auto l_cpu = make_learner<float>(SpecNode(cfg, "$.learner"), Backend::cpu);
  auto l_gpu = make_learner<float>(SpecNode(cfg, "$.learner"), Backend::cuda);
  const ProblemConfig c = problem("mlp_orig");
  auto o_cpu = make_optimizee<float>(c, Backend::cpu);
  auto o_gpu = make_optimizee<float>(c, Backend::cuda);
  const int64_t n = o_cpu->num_params(), p = l_cpu->num_params(), unroll = 20;
  struct Run {
    Run(LearnerT<float>* l, OptimizeeT<float>* o) : learner(l), opt(o) {}
    LearnerT<float>* learner;
    OptimizeeT<float>* opt;
    std::vector<float> phi, theta, m, v, dphi, dl_du, u;
    std::vector<double> losses;
  };
  Run runs[2] = {Run(l_cpu.get(), o_cpu.get()), Run(l_gpu.get(), o_gpu.get())};
  std::vector<float> dphi_first[2];
  for (int k = 0; k < 2; ++k) {
    Run& r = runs[k];
    r.phi.resize(p);
    l_cpu->init_params(1, r.phi.data());
    r.theta.resize(n);
    r.opt->init(2, r.theta.data());
    r.m.assign(p, 0.0f);
    r.v.assign(p, 0.0f);
    r.dphi.resize(p);
    r.learner->reset(n, unroll);
    Rng batches(3, kStreamBatch);
    for (int64_t it = 0; it < 20; ++it) {
      auto res = meta_segment<float>(*r.learner, r.phi.data(), *r.opt, r.theta.data(), batches, unroll, r.dl_du, r.u,
                                     r.dphi.data());
      REQUIRE(res.finite);
      r.losses.push_back(res.meta_loss);
      if (it == 0) dphi_first[k] = r.dphi;
      adam_apply_cpu(p, r.phi.data(), r.dphi.data(), r.m.data(), r.v.data(), 0.001f, 0.9f, 0.999f, 1e-8f, it + 1);
    }
  }
  require_close(dphi_first[1], dphi_first[0], 2e-3, 2e-4, "first meta-gradient");
  for (size_t i = 0; i < runs[0].losses.size(); ++i) {
    INFO("meta-iteration " << i << ": cpu " << runs[0].losses[i] << ", cuda " << runs[1].losses[i]);
    REQUIRE(std::fabs(runs[1].losses[i] - runs[0].losses[i]) <= 1e-3 * std::fabs(runs[0].losses[i]));
  }
  std::printf("meta-loss cpu %.6f -> %.6f, cuda %.6f -> %.6f over 20 meta-iterations\n", runs[0].losses.front(),
              runs[0].losses.back(), runs[1].losses.front(), runs[1].losses.back());
}
