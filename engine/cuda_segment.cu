// The device-resident meta-segment: when the learner and the optimizee both belong to the CUDA
// backend, a whole truncated-BPTT segment runs on the device with no host round trip inside it.
// theta, the minibatch indices (drawn up front in the CPU's order, so both backends see the same
// batches) and phi go up once; the losses, theta and dphi come back once. The optimizee gradient
// of step t is written straight into row t-1 of dl_du, turned into suffix sums in place.
//
// With L2O_CUDA_GRAPH=1 the segment's ~350 launches are captured into a CUDA graph and replayed
// (launch overhead dominates at MLP-orig's size). Graphs are cached per segment shape (learner,
// optimizee, their buffer versions, steps, n, B) in a small LRU, each entry with its own device
// buffers, so alternating shapes (e.g. K = 1 and K = 8 tasks) replay instead of re-capturing.
// A capture that fails falls back to the eager result, with one warning. Off under
// L2O_CUDA_SYNC=1 (said once on stderr).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "kernels/cuda_context.cuh"
#include "kernels/device_resident.h"
#include "kernels/segment_ops.h"

namespace l2o {

namespace {

constexpr size_t kGraphCacheEntries = 4;

struct SegmentBuffers {  // grown as needed, reused across segments (no allocation in steady state)
  DeviceBuffer<float> theta, phi, dphi, g0, u, dl_du, losses;
  DeviceBuffer<int32_t> idx;
};

// Everything a captured segment's pointers and launch shapes depend on (the buffers are the
// entry's own, so they are fixed once the entry exists).
struct GraphKey {
  uint64_t learner = 0, learner_version = 0, opt = 0, opt_version = 0;
  int64_t steps = 0, n = 0, B = 0, p = 0;
  bool operator==(const GraphKey& o) const {
    return learner == o.learner && learner_version == o.learner_version && opt == o.opt &&
           opt_version == o.opt_version && steps == o.steps && n == o.n && B == o.B && p == o.p;
  }
};

struct GraphEntry {
  GraphKey key;
  SegmentBuffers bufs;
  cudaGraphExec_t exec = nullptr;
  uint64_t last_use = 0;
  ~GraphEntry() {
    if (exec) cudaGraphExecDestroy(exec);
  }
};

struct GraphCache {
  std::vector<std::unique_ptr<GraphEntry>> entries;
  uint64_t clock = 0;
  CudaGraphStats stats;
  bool warned_capture = false, warned_sync = false;

  // The entry for `key`, creating one (evicting the least recently used) if needed.
  GraphEntry& entry(const GraphKey& key, bool* fresh) {
    ++clock;
    for (auto& e : entries)
      if (e->key == key) {
        e->last_use = clock;
        *fresh = false;
        return *e;
      }
    if (entries.size() >= kGraphCacheEntries) {
      size_t oldest = 0;
      for (size_t i = 1; i < entries.size(); ++i)
        if (entries[i]->last_use < entries[oldest]->last_use) oldest = i;
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(oldest));
    }
    entries.push_back(std::make_unique<GraphEntry>());
    entries.back()->key = key;
    entries.back()->last_use = clock;
    *fresh = true;
    return *entries.back();
  }
  // Forgets an entry whose first (eager) run failed, so that a later call captures it afresh.
  void drop(const GraphEntry* e) {
    for (size_t i = 0; i < entries.size(); ++i)
      if (entries[i].get() == e) {
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
  }
};

GraphCache& graph_cache() {
  static GraphCache c;
  return c;
}

SegmentBuffers& eager_buffers() {
  static SegmentBuffers b;
  return b;
}

bool graphs_enabled() {  // read per segment (cheap next to one), so tests can switch it
  const char* v = std::getenv("L2O_CUDA_GRAPH");
  if (!v || std::strcmp(v, "1") != 0) return false;
  if (cuda_sync_after_launch()) {
    GraphCache& gc = graph_cache();
    if (!gc.warned_sync) {
      std::fprintf(stderr, "l2o: L2O_CUDA_GRAPH=1 is ignored under L2O_CUDA_SYNC=1 (every launch is synchronised)\n");
      gc.warned_sync = true;
    }
    return false;
  }
  return true;
}

void size_buffers(SegmentBuffers& b, int64_t steps, int64_t n, int64_t p, int64_t idx_count) {
  b.theta.resize(n);
  b.phi.resize(p);
  b.dphi.resize(p);
  b.g0.resize(n);
  b.u.resize(n);
  b.dl_du.resize(steps * n);
  b.losses.resize(steps + 1);
  b.idx.resize(idx_count);
}

// Captures enqueue() into e.exec; on any failure leaves e.exec null, clears the error state and
// warns once. Never throws: the eager run already produced this segment's result.
void try_capture(GraphEntry& e, const std::function<void()>& enqueue, DeviceLearner& dl, int64_t saved_after) {
  GraphCache& gc = graph_cache();
  dl.set_saved_steps(0);
  cudaGraph_t graph = nullptr;
  std::string what;
  if (cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeGlobal) != cudaSuccess) {
    what = "cudaStreamBeginCapture";
  } else {
    try {
      enqueue();
    } catch (const std::exception& ex) {
      what = std::string("a launch while capturing (") + ex.what() + ")";
    }
    const cudaError_t end = cudaStreamEndCapture(cuda_stream(), &graph);
    if (what.empty() && end != cudaSuccess) what = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
    if (what.empty() && cudaGraphInstantiate(&e.exec, graph, 0) != cudaSuccess) {
      e.exec = nullptr;
      what = "cudaGraphInstantiate";
    }
  }
  if (graph) cudaGraphDestroy(graph);
  dl.set_saved_steps(saved_after);
  if (what.empty()) {
    ++gc.stats.captures;
    return;
  }
  (void)cudaGetLastError();  // clear it, so later launches report their own errors
  ++gc.stats.capture_failures;
  if (!gc.warned_capture) {
    std::fprintf(stderr, "l2o: CUDA graph capture failed (%s); running segments eagerly\n", what.c_str());
    gc.warned_capture = true;
  }
}

}  // namespace

