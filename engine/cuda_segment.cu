// The device-resident meta-segment: when the learner and the optimizee both belong to the CUDA
// backend, a whole truncated-BPTT segment runs on the device with no host round trip inside it.
// theta, the minibatch indices (drawn up front in the CPU's order, so both backends see the same
// batches) and phi go up once; the losses, theta and dphi come back once. The optimizee gradient
// of step t is written straight into row t-1 of dl_du, turned into suffix sums in place.
//
// With L2O_CUDA_GRAPH=1 the segment's ~350 launches are captured once into a CUDA graph and
// replayed (launch overhead dominates at MLP-orig's size); the graph is re-captured whenever the
// learner, optimizee, their buffers or the segment shape change. Off in L2O_CUDA_SYNC=1 mode.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "kernels/device_resident.h"
#include "kernels/cuda_context.cuh"
#include "kernels/segment_ops.h"

namespace l2o {

namespace {

struct SegmentBuffers {  // grown as needed, reused across segments (no allocation in steady state)
  DeviceBuffer<float> theta, phi, dphi, g0, u, dl_du, losses;
  DeviceBuffer<int32_t> idx;
};

SegmentBuffers& buffers() {
  static SegmentBuffers b;
  return b;
}

bool graphs_enabled() {  // read per segment (cheap next to one), so tests can switch it
  const char* v = std::getenv("L2O_CUDA_GRAPH");
  return v && std::strcmp(v, "1") == 0 && !cuda_sync_after_launch();
}

// Everything a captured segment's pointers and launch shapes depend on.
struct GraphKey {
  uint64_t learner = 0, learner_version = 0, opt = 0, opt_version = 0;
  int64_t steps = 0, n = 0, B = 0;
  const void* bufs[8] = {};
  bool operator==(const GraphKey& o) const { return std::memcmp(this, &o, sizeof(GraphKey)) == 0; }
};

struct GraphCache {
  GraphKey key;
  cudaGraphExec_t exec = nullptr;
};

GraphCache& graph_cache() {
  static GraphCache c;
  return c;
}

}  // namespace

bool meta_segment_device(LearnerT<float>& learner, const float* phi, OptimizeeT<float>& opt, float* theta,
                         Rng& batches, int64_t steps, float* dphi, double* meta_loss, double* final_loss,
                         bool* finite) {
  auto* dl = dynamic_cast<DeviceLearner*>(&learner);
  auto* dopt = dynamic_cast<DeviceOptimizee*>(&opt);
  if (!dl || !dopt) return false;
  L2O_CHECK(steps >= 1, "a segment needs at least one step");
  const int64_t n = opt.num_params(), p = learner.num_params();
  std::vector<int32_t> idx;
  Batch batch;
  int64_t B = -1;
  for (int64_t t = 0; t <= steps; ++t) {
    opt.sample_batch(batches, batch);
    L2O_CHECK(B < 0 || static_cast<int64_t>(batch.idx.size()) == B, "minibatch size changed within a segment");
    B = static_cast<int64_t>(batch.idx.size());
    idx.insert(idx.end(), batch.idx.begin(), batch.idx.end());
  }
  SegmentBuffers& b = buffers();
  b.theta.resize(n);
  b.phi.resize(p);
  b.dphi.resize(p);
  b.g0.resize(n);
  b.u.resize(n);
  b.dl_du.resize(steps * n);
  b.losses.resize(steps + 1);
  b.idx.resize(static_cast<int64_t>(idx.size()));
  b.theta.upload(theta, n);
  b.phi.upload(phi, p);
  b.idx.upload(idx.data(), static_cast<int64_t>(idx.size()));

  learner.begin_segment();
  auto enqueue = [&] {
    for (int64_t t = 0; t <= steps; ++t) {
      float* g = t == 0 ? b.g0.data() : b.dl_du.data() + (t - 1) * n;
      dopt->loss_and_grad_device(b.theta.data(), b.idx.data() + t * B, B, b.losses.data() + t, g);
      if (t == steps) break;
      dl->step_device(b.phi.data(), g, b.u.data(), b.theta.data(), true);
    }
    suffix_sum_steps_cuda(steps, n, b.dl_du.data());
    dl->backward_device(b.phi.data(), b.dl_du.data(), b.dphi.data());
  };
  if (!graphs_enabled()) {
    enqueue();
  } else {
    // Buffers are sized on a first eager run, so nothing is allocated while capturing.
    GraphKey key;
    key.learner = dl->resident_id();
    key.learner_version = dl->buffers_version();
    key.opt = dopt->resident_id();
    key.opt_version = dopt->buffers_version();
    key.steps = steps;
    key.n = n;
    key.B = B;
    const void* bufs[8] = {b.theta.data(), b.phi.data(), b.dphi.data(), b.g0.data(),
                           b.u.data(),     b.dl_du.data(), b.losses.data(), b.idx.data()};
    std::memcpy(key.bufs, bufs, sizeof bufs);
    GraphCache& gc = graph_cache();
    if (gc.exec && gc.key == key) {
      dl->set_saved_steps(steps);
      CUDA_CHECK(cudaGraphLaunch(gc.exec, cuda_stream()));
    } else {
      enqueue();  // eager: sizes every buffer, and is this segment's result
      CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
      key.learner_version = dl->buffers_version();
      key.opt_version = dopt->buffers_version();
      if (gc.exec) CUDA_CHECK(cudaGraphExecDestroy(gc.exec));
      gc.exec = nullptr;
      // Capture a replay for the next segments of this shape; the eager run above already did
      // this one, so capture from a saved-steps state of zero and discard nothing on failure.
      const int64_t saved_after = learner.saved_steps();
      dl->set_saved_steps(0);
      cudaGraph_t graph = nullptr;
      CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeGlobal));
      try {
        enqueue();
      } catch (...) {
        cudaStreamEndCapture(cuda_stream(), &graph);
        if (graph) cudaGraphDestroy(graph);
        dl->set_saved_steps(saved_after);
        throw;
      }
      CUDA_CHECK(cudaStreamEndCapture(cuda_stream(), &graph));
      CUDA_CHECK(cudaGraphInstantiate(&gc.exec, graph, 0));
      CUDA_CHECK(cudaGraphDestroy(graph));
      gc.key = key;
      dl->set_saved_steps(saved_after);
    }
  }

  std::vector<float> losses(steps + 1);
  b.losses.download(losses.data(), steps + 1);
  b.theta.download(theta, n);
  b.dphi.download(dphi, p);
  // A non-finite loss anywhere makes the whole segment non-finite (the CPU path stops at the first
  // one; either way the trainer discards the segment and starts a fresh epoch).
  *finite = true;
  *meta_loss = 0;
  for (float f : losses) {
    *meta_loss += f;
    if (!std::isfinite(f)) *finite = false;
  }
  *final_loss = losses[steps];
  for (int64_t i = 0; i < p && *finite; ++i)
    if (!std::isfinite(dphi[i])) *finite = false;
  return true;
}

}  // namespace l2o
