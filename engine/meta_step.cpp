#include "engine/meta_step.h"

#include <algorithm>
#include <cmath>

#include "engine/imitation.h"
#include "engine/segment.h"
#include "kernels/common.h"
#include "kernels/optim.h"
#include "kernels/optim_math.h"

namespace l2o {

MetaOptimizer::MetaOptimizer(const MetaOptimizerSpec& spec, double clip_grad_norm, std::vector<float>& m,
                             std::vector<float>& v, int64_t& step)
    : spec_(spec), clip_(clip_grad_norm), m_(m), v_(v), step_(step) {}

double MetaOptimizer::apply(std::vector<float>& phi, std::vector<float>& g) {
  L2O_CHECK(g.size() == phi.size() && m_.size() == phi.size() && v_.size() == phi.size(),
            "meta-optimizer sizes: phi " << phi.size() << ", g " << g.size() << ", m " << m_.size());
  double sq = 0;
  for (float x : g) sq += static_cast<double>(x) * x;
  const double norm = std::sqrt(sq);
  if (clip_ > 0 && norm > clip_) {
    const float k = static_cast<float>(clip_ / norm);
    for (auto& x : g) x *= k;
  }
  if (spec_.rmsprop) {
    if (step_++ == 0) std::fill(v_.begin(), v_.end(), kRmspropTfInitMs);
    const float lr = static_cast<float>(spec_.lr), decay = static_cast<float>(spec_.decay),
                mu = static_cast<float>(spec_.momentum), eps = static_cast<float>(spec_.eps);
    for (size_t i = 0; i < phi.size(); ++i) phi[i] += rmsprop_tf_momentum_coord(g[i], v_[i], m_[i], lr, decay, mu, eps);
    return norm;
  }
  ++step_;
  auto apply = spec_.tf_form ? adam_tf_apply_cpu : adam_apply_cpu;
  apply(static_cast<int64_t>(phi.size()), phi.data(), g.data(), m_.data(), v_.data(), static_cast<float>(spec_.lr),
        static_cast<float>(spec_.beta1), static_cast<float>(spec_.beta2), static_cast<float>(spec_.eps), step_);
  return norm;
}

MetaStep::MetaStep(LearnerT<float>& learner, OptimizeeT<float>& optimizee, int64_t unroll, MetaLossKind loss)
    : learner_(learner), opt_(optimizee), unroll_(unroll) {
  objective_.kind = loss;
  L2O_CHECK(unroll >= 1, "unroll must be >= 1, got " << unroll);
  theta_.resize(opt_.num_params());
  dphi_.resize(learner_.num_params());
  learner_.set_tensor_sizes(opt_.tensor_sizes());
  learner_.reset(opt_.num_params(), unroll);
}

void MetaStep::begin_epoch(uint64_t seed, bool keep_learner_state) {
  opt_.init(seed, theta_.data());
  if (!keep_learner_state) learner_.zero_state();
  batches_ = Rng(seed, kStreamBatch);
  objective_.f_init = NAN;
}

MetaStepResult MetaStep::step(std::vector<float>& phi, MetaOptimizer& meta, UpdateRule* teacher, double omega) {
  MetaStepResult r;
  if (teacher) {
    const auto s = imitation_segment<float>(learner_, phi.data(), opt_, *teacher, theta_.data(), batches_, unroll_,
                                            omega, dl_du_, u_, delta_, gbuf_, dphi_.data());
    r.finite = s.finite;
    r.loss = s.loss;
    r.final_loss = s.final_loss;
  } else {
    const auto s =
        meta_segment<float>(learner_, phi.data(), opt_, theta_.data(), batches_, unroll_, dl_du_, u_, dphi_.data(),
                            &objective_);
    r.finite = s.finite;
    r.loss = s.meta_loss;
    r.final_loss = s.final_loss;
  }
  if (r.finite) r.grad_norm = meta.apply(phi, dphi_);  // a NaN never reaches phi
  return r;
}

}  // namespace l2o
