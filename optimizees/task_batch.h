// K independent instances of one problem (tasks) as one optimizee of K*n coordinates: the
// coordinatewise learner sees all K*n coordinates unchanged (DESIGN.md section 1, "tasks are a
// batch dimension"); each task draws its own minibatch and the loss is the sum over tasks, as the
// meta-loss sums over steps. Task k's instance seed is k = 0: the caller's seed (so K = 1 is
// exactly the plain problem), else mix_seed(seed, k).
#pragma once
#include <memory>
#include <vector>

#include "optimizees/optimizee.h"

namespace l2o {

class TaskBatch : public OptimizeeT<float> {
 public:
  // parallel: run the tasks' loss_and_grad on OpenMP threads (CPU tasks only).
  TaskBatch(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks, bool parallel);
  std::string name() const override;
  int64_t num_params() const override { return n_ * tasks(); }
  int64_t task_params() const { return n_; }
  int tasks() const { return static_cast<int>(tasks_.size()); }
  OptimizeeT<float>& task(int k) { return *tasks_[k]; }
  static uint64_t task_seed(uint64_t seed, int k) { return k == 0 ? seed : mix_seed(seed, static_cast<uint64_t>(k)); }
  void init(uint64_t seed, float* theta) override;
  // One minibatch per task, drawn in task order from the caller's stream, concatenated.
  void sample_batch(Rng& rng, Batch& batch) const override;
  float loss_and_grad(const float* theta, const Batch& batch, float* grad) override;
  CoordRanges learner_frozen() const override;  // each task's, at its offset
  std::vector<int64_t> tensor_sizes() const override;  // the tasks' lists, concatenated

 protected:
  std::vector<std::unique_ptr<OptimizeeT<float>>> tasks_;
  std::vector<Batch> batches_;
  std::vector<float> losses_;
  int64_t n_ = 0;
  bool parallel_ = false;
};

// K tasks of cfg on the backend (on CUDA the batch also runs inside the device-resident segment).
std::unique_ptr<TaskBatch> make_task_batch(const ProblemConfig& cfg, int k, Backend backend);

}  // namespace l2o
