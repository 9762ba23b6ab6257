// End to end on both backends: the MLP optimizee's loss and gradient, and 20 meta-iterations of
// L2O-DM on MLP-orig giving the same meta-loss curve.
#include <cstdlib>

#include "engine/backend.h"
#include "engine/learner_io.h"
#include "engine/meta_step.h"
#include "engine/segment.h"
#include "optimizees/task_batch.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

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
      std::vector<float> theta(n), theta_gpu(n);
      cpu->init(4, theta.data());
      gpu->init(4, theta_gpu.data());
      REQUIRE(theta_gpu == theta);  // the same instance
      for (auto& x : theta) x *= 30.0f;  // away from the init, where the gradients are tiny
      const TwinLossGrad t = twin_loss_and_grad(*cpu, *gpu, theta);
      REQUIRE(std::fabs(t.f_gpu - t.f_cpu) <= 1e-5f * std::fabs(t.f_cpu));
      require_close(t.g_gpu, t.g_cpu, 1e-3, 1e-4, "gradient");
      REQUIRE(gpu->loss_and_grad(theta.data(), t.batch, nullptr) == t.f_gpu);  // loss only: same value
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
  const int64_t p = l_cpu->num_params(), unroll = 20;
  // The trainer's meta-iteration (engine/meta_step.h) on each backend from the same weights and
  // instance, one epoch of 20 segments.
  std::vector<double> losses[2];
  std::vector<float> dphi_first[2];
  LearnerT<float>* learners[2] = {l_cpu.get(), l_gpu.get()};
  OptimizeeT<float>* opts[2] = {o_cpu.get(), o_gpu.get()};
  for (int k = 0; k < 2; ++k) {
    std::vector<float> phi(p), m(p, 0.0f), v(p, 0.0f);
    int64_t adam_step = 0;
    l_cpu->init_params(1, phi.data());
    MetaStep meta_step(*learners[k], *opts[k], unroll);
    MetaOptimizer meta(MetaOptimizerSpec{}, 0.0, m, v, adam_step);
    meta_step.begin_epoch(2);
    for (int64_t it = 0; it < 20; ++it) {
      const MetaStepResult res = meta_step.step(phi, meta);
      REQUIRE(res.finite);
      losses[k].push_back(res.loss);
      if (it == 0) dphi_first[k] = meta_step.dphi();
    }
  }
  require_close(dphi_first[1], dphi_first[0], 2e-3, 2e-4, "first meta-gradient");
  for (size_t i = 0; i < losses[0].size(); ++i) {
    INFO("meta-iteration " << i << ": cpu " << losses[0][i] << ", cuda " << losses[1][i]);
    REQUIRE(std::fabs(losses[1][i] - losses[0][i]) <= 1e-3 * std::fabs(losses[0][i]));
  }
  std::printf("meta-loss cpu %.6f -> %.6f, cuda %.6f -> %.6f over 20 meta-iterations\n", losses[0].front(),
              losses[0].back(), losses[1].front(), losses[1].back());
}

namespace {

// Hides the learner's device entry points, so meta_segment takes the per-step host path.
class HostPathLearner : public LearnerT<float> {
 public:
  explicit HostPathLearner(LearnerT<float>& l) : l_(l) {}
  std::string type() const override { return l_.type(); }
  int64_t num_params() const override { return l_.num_params(); }
  const std::vector<ParamBlock>& param_blocks() const override { return l_.param_blocks(); }
  void init_params(uint64_t seed, float* phi) const override { l_.init_params(seed, phi); }
  int64_t saved_floats_per_coordinate_step() const override { return l_.saved_floats_per_coordinate_step(); }
  void reset(int64_t n, int64_t max_steps) override { l_.reset(n, max_steps); }
  void zero_state() override { l_.zero_state(); }
  void begin_segment() override { l_.begin_segment(); }
  void step(const float* phi, const float* g, float* u, bool save) override { l_.step(phi, g, u, save); }
  int64_t saved_steps() const override { return l_.saved_steps(); }
  void backward(const float* phi, const float* dl_du, float* dphi) override { l_.backward(phi, dl_du, dphi); }

 private:
  LearnerT<float>& l_;
};

}  // namespace