CudaGraphStats cuda_graph_stats() { return graph_cache().stats; }

bool segment_on_device(LearnerT<float>& learner, OptimizeeT<float>& opt) {
  return dynamic_cast<DeviceLearner*>(&learner) && dynamic_cast<DeviceOptimizee*>(&opt);
}

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
  const bool graphs = graphs_enabled();
  GraphEntry* entry = nullptr;
  bool fresh = true;
  if (graphs) {
    GraphKey key;
    key.learner = dl->resident_id();
    key.learner_version = dl->buffers_version();
    key.opt = dopt->resident_id();
    key.opt_version = dopt->buffers_version();
    key.steps = steps;
    key.n = n;
    key.B = B;
    key.p = p;
    entry = &graph_cache().entry(key, &fresh);
  }
  SegmentBuffers& b = entry ? entry->bufs : eager_buffers();
  size_buffers(b, steps, n, p, static_cast<int64_t>(idx.size()));
  b.theta.upload(theta, n);
  b.phi.upload(phi, p);
  b.idx.upload(idx.data(), static_cast<int64_t>(idx.size()));

  learner.begin_segment();
  const std::function<void()> enqueue = [&] {
    for (int64_t t = 0; t <= steps; ++t) {
      float* g = t == 0 ? b.g0.data() : b.dl_du.data() + (t - 1) * n;
      dopt->loss_and_grad_device(b.theta.data(), b.idx.data() + t * B, B, b.losses.data() + t, g);
      if (t == steps) break;
      dl->step_device(b.phi.data(), g, b.u.data(), b.theta.data(), true);
    }
    suffix_sum_steps_cuda(steps, n, b.dl_du.data());
    dl->backward_device(b.phi.data(), b.dl_du.data(), b.dphi.data());
  };
  if (entry && !fresh && entry->exec) {
    dl->set_saved_steps(steps);
    CUDA_CHECK(cudaGraphLaunch(entry->exec, cuda_stream()));
    ++graph_cache().stats.replays;
  } else {
    try {
      enqueue();  // eager: sizes every buffer the learner and optimizee use, and is this segment's result
    } catch (...) {
      if (entry && fresh) graph_cache().drop(entry);
      throw;
    }
    if (entry && fresh) {
      CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
      // The eager run may have grown the parts' buffers: key the entry by the versions after it.
      entry->key.learner_version = dl->buffers_version();
      entry->key.opt_version = dopt->buffers_version();
      try_capture(*entry, enqueue, *dl, learner.saved_steps());
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
