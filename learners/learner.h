// A learned optimizer: meta-parameters phi shared by every coordinate, per-coordinate recurrent
// state, a step that turns gradients into updates (saving what backward needs), and a backward
// that turns upstream gradients dL/du_t of a segment's updates into dL/dphi. The same backward
// serves the meta-loss (dL/du_t = suffix sums of optimizee gradients) and imitation
// (dL/du_t = (u_t - delta_t)/n).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace l2o {

struct ParamBlock {  // one named tensor inside phi, for checkpoints
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;
  int64_t size() const {
    int64_t s = 1;
    for (int64_t d : shape) s *= d;
    return s;
  }
};

template <typename T>
class LearnerT {
 public:
  virtual ~LearnerT() = default;
  virtual std::string type() const = 0;
  virtual int64_t num_params() const = 0;
  virtual const std::vector<ParamBlock>& param_blocks() const = 0;
  virtual void init_params(uint64_t seed, T* phi) const = 0;
  // Floats kept per coordinate and saved step (activations and backward workspace): what a
  // segment of S steps over n coordinates costs, about 4 * n * S times this many bytes.
  virtual int64_t saved_floats_per_coordinate_step() const = 0;
  // The optimizee's tensors (OptimizeeT::tensor_sizes: sizes in theta order), for learners with
  // per-tensor state (L2O-Scale); call before reset(). Coordinatewise learners ignore them.
  virtual void set_tensor_sizes(const std::vector<int64_t>& /*sizes*/) {}
  // Size for n coordinates and segments of up to max_steps saved steps; zero the state.
  virtual void reset(int64_t n, int64_t max_steps) = 0;
  virtual void zero_state() = 0;
  // Start a truncated-BPTT segment: forget saved steps; the current state becomes a constant.
  virtual void begin_segment() = 0;
  // u = update for gradient g (length n); advances the state; with save, keeps activations.
  virtual void step(const T* phi, const T* g, T* u, bool save) = 0;
  virtual int64_t saved_steps() const = 0;
  // dl_du: (saved_steps, n) upstream gradients on the saved steps' updates; writes dphi.
  virtual void backward(const T* phi, const T* dl_du, T* dphi) = 0;
  // The recurrent state as flat values, for training.carry_learner_state (the authors' L2O-Scale
  // carries it across epochs, so a resumable run checkpoints it). Empty while the state is fresh
  // (zero_state() and no step since). Learners that cannot carry their state return false.
  virtual bool can_carry_state() const { return false; }
  virtual std::vector<T> carried_state() const { return {}; }
  // Restores carried_state()'s values (empty: zero_state()); throws InputError on a wrong size or
  // a non-finite value, naming `origin`.
  virtual void set_carried_state(const std::vector<T>& /*state*/, const std::string& /*origin*/) {}
};

}  // namespace l2o
