#include "optimizees/task_batch.h"

#include "optimizees/cuda_optimizees.h"
#include "kernels/common.h"

namespace l2o {

TaskBatch::TaskBatch(std::vector<std::unique_ptr<OptimizeeT<float>>> tasks, bool parallel)
    : tasks_(std::move(tasks)), parallel_(parallel) {
  L2O_CHECK(!tasks_.empty(), "a task batch needs at least one task");
  n_ = tasks_[0]->num_params();
  for (const auto& t : tasks_) L2O_CHECK(t->num_params() == n_, "tasks of different sizes");
  batches_.resize(tasks_.size());
  losses_.resize(tasks_.size());
}

std::string TaskBatch::name() const {
  return tasks() == 1 ? tasks_[0]->name() : tasks_[0]->name() + "_x" + std::to_string(tasks());
}

void TaskBatch::init(uint64_t seed, float* theta) {
  for (int k = 0; k < tasks(); ++k) tasks_[k]->init(task_seed(seed, k), theta + k * n_);
}

void TaskBatch::sample_batch(Rng& rng, Batch& batch) const {
  batch.idx.clear();
  Batch b;
  for (const auto& t : tasks_) {
    t->sample_batch(rng, b);
    batch.idx.insert(batch.idx.end(), b.idx.begin(), b.idx.end());
  }
}

float TaskBatch::loss_and_grad(const float* theta, const Batch& batch, float* grad) {
  const int K = tasks();
  const int64_t per = static_cast<int64_t>(batch.idx.size()) / K;
  L2O_CHECK(per * K == static_cast<int64_t>(batch.idx.size()), "batch does not split into " << K << " tasks");
#pragma omp parallel for schedule(dynamic, 1) if (parallel_ && K > 1)
  for (int k = 0; k < K; ++k) {
    batches_[k].idx.assign(batch.idx.begin() + k * per, batch.idx.begin() + (k + 1) * per);
    losses_[k] = tasks_[k]->loss_and_grad(theta + k * n_, batches_[k], grad ? grad + k * n_ : nullptr);
  }
  float sum = 0;
  for (float l : losses_) sum += l;  // task order: deterministic
  return sum;
}

std::vector<int64_t> TaskBatch::tensor_sizes() const {
  std::vector<int64_t> all;
  for (const auto& t : tasks_) {
    const std::vector<int64_t> s = t->tensor_sizes();
    all.insert(all.end(), s.begin(), s.end());
  }
  return all;
}

CoordRanges TaskBatch::learner_frozen() const {
  CoordRanges all;
  for (int k = 0; k < tasks(); ++k)
    for (const auto& r : tasks_[k]->learner_frozen()) all.push_back({r.first + k * n_, r.second + k * n_});
  return all;
}

std::unique_ptr<TaskBatch> make_task_batch(const ProblemConfig& cfg, int k, Backend backend) {
  L2O_CHECK(k >= 1, "tasks must be >= 1, got " << k);
  std::vector<std::unique_ptr<OptimizeeT<float>>> tasks;
  for (int i = 0; i < k; ++i) tasks.push_back(make_optimizee<float>(cfg, backend));
  if (backend == Backend::cuda) return make_task_batch_cuda(std::move(tasks));
  return std::make_unique<TaskBatch>(std::move(tasks), true);
}

}  // namespace l2o
