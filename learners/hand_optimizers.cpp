// UpdateRule wrappers around the kernels/optim.h ops. State buffers are sized in reset() so
// update() never allocates (it runs inside evaluation and imitation loops).
#include "learners/hand_optimizers.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "kernels/common.h"
#include "kernels/optim.h"
#include "kernels/optim_math.h"

namespace l2o {
namespace {

// Short, locale-free number formatting for names and messages ("0.01", "1e-08").
std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

[[noreturn]] void unknown_type(const std::string& type) {
  std::ostringstream os;
  os << "unknown optimizer \"" << type << "\" (expected one of: ";
  const auto& names = hand_optimizer_names();
  for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
  os << ")";
  throw InputError(os.str());
}

// Each check names the optimizer, the key and the offending value.
void require(bool ok, const std::string& type, const char* key, double value, const char* expected) {
  if (ok) return;
  throw InputError(type + ": " + key + " = " + fmt(value) + " is out of range (expected " + expected + ")");
}

void check_unit_interval(const std::string& type, const char* key, double value) {
  require(std::isfinite(value) && value >= 0.0 && value < 1.0, type, key, value, "0 <= value < 1");
}

// eps == -1 selects the rule's default; anything else must be a positive finite number.
float resolve_eps(const std::string& type, double eps, float dflt) {
  if (eps == -1.0) return dflt;
  require(std::isfinite(eps) && eps > 0.0, type, "eps", eps, "> 0, or -1 for the default");
  return static_cast<float>(eps);
}

class Sgd : public UpdateRule {
 public:
  explicit Sgd(float lr) : lr_(lr) {}
  std::string name() const override { return "sgd(lr=" + fmt(lr_) + ")"; }
  void reset(int64_t n) override { n_ = n; }
  void update(const float* g, float* u) override { sgd_update_cpu(n_, g, u, lr_); }

 private:
  float lr_;
  int64_t n_ = 0;
};

class Momentum : public UpdateRule {
 public:
  Momentum(float lr, float mu, bool nesterov) : lr_(lr), mu_(mu), nesterov_(nesterov) {}
  std::string name() const override {
    std::string s = std::string(nesterov_ ? "nag" : "momentum") + "(lr=" + fmt(lr_);
    if (mu_ != kMomentum) s += ",momentum=" + fmt(mu_);
    return s + ")";
  }
  void reset(int64_t n) override { vel_.assign(static_cast<size_t>(n), 0.0f); }
  void update(const float* g, float* u) override {
    momentum_update_cpu(static_cast<int64_t>(vel_.size()), g, vel_.data(), u, lr_, mu_, nesterov_);
  }

 private:
  float lr_, mu_;
  bool nesterov_;
  std::vector<float> vel_;  // (n,) PyTorch momentum buffer
};

// The "_torch" suffix in names marks PyTorch's forms; the plain names are TensorFlow's.
std::string with_form(const char* base, bool tf) { return std::string(base) + (tf ? "" : "_torch"); }

class Adam : public UpdateRule {
 public:
  Adam(float lr, float b1, float b2, float eps, bool tf) : lr_(lr), b1_(b1), b2_(b2), eps_(eps), tf_(tf) {}
  std::string name() const override {
    std::string s = with_form("adam", tf_) + "(lr=" + fmt(lr_);
    if (b1_ != kAdamBeta1) s += ",beta1=" + fmt(b1_);
    if (b2_ != kAdamBeta2) s += ",beta2=" + fmt(b2_);
    if (eps_ != kAdamEps) s += ",eps=" + fmt(eps_);
    return s + ")";
  }
  void reset(int64_t n) override {
    m_.assign(static_cast<size_t>(n), 0.0f);
    v_.assign(static_cast<size_t>(n), 0.0f);
    t_ = 0;
  }
  void update(const float* g, float* u) override {
    ++t_;  // 1-based for bias correction
    const int64_t n = static_cast<int64_t>(m_.size());
    if (tf_)
      adam_tf_update_cpu(n, g, m_.data(), v_.data(), u, lr_, b1_, b2_, eps_, t_);
    else
      adam_update_cpu(n, g, m_.data(), v_.data(), u, lr_, b1_, b2_, eps_, t_);
  }

 private:
  float lr_, b1_, b2_, eps_;
  bool tf_;
  std::vector<float> m_, v_;  // (n,) first and second moments
  int64_t t_ = 0;             // steps taken since reset()
};

class Adagrad : public UpdateRule {
 public:
  Adagrad(float lr, float eps, bool tf) : lr_(lr), eps_(eps), tf_(tf) {}
  std::string name() const override {
    std::string s = with_form("adagrad", tf_) + "(lr=" + fmt(lr_);
    if (!tf_ && eps_ != kAdagradEps) s += ",eps=" + fmt(eps_);
    return s + ")";
  }
  void reset(int64_t n) override { sum_.assign(static_cast<size_t>(n), hand_optimizer_initial_state(name_type())); }
  std::string name_type() const { return with_form("adagrad", tf_); }
  void update(const float* g, float* u) override {
    const int64_t n = static_cast<int64_t>(sum_.size());
    if (tf_)
      adagrad_tf_update_cpu(n, g, sum_.data(), u, lr_);
    else
      adagrad_update_cpu(n, g, sum_.data(), u, lr_, eps_);
  }

