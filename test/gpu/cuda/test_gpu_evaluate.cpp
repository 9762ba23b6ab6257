// The device-resident evaluation rollout (engine/cuda_evaluate.cu) against evaluate()'s per-step
// host path on the CUDA backend: learned and hand-designed rules, chunk boundaries, the frozen
// batch-norm coordinates of a ConvNet, and a divergence in the middle of a chunk.
#include <cmath>
#include <memory>

#include "engine/evaluate.h"
#include "kernels/device_resident.h"
#include "kernels/optim.h"
#include "learners/hand_optimizers.h"
#include "learners/learned_rule.h"
#include "learners/learner_factory.h"
#include "test/gpu/cuda/gpu_compare.h"

using namespace l2o;
using namespace l2o_gpu;

namespace {

// Forwards to a rule but is neither a LearnedRule nor a DeviceUpdateRule, so evaluate() runs the
// per-step host loop with it.
class HostPathRule : public UpdateRule {
 public:
  explicit HostPathRule(UpdateRule& r) : r_(r) {}
  std::string name() const override { return r_.name(); }
  void reset(int64_t n) override { r_.reset(n); }
  void update(const float* g, float* u) override { r_.update(g, u); }
  bool learned() const override { return r_.learned(); }

 private:
  UpdateRule& r_;
};

std::unique_ptr<LearnedRule> learned_rule(const std::string& type) {
  LearnerConfig cfg;
  cfg.type = type;
  auto l = make_learner<float>(cfg, Backend::cuda);
  std::vector<float> phi(l->num_params());
  l->init_params(7, phi.data());
  return std::make_unique<LearnedRule>(std::move(l), std::move(phi), type);
}

// SGD whose update number `nan_at` (0-based) has lr = NaN: every coordinate of theta becomes NaN.
class NanAtRule : public UpdateRule, public DeviceUpdateRule {
 public:
  explicit NanAtRule(int64_t nan_at) : nan_at_(nan_at) {}
  std::string name() const override { return "nan_at"; }
  void reset(int64_t n) override {
    n_ = n;
    calls_ = 0;
  }
  void update(const float* g, float* u) override { sgd_update_cpu(n_, g, u, next_lr()); }
  void update_device(const float* g, float* u) override { sgd_update_cuda(n_, g, u, next_lr()); }

 private:
  float next_lr() { return calls_++ == nan_at_ ? NAN : 0.1f; }
  int64_t nan_at_, n_ = 0, calls_ = 0;
};

// Same kernels in the same order on both paths; only where theta += u runs differs (an exact add).
void require_same_curve(const std::vector<float>& dev, const std::vector<float>& host) {
  REQUIRE(dev.size() == host.size());
  for (size_t t = 0; t < host.size(); ++t) {
    INFO("step " << t << ": device " << dev[t] << ", host " << host[t]);
    REQUIRE(std::fabs(dev[t] - host[t]) <= 1e-6 * std::fabs(host[t]));
  }
}

void require_same_results(const EvalResult& dev, const EvalResult& host) {
  REQUIRE(dev.diverged == host.diverged);
  REQUIRE(dev.losses.size() == host.losses.size());
  for (size_t k = 0; k < host.losses.size(); ++k) {
    INFO("seed " << host.seeds[k]);
    require_same_curve(dev.losses[k], host.losses[k]);
  }
}

// One seed through evaluate_rollout_device directly, in chunks of `chunk` steps.
std::vector<float> direct_rollout(UpdateRule& rule, OptimizeeT<float>& opt, uint64_t seed, int64_t steps,
                                  int64_t chunk, bool* diverged) {
  std::vector<float> theta(opt.num_params()), curve;
  opt.init(seed, theta.data());
  Rng batches(seed, kStreamBatch);
  rule.reset(opt.num_params());
  const CoordRanges frozen = rule.learned() ? opt.learner_frozen() : CoordRanges{};
  REQUIRE(evaluate_rollout_device(rule, opt, frozen, theta.data(), batches, steps, &curve, diverged, chunk));
  return curve;
}

}  // namespace

