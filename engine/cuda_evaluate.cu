// The device-resident evaluation rollout (evaluate_rollout_device, engine/evaluate.h). theta, the
// gradient and the update live on the device; per chunk of steps the minibatch indices go up and
// the losses come back through pinned memory, and the chunk's end is the only synchronisation.
// Two chunk slots alternate, so the host draws chunk c+1's minibatches (and enqueues it) while the
// device still runs chunk c. L2O_CUDA_EVAL_HOST=1 forces the per-step host loop (for comparisons).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/evaluate.h"
#include "kernels/cuda_context.cuh"
#include "kernels/device_resident.h"
#include "learners/learned_rule.h"

namespace l2o {

namespace {

// Page-locked host memory, so the chunk copies are truly asynchronous. Grown as needed.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { cudaFreeHost(p_); }
  void resize(int64_t n) {
    if (n <= cap_) return;
    CUDA_CHECK(cudaFreeHost(p_));
    p_ = nullptr;
    CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&p_), static_cast<size_t>(n) * sizeof(T)));
    cap_ = n;
  }
  T* data() { return p_; }

 private:
  T* p_ = nullptr;
  int64_t cap_ = 0;
};

// One chunk in flight: its indices and losses on both sides, and the event that says it is done.
struct ChunkSlot {
  DeviceBuffer<int32_t> idx;
  DeviceBuffer<float> losses;
  PinnedBuffer<int32_t> h_idx;
  PinnedBuffer<float> h_losses;
  cudaEvent_t done = nullptr;
  int64_t count = 0;  // steps in the chunk
  ChunkSlot() { CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming)); }
  ChunkSlot(const ChunkSlot&) = delete;
  ChunkSlot& operator=(const ChunkSlot&) = delete;
  ~ChunkSlot() {
    if (done) cudaEventDestroy(done);
  }
};

struct RolloutBuffers {  // reused across seeds and calls (no allocation in steady state)
  DeviceBuffer<float> theta, g, u, phi;
  ChunkSlot slots[2];
};

RolloutBuffers& rollout_buffers() {
  static RolloutBuffers b;
  return b;
}

bool host_path_forced() {
  const char* v = std::getenv("L2O_CUDA_EVAL_HOST");
  return v && std::strcmp(v, "1") == 0;
}

}  // namespace

bool evaluate_rollout_device(UpdateRule& rule, OptimizeeT<float>& opt, const CoordRanges& frozen, const float* theta0,
                             Rng& batches, int64_t steps, std::vector<float>* curve, bool* diverged, int64_t chunk) {
  auto* dopt = dynamic_cast<DeviceOptimizee*>(&opt);
  auto* learned = dynamic_cast<LearnedRule*>(&rule);
  auto* dl = learned ? dynamic_cast<DeviceLearner*>(&learned->learner()) : nullptr;
  auto* drule = dl ? nullptr : dynamic_cast<DeviceUpdateRule*>(&rule);
  if (!dopt || (!dl && !drule) || host_path_forced()) return false;
  L2O_CHECK(steps >= 0 && chunk >= 1, "rollout of " << steps << " steps in chunks of " << chunk);
  const int64_t n = opt.num_params();
  L2O_CHECK(n <= INT32_MAX, "too many coordinates for cuBLAS: " << n);
  RolloutBuffers& b = rollout_buffers();
  b.theta.resize(n);
  b.g.resize(n);
  b.u.resize(n);
  b.theta.upload(theta0, n);
  if (dl) {
    const std::vector<float>& phi = learned->phi();
    b.phi.resize(static_cast<int64_t>(phi.size()));
    b.phi.upload(phi.data(), static_cast<int64_t>(phi.size()));
  }
  // With frozen coordinates u is zeroed there first (as the host loop does), so theta += u is a
  // separate saxpy; with alpha = 1 that is the exact float sum theta + u, as on the host.
  const bool fused_add = dl && frozen.empty();
  const float one = 1.0f;
  auto rule_step = [&] {
    if (dl) {
      dl->step_device(b.phi.data(), b.g.data(), b.u.data(), fused_add ? b.theta.data() : nullptr, false);
    } else {
      drule->update_device(b.g.data(), b.u.data());
    }
    if (fused_add) return;
    for (const auto& r : frozen)
      CUDA_CHECK(cudaMemsetAsync(b.u.data() + r.first, 0, static_cast<size_t>(r.second - r.first) * sizeof(float),
                                 cuda_stream()));
    CUBLAS_CHECK(cublasSaxpy(cublas_handle(), static_cast<int>(n), &one, b.u.data(), 1, b.theta.data(), 1));
  };

  Batch batch;
  int64_t B = -1;
  // Draws steps t0.. of the chunk on the host, then enqueues them with their copies and an event.
  auto enqueue = [&](ChunkSlot& s, int64_t t0) {
    s.count = std::min(chunk, steps + 1 - t0);
    for (int64_t j = 0; j < s.count; ++j) {
      opt.sample_batch(batches, batch);
      const auto size = static_cast<int64_t>(batch.idx.size());
      L2O_CHECK(size > 0 && (B < 0 || size == B), "minibatch size " << size << " in a device rollout of " << B);
      B = size;
      if (j == 0) s.h_idx.resize(s.count * B);  // the slot's previous chunk is done: safe to reuse
      std::copy(batch.idx.begin(), batch.idx.end(), s.h_idx.data() + j * B);
    }
    s.idx.resize(s.count * B);
    s.losses.resize(s.count);
    s.h_losses.resize(s.count);
    s.idx.upload(s.h_idx.data(), s.count * B);
    for (int64_t j = 0; j < s.count; ++j) {
      const int64_t t = t0 + j;
      dopt->loss_and_grad_device(b.theta.data(), s.idx.data() + j * B, B, s.losses.data() + j,
                                 t < steps ? b.g.data() : nullptr);
      if (t < steps) rule_step();
    }
    CUDA_CHECK(cudaMemcpyAsync(s.h_losses.data(), s.losses.data(), static_cast<size_t>(s.count) * sizeof(float),
                               cudaMemcpyDeviceToHost, cuda_stream()));
    CUDA_CHECK(cudaEventRecord(s.done, cuda_stream()));
  };

  curve->clear();
  *diverged = false;
  int cur = 0;
  enqueue(b.slots[cur], 0);
  for (int64_t t0 = 0; t0 <= steps && !*diverged; t0 += chunk, cur = 1 - cur) {
    if (t0 + chunk <= steps) enqueue(b.slots[1 - cur], t0 + chunk);  // ahead, while the device runs
    ChunkSlot& s = b.slots[cur];
    CUDA_CHECK(cudaEventSynchronize(s.done));
    for (int64_t j = 0; j < s.count; ++j) {
      const float f = s.h_losses.data()[j];
      if (!std::isfinite(f)) {  // diverged: the curve stops here, later steps are discarded
        *diverged = true;
        break;
      }
      curve->push_back(f);
    }
  }
  CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));  // a chunk enqueued past a divergence may still run
  return true;
}

}  // namespace l2o