TEST_CASE("the device-resident segment equals the per-step host path on the CUDA backend", "[gpu][train]") {
  // Without and with CUDA graph replay (segment 1 eager + capture, segments 2 and 3 replayed).
  const bool graph = GENERATE(false, true);
  INFO("L2O_CUDA_GRAPH " << graph);
  if (graph) {
    setenv("L2O_CUDA_GRAPH", "1", 1);
  } else {
    unsetenv("L2O_CUDA_GRAPH");
  }
  nlohmann::json cfg = nlohmann::json::object();
  auto l_dev = make_learner<float>(SpecNode(cfg, "$.learner"), Backend::cuda);
  auto l_host_inner = make_learner<float>(SpecNode(cfg, "$.learner"), Backend::cuda);
  HostPathLearner l_host(*l_host_inner);
  auto opt = make_optimizee<float>(problem("mlp_orig"), Backend::cuda);
  const int64_t n = opt->num_params(), p = l_dev->num_params(), unroll = 20;
  std::vector<float> phi(p);
  l_dev->init_params(1, phi.data());
  LearnerT<float>* learners[2] = {l_dev.get(), &l_host};
  std::vector<float> theta[2], dphi[2];
  std::vector<double> losses[2];
  const CudaGraphStats before = cuda_graph_stats();
  for (int k = 0; k < 2; ++k) {
    theta[k].resize(n);
    opt->init(2, theta[k].data());
    dphi[k].resize(p);
    learners[k]->reset(n, unroll);
    Rng batches(3, kStreamBatch);
    std::vector<float> dl_du, u;
    for (int s = 0; s < 3; ++s) {  // three segments: the recurrent state carries across them
      auto r = meta_segment<float>(*learners[k], phi.data(), *opt, theta[k].data(), batches, unroll, dl_du, u,
                                   dphi[k].data());
      REQUIRE(r.finite);
      losses[k].push_back(r.meta_loss);
    }
  }
  // The same kernels in the same order; only where theta += u runs differs (an exact float add).
  require_close(theta[0], theta[1], 1e-6, 1e-7, "theta after three segments");
  require_close(dphi[0], dphi[1], 1e-5, 1e-6, "dphi of the third segment");
  for (int s = 0; s < 3; ++s) REQUIRE(std::fabs(losses[0][s] - losses[1][s]) <= 1e-6 * std::fabs(losses[1][s]));
  REQUIRE(l_dev->saved_steps() == unroll);  // the replay's host bookkeeping
  // Three equal segments: one capture (after the first, eager one), then two replays.
  const CudaGraphStats after = cuda_graph_stats();
  REQUIRE(after.capture_failures == before.capture_failures);
  REQUIRE(after.captures - before.captures == (graph ? 1 : 0));
  REQUIRE(after.replays - before.replays == (graph ? 2 : 0));
  unsetenv("L2O_CUDA_GRAPH");
}

TEST_CASE("CUDA graphs: alternating segment shapes replay from the cache instead of re-capturing",
          "[gpu][train]") {
  setenv("L2O_CUDA_GRAPH", "1", 1);
  nlohmann::json cfg = nlohmann::json::object();
  struct Shape {
    std::unique_ptr<LearnerT<float>> learner;
    std::unique_ptr<TaskBatch> opt;
    std::vector<float> theta, dphi, dl_du, u;
  };
  Shape shapes[2];
  const int tasks[2] = {1, 8};
  std::vector<float> phi;
  for (int k = 0; k < 2; ++k) {
    shapes[k].learner = make_learner<float>(SpecNode(cfg, "$.learner"), Backend::cuda);
    shapes[k].opt = make_task_batch(problem("mlp_orig"), tasks[k], Backend::cuda);
    const int64_t n = shapes[k].opt->num_params();
    shapes[k].learner->reset(n, 20);
    shapes[k].theta.resize(n);
    shapes[k].opt->init(5, shapes[k].theta.data());
    phi.resize(shapes[k].learner->num_params());
    shapes[k].learner->init_params(1, phi.data());
    shapes[k].dphi.resize(phi.size());
  }
  const CudaGraphStats before = cuda_graph_stats();
  Rng batches(6, kStreamBatch);
  for (int round = 0; round < 3; ++round)
    for (auto& s : shapes) {  // K = 1, K = 8, K = 1, ... as bench_backends alternates them
      auto r = meta_segment<float>(*s.learner, phi.data(), *s.opt, s.theta.data(), batches, 20, s.dl_du, s.u,
                                   s.dphi.data());
      REQUIRE(r.finite);
    }
  const CudaGraphStats after = cuda_graph_stats();
  REQUIRE(after.captures - before.captures == 2);
  REQUIRE(after.replays - before.replays == 4);
  unsetenv("L2O_CUDA_GRAPH");
}

TEST_CASE("K = 3 tasks: a meta-segment on the CUDA backend matches the CPU", "[gpu][train][tasks]") {
  nlohmann::json cfg = nlohmann::json::object();
  const ProblemConfig c = problem("mlp_orig");
  double meta_loss[2];
  std::vector<float> dphi[2];
  const Backend backends[2] = {Backend::cpu, Backend::cuda};
  for (int k = 0; k < 2; ++k) {
    auto learner = make_learner<float>(SpecNode(cfg, "$.learner"), backends[k]);
    auto tasks = make_task_batch(c, 3, backends[k]);
    const int64_t n = tasks->num_params(), p = learner->num_params();
    std::vector<float> phi(p), theta(n), dl_du, u;
    learner->init_params(1, phi.data());
    tasks->init(2, theta.data());
    learner->reset(n, 20);
    dphi[k].resize(p);
    Rng batches(3, kStreamBatch);
    auto r = meta_segment<float>(*learner, phi.data(), *tasks, theta.data(), batches, 20, dl_du, u, dphi[k].data());
    REQUIRE(r.finite);
    meta_loss[k] = r.meta_loss;
  }
  INFO("meta-loss cpu " << meta_loss[0] << ", cuda " << meta_loss[1]);
  REQUIRE(std::fabs(meta_loss[1] - meta_loss[0]) <= 1e-4 * std::fabs(meta_loss[0]));
  require_close(dphi[1], dphi[0], 2e-3, 2e-4, "dphi over 3 tasks");
}