TEST_CASE("device evaluation rollout: learned rules give the host path's curves", "[gpu][evaluate]") {
  const std::string type = GENERATE(std::string("l2o_dm"), std::string("rnnprop"));
  INFO(type);
  const ProblemConfig c = problem("mlp_orig");
  const int64_t steps = 40;
  auto rule = learned_rule(type);
  HostPathRule host(*rule);
  const EvalResult h = evaluate(host, type, "mlp_orig", c, steps, {1, 2}, Backend::cuda);
  const EvalResult d = evaluate(*rule, type, "mlp_orig", c, steps, {1, 2}, Backend::cuda);
  REQUIRE(h.diverged == 0);
  require_same_results(d, h);
  // Chunk boundaries: one step per chunk, a ragged last chunk, exactly steps + 1, more than that.
  auto opt = make_optimizee<float>(c, Backend::cuda);
  for (int64_t chunk : {int64_t(1), int64_t(7), steps + 1, int64_t(500)}) {
    INFO("chunk " << chunk);
    bool diverged = true;
    require_same_curve(direct_rollout(*rule, *opt, 1, steps, chunk, &diverged), h.losses[0]);
    REQUIRE(!diverged);
  }
  // The host-path wrapper has no device path.
  std::vector<float> theta(opt->num_params()), curve;
  Rng batches(1, kStreamBatch);
  bool diverged = false;
  REQUIRE(!evaluate_rollout_device(host, *opt, {}, theta.data(), batches, steps, &curve, &diverged));
}

TEST_CASE("device evaluation rollout: hand-designed rules give the host path's curves", "[gpu][evaluate]") {
  const ProblemConfig c = problem("mlp_orig");
  for (const auto& type : hand_optimizer_names()) {
    INFO(type);
    HandOptimizerConfig cfg;
    cfg.type = type;
    cfg.lr = default_lr(type);
    auto rule = make_hand_optimizer(cfg, Backend::cuda);
    HostPathRule host(*rule);
    const EvalResult h = evaluate(host, type, "mlp_orig", c, 25, {3}, Backend::cuda);
    const EvalResult d = evaluate(*rule, type, "mlp_orig", c, 25, {3}, Backend::cuda);
    require_same_results(d, h);
  }
}

TEST_CASE("device evaluation rollout: a ConvNet's frozen batch-norm coordinates stay frozen", "[gpu][evaluate]") {
  const ProblemConfig c = problem("conv_mnist");
  auto opt = make_optimizee<float>(c, Backend::cuda);
  REQUIRE(!opt->learner_frozen().empty());
  auto rule = learned_rule("l2o_dm");
  HostPathRule host(*rule);
  const EvalResult h = evaluate(host, "l2o_dm", "conv_mnist", c, 6, {4}, Backend::cuda);
  bool diverged = true;
  require_same_curve(direct_rollout(*rule, *opt, 4, 6, 4, &diverged), h.losses[0]);
  REQUIRE(!diverged);
}

TEST_CASE("device evaluation rollout: a divergence inside a chunk ends the curve where the host path does",
          "[gpu][evaluate]") {
  const ProblemConfig c = problem("mlp_orig");
  NanAtRule rule(9);  // update 9 makes theta NaN: the losses at steps 0..9 are finite, step 10's is not
  HostPathRule host(rule);
  const EvalResult h = evaluate(host, "nan_at", "mlp_orig", c, 30, {5, 6}, Backend::cuda);
  REQUIRE(h.diverged == 2);
  REQUIRE(h.losses[0].size() == 10);
  auto opt = make_optimizee<float>(c, Backend::cuda);
  for (int64_t chunk : {int64_t(4), int64_t(10), int64_t(11), kEvalChunkSteps}) {
    INFO("chunk " << chunk);
    bool diverged = false;
    require_same_curve(direct_rollout(rule, *opt, 5, 30, chunk, &diverged), h.losses[0]);
    REQUIRE(diverged);
  }
  const EvalResult d = evaluate(rule, "nan_at", "mlp_orig", c, 30, {5, 6}, Backend::cuda);
  require_same_results(d, h);
}
