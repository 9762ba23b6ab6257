// A trained learner used as a plain optimizer (evaluation: no meta-updates, nothing saved).
#pragma once
#include <memory>
#include <vector>

#include "learners/learner.h"
#include "learners/update_rule.h"

namespace l2o {

class LearnedRule : public UpdateRule {
 public:
  LearnedRule(std::unique_ptr<LearnerT<float>> learner, std::vector<float> phi, std::string label)
      : learner_(std::move(learner)), phi_(std::move(phi)), label_(std::move(label)) {}
  std::string name() const override { return label_; }
  void reset(int64_t n) override { learner_->reset(n, 0); }
  void set_tensor_sizes(const std::vector<int64_t>& sizes) override { learner_->set_tensor_sizes(sizes); }
  void update(const float* grad, float* u) override { learner_->step(phi_.data(), grad, u, false); }
  bool learned() const override { return true; }
  // For the device-resident evaluation rollout, which steps a CUDA learner on its own arrays.
  LearnerT<float>& learner() { return *learner_; }
  const std::vector<float>& phi() const { return phi_; }

 private:
  std::unique_ptr<LearnerT<float>> learner_;
  std::vector<float> phi_;
  std::string label_;
};

}  // namespace l2o