 private:
  float lr_, eps_;
  bool tf_;
  std::vector<float> sum_;  // (n,) running sum of g^2 (TF: from 0.1)
};

class Rmsprop : public UpdateRule {
 public:
  Rmsprop(float lr, float alpha, float eps, bool tf) : lr_(lr), alpha_(alpha), eps_(eps), tf_(tf) {}
  std::string name() const override {
    std::string s = with_form("rmsprop", tf_) + "(lr=" + fmt(lr_);
    if (alpha_ != (tf_ ? kRmspropTfDecay : kRmspropAlpha)) s += ",alpha=" + fmt(alpha_);
    if (eps_ != (tf_ ? kRmspropTfEps : kRmspropEps)) s += ",eps=" + fmt(eps_);
    return s + ")";
  }
  void reset(int64_t n) override { sq_.assign(static_cast<size_t>(n), hand_optimizer_initial_state(name_type())); }
  std::string name_type() const { return with_form("rmsprop", tf_); }
  void update(const float* g, float* u) override {
    const int64_t n = static_cast<int64_t>(sq_.size());
    if (tf_)
      rmsprop_tf_update_cpu(n, g, sq_.data(), u, lr_, alpha_, eps_);
    else
      rmsprop_update_cpu(n, g, sq_.data(), u, lr_, alpha_, eps_);
  }

 private:
  float lr_, alpha_, eps_;
  bool tf_;
  std::vector<float> sq_;  // (n,) moving average of g^2 (TF: from 1.0)
};

}  // namespace

const std::vector<std::string>& hand_optimizer_names() {
  static const std::vector<std::string> names = {"sgd",     "momentum",   "nag",           "adam",         "adagrad",
                                                 "rmsprop", "adam_torch", "adagrad_torch", "rmsprop_torch"};
  return names;
}

double default_lr(const std::string& type) {
  if (type == "adam" || type == "adam_torch") return 0.001;
  for (const auto& n : hand_optimizer_names())
    if (n == type) return 0.01;
  unknown_type(type);
}

HandOptimizerParams resolve_hand_optimizer(const HandOptimizerConfig& cfg) {
  const std::string& t = cfg.type;
  bool known = false;
  for (const auto& n : hand_optimizer_names()) known = known || n == t;
  if (!known) unknown_type(t);
  require(std::isfinite(cfg.lr) && cfg.lr > 0.0, t, "lr", cfg.lr, "> 0");
  HandOptimizerParams p;
  p.type = t;
  p.lr = static_cast<float>(cfg.lr);
  // Only the hyperparameters a rule uses are checked.
  if (t == "momentum" || t == "nag") {
    check_unit_interval(t, "momentum", cfg.momentum);
    p.momentum = static_cast<float>(cfg.momentum);
  } else if (t == "adam" || t == "adam_torch") {
    check_unit_interval(t, "beta1", cfg.beta1);
    check_unit_interval(t, "beta2", cfg.beta2);
    p.beta1 = static_cast<float>(cfg.beta1);
    p.beta2 = static_cast<float>(cfg.beta2);
    p.eps = resolve_eps(t, cfg.eps, kAdamEps);
  } else if (t == "adagrad") {
    require(cfg.eps == -1.0, t, "eps", cfg.eps, "-1: TensorFlow's Adagrad has no epsilon; adagrad_torch has one");
  } else if (t == "adagrad_torch") {
    p.eps = resolve_eps(t, cfg.eps, kAdagradEps);
  } else if (t == "rmsprop" || t == "rmsprop_torch") {
    const bool tf = t == "rmsprop";
    p.alpha = tf ? kRmspropTfDecay : kRmspropAlpha;
    if (cfg.alpha != -1.0) {
      check_unit_interval(t, "alpha", cfg.alpha);
      p.alpha = static_cast<float>(cfg.alpha);
    }
    p.eps = resolve_eps(t, cfg.eps, tf ? kRmspropTfEps : kRmspropEps);
  }
  return p;
}

float hand_optimizer_initial_state(const std::string& type) {
  if (type == "adagrad") return kAdagradTfInitAcc;
  if (type == "rmsprop") return kRmspropTfInitMs;
  return 0.0f;
}

std::unique_ptr<UpdateRule> make_hand_optimizer(const HandOptimizerConfig& cfg) {
  const HandOptimizerParams p = resolve_hand_optimizer(cfg);
  const std::string& t = p.type;
  if (t == "sgd") return std::make_unique<Sgd>(p.lr);
  if (t == "momentum" || t == "nag") return std::make_unique<Momentum>(p.lr, p.momentum, t == "nag");
  if (t == "adam" || t == "adam_torch") return std::make_unique<Adam>(p.lr, p.beta1, p.beta2, p.eps, t == "adam");
  if (t == "adagrad" || t == "adagrad_torch") return std::make_unique<Adagrad>(p.lr, p.eps, t == "adagrad");
  return std::make_unique<Rmsprop>(p.lr, p.alpha, p.eps, t == "rmsprop");
}

std::unique_ptr<UpdateRule> make_hand_optimizer(const HandOptimizerConfig& cfg, Backend backend) {
  if (backend == Backend::cuda) return make_hand_optimizer_cuda(cfg);
  return make_hand_optimizer(cfg);
}

}  // namespace l2o
