// The CUDA twin of bench_ops_cpu: per-op microbenchmarks of the CUDA kernels, each verified
// against its CPU twin on the same inputs before it is timed (DESIGN.md section 3.9).
//
//   bench_ops_cuda [--max-seconds S] [--json FILE] [--only GROUPS] [--n N] [--min-reps R]
//
//   groups (--only, comma-separated; default all):
//     fused  l2o_dm_fused_step_cuda without saving and saving into a slot, a 20-step saving
//            segment forward, and l2o_dm_fused_backward_cuda over those 20 steps; the same four
//            for RNNprop (rnnprop_fused_step_cuda, rnnprop_fused_backward_cuda)
//     mlp    MLP-orig's row/elementwise kernels (kernels/mlp_ops.h) at batch 128, 784-20-10
//     optim  the elementwise optimizers (kernels/optim.h)
//   --n            coordinates for the fused and optim ops [15910 = MLP-orig]
//   --max-seconds  total time cap [60], split over the planned benchmarks by weight (run_plans);
//                  those left when it is spent are reported as skipped
//   --json         one JSON line per benchmark (bench_harness.h's Result::to_json, backend "cuda")
//
// Times are host wall-clock over `inner` calls followed by a synchronisation of the engine's
// stream (time_op's sync), i.e. what the engine pays per call, launch overhead included.
// Exit codes: 0 ok; 1 a verification failed (that op is not timed) or a CUDA error; 2 usage;
// 77 no CUDA device (one line on stdout, as test_gpu reports its skip).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_harness.h"
#include "kernels/cuda_context.cuh"
#include "kernels/l2o_dm_fused.h"
#include "kernels/mlp_ops.h"
#include "kernels/optim.h"
#include "kernels/l2o_scale_ops.h"
#include "kernels/rnnprop_fused.h"
#include "learners/l2o_dm.h"
#include "learners/l2o_scale.h"
#include "learners/rnnprop.h"

using namespace l2o;
using namespace l2o::bench;

namespace {

constexpr int64_t kSteps = 20;  // the paper's segment length
constexpr int64_t kBatch = 128, kInputs = 784, kHidden = 20, kClasses = 10, kExamples = 10000;
const char* kBench = "ops_cuda";
const std::vector<std::string> kGroups = {"fused", "mlp", "optim"};

struct Args {
  double max_seconds = 60;
  std::string json;
  std::vector<std::string> only = kGroups;
  int64_t n = 15910;
  int min_reps = 3;
  bool want(const std::string& g) const { return std::find(only.begin(), only.end(), g) != only.end(); }
};

struct State {
  Args args;
  std::string device;
  std::vector<Result> results;
  bool failed = false;
};

void sync_stream() { CUDA_CHECK(cudaStreamSynchronize(cuda_stream())); }

// Verification-gated timing of fn on the device; records the row.
template <class F>
void timed(State& st, Result r, double budget, F&& fn) {
  r.backend = "cuda";
  r.extra["device"] = st.device;
  if (r.check.done && !r.check.ok) st.failed = true;
  TimeOptions o;
  o.min_reps = std::max(1, st.args.min_reps);
  time_if_verified(r, fn, budget, o, sync_stream);
  st.results.push_back(std::move(r));
}

template <class T>
DeviceBuffer<T> up(const std::vector<T>& h) {
  DeviceBuffer<T> d(static_cast<int64_t>(h.size()));
  d.upload(h.data(), d.size());
  return d;
}

template <class T>
std::vector<T> down(const DeviceBuffer<T>& d) {
  std::vector<T> h(static_cast<size_t>(d.size()));
  d.download(h.data(), d.size());
  return h;
}

// ------------------------------------------------------------------------------------------------
// Fused L2O-DM (kernels/l2o_dm_fused.h). Inputs and the CPU twins' results are computed once and
// shared by the four fused benchmarks.
//
// Tolerances (atol = a * max|ref|, rtol = r): both twins run the same float code
// (l2o_dm_fused_math.h) and differ only in rounding (FMA contraction, libm vs CUDA log), so
// test_gpu's bounds apply: the forward, one step or 20, a 1e-5, r 1e-4; dphi, whose sums over
// 20 n terms run in another order (cuBLAS vs the twin's sequential loops), a 1e-4, r 1e-3. On
// these inputs at n = 15,910 the CPU twin's float-vs-double error is 4.6e-7 (forward) and 5.3e-6
// (dphi) of max |ref|, 20x inside both.
struct FusedRef {
  L2oDmFusedShape s;
  std::vector<float> phi, state0, grads, dl_du;  // grads, dl_du: (kSteps, n)
  std::vector<float> u_eval, state_eval;         // one step from state0 with grads[0], not saving
  std::vector<float> u_save, state_save, slot_save;  // the same step saving into the last slot
  std::vector<float> u_seg, state_seg, saved_seg, dphi;  // kSteps saving steps, then the backward
};

constexpr int64_t kSaveSlot = kSteps - 1;

// Slot `slot`'s columns of a saved array (saved_rows x (slots n), row-major): saved_rows x n.
template <class Shape>
std::vector<float> slot_columns(const Shape& s, const std::vector<float>& saved, int64_t slot) {
  const int64_t rows = s.template dims<float>().saved_rows(), ld = s.slots * s.n;
  std::vector<float> out(static_cast<size_t>(rows * s.n));
  for (int64_t r = 0; r < rows; ++r)
    std::copy_n(saved.begin() + r * ld + slot * s.n, s.n, out.begin() + r * s.n);
  return out;
}

const FusedRef& fused_ref(int64_t n) {
  static std::unique_ptr<FusedRef> ref;
  if (ref) return *ref;
  ref = std::make_unique<FusedRef>();
  FusedRef& f = *ref;
  const L2oDmConfig cfg;  // the engine's default learner: LogAndSign, hidden [20, 20]
  f.s = fused_shape(cfg, n, kSteps);
  const L2oDmFusedShape& s = f.s;
  f.phi.resize(s.num_params());
  L2oDm<float>(cfg).init_params(0, f.phi.data());
  f.state0 = normal_values(s.state_size(), 1, 0.3);  // a carried-in state (c_init of the segment)
  // Gradient magnitudes 1e-1 .. 1e-4, so LogAndSign's clipped and linear branches both run.
  f.grads = normal_values(kSteps * n, 2, 1.0);
  for (int64_t i = 0; i < kSteps * n; ++i) f.grads[i] *= std::pow(10.0f, -1.0f - static_cast<float>(i % 4));
  f.dl_du = normal_values(kSteps * n, 3, 1e-2);

  f.u_eval.resize(n);
  f.state_eval = f.state0;
  l2o_dm_fused_step_cpu<float>(s, f.phi.data(), f.grads.data(), f.state_eval.data(), nullptr, 0, f.u_eval.data(),
                               nullptr);
  std::vector<float> saved(s.saved_size(), 0.0f);
  f.u_save.resize(n);
  f.state_save = f.state0;
  l2o_dm_fused_step_cpu<float>(s, f.phi.data(), f.grads.data(), f.state_save.data(), saved.data(), kSaveSlot,
                               f.u_save.data(), nullptr);
  f.slot_save = slot_columns(s, saved, kSaveSlot);

  f.u_seg.resize(kSteps * n);
  f.state_seg = f.state0;
  std::fill(saved.begin(), saved.end(), 0.0f);
  for (int64_t t = 0; t < kSteps; ++t)
    l2o_dm_fused_step_cpu<float>(s, f.phi.data(), f.grads.data() + t * n, f.state_seg.data(), saved.data(), t,
                                 f.u_seg.data() + t * n, nullptr);
  f.saved_seg = std::move(saved);
  std::vector<float> ws(s.workspace_size());
  f.dphi.resize(s.num_params());
  l2o_dm_fused_backward_cpu<float>(s, f.phi.data(), kSteps, f.saved_seg.data(), f.state0.data(), f.dl_du.data(),
                                   ws.data(), f.dphi.data());
  return f;
}

// Interface bytes of the fused ops by op_cost.h's conventions (inputs read once, outputs written
// once, state read and written, phi once per call); FLOPs from l2o_dm_fused.h.
OpCost fused_step_cost(const L2oDmFusedShape& s, bool saving) {
  const FusedDims<float> d = s.dims<float>();
  OpCost c;
  c.flops = l2o_dm_fused_step_flops(s) * double(s.n);
  c.bytes = 4.0 * (double(s.num_params()) + double(s.n) * (2 + 2 * d.state_rows() + (saving ? d.saved_rows() : 0)));
  return c;
}

OpCost fused_backward_cost(const L2oDmFusedShape& s, int64_t steps) {
  const FusedDims<float> d = s.dims<float>();
  const double m = double(steps) * double(s.n);
  OpCost c;
  c.flops = l2o_dm_fused_backward_flops(s) * m;
  c.gemm_flops = gemm_flops(4.0 * d.H0, d.k0(), m) + gemm_flops(4.0 * d.H1, d.k1(), m);  // cuBLAS dW
  // saved, dl_du and c_init read; dz written by the BPTT and read by the GEMMs; phi in, dphi out.
  c.bytes = 4.0 * (m * (d.saved_rows() + 1 + 2.0 * 4 * (d.H0 + d.H1)) + double(s.n) * d.state_rows() +
                   2.0 * double(s.num_params()));
  return c;
}

std::string fused_shape_text(const L2oDmFusedShape& s) {
  return "n=" + std::to_string(s.n) + " in=" + std::to_string(s.in) + " H=[" + std::to_string(s.H0) + "," +
         std::to_string(s.H1) + "]";
}

// One fused step from state0 with grads[0]; saving: into slot kSaveSlot.
void bench_fused_step(State& st, bool saving, double budget) {
  const FusedRef& f = fused_ref(st.args.n);
  const L2oDmFusedShape& s = f.s;
  const int64_t n = s.n;
  auto d_phi = up(f.phi), d_state = up(f.state0);
  auto d_g = up(std::vector<float>(f.grads.begin(), f.grads.begin() + n));
  DeviceBuffer<float> d_u(n), d_saved(saving ? s.saved_size() : 1);
  d_saved.zero();
  float* saved = saving ? d_saved.data() : nullptr;
  auto call = [&] {
    l2o_dm_fused_step_cuda(s, d_phi.data(), d_g.data(), d_state.data(), saved, kSaveSlot, d_u.data(), nullptr);
  };
  call();
  Result r;
  r.group = "fused";
  r.op = saving ? "l2o_dm_fused_step_save" : "l2o_dm_fused_step_eval";
  r.shape = fused_shape_text(s) + (saving ? ", saving into slot " + std::to_string(kSaveSlot) : ", saved=nullptr");
  const auto& u_ref = saving ? f.u_save : f.u_eval;
  const auto& state_ref = saving ? f.state_save : f.state_eval;
  r.check.merge(compare("u", down(d_u).data(), u_ref.data(), n, 1e-5, 1e-4));
  r.check.merge(compare("state", down(d_state).data(), state_ref.data(), s.state_size(), 1e-5, 1e-4));
  if (saving) {
    const auto slot = slot_columns(s, down(d_saved), kSaveSlot);
    r.check.merge(compare("saved slot", slot.data(), f.slot_save.data(), s.dims<float>().saved_rows() * n, 1e-5, 1e-4));
  }
  r.check.what = "l2o_dm_fused_step_cpu<float> (u, state" + std::string(saving ? ", saved slot)" : ")");
  r.cost = fused_step_cost(s, saving);
  timed(st, std::move(r), budget, call);
}

// The device side of a segment: kSteps saving steps from state0 (u of step t at u + t n).
struct FusedSegment {
  const FusedRef& f;
  DeviceBuffer<float> phi, state, grads, u, saved;
  explicit FusedSegment(const FusedRef& ref)
      : f(ref), phi(up(ref.phi)), state(up(ref.state0)), grads(up(ref.grads)), u(kSteps * ref.s.n),
        saved(ref.s.saved_size()) {
    saved.zero();
  }
  void forward() {
    for (int64_t t = 0; t < kSteps; ++t)
      l2o_dm_fused_step_cuda(f.s, phi.data(), grads.data() + t * f.s.n, state.data(), saved.data(), t,
                             u.data() + t * f.s.n, nullptr);
  }
};

void bench_fused_forward(State& st, double budget) {
  const FusedRef& f = fused_ref(st.args.n);
  FusedSegment seg(f);
  seg.forward();
  Result r;
  r.group = "fused";
  r.op = "l2o_dm_fused_segment_forward";
  r.shape = fused_shape_text(f.s) + ", " + std::to_string(kSteps) + " saving steps";
  r.check.merge(compare("u (all steps)", down(seg.u).data(), f.u_seg.data(), kSteps * f.s.n, 1e-5, 1e-4));
  r.check.merge(compare("state", down(seg.state).data(), f.state_seg.data(), f.s.state_size(), 1e-5, 1e-4));
  r.check.merge(compare("saved", down(seg.saved).data(), f.saved_seg.data(), f.s.saved_size(), 1e-5, 1e-4));
  r.check.what = std::to_string(kSteps) + " steps of l2o_dm_fused_step_cpu<float> (u, state, saved)";
  r.cost = fused_step_cost(f.s, true).scaled(double(kSteps));
  timed(st, std::move(r), budget, [&] { seg.forward(); });  // the state runs on: bounded LSTM dynamics
}

// The backward of the segment each backend saved itself from the same phi, state0 and gradients.
void bench_fused_backward(State& st, double budget) {
  const FusedRef& f = fused_ref(st.args.n);
  FusedSegment seg(f);
  seg.forward();
  auto c_init = up(f.state0), dl_du = up(f.dl_du);
  DeviceBuffer<float> ws(f.s.workspace_size()), dphi(f.s.num_params());
  auto call = [&] {
    l2o_dm_fused_backward_cuda(f.s, seg.phi.data(), kSteps, seg.saved.data(), c_init.data(), dl_du.data(),
                               ws.data(), dphi.data());
  };
  call();
  Result r;
  r.group = "fused";
  r.op = "l2o_dm_fused_segment_backward";
  r.shape = fused_shape_text(f.s) + ", " + std::to_string(kSteps) + " steps BPTT";
  r.check = compare("dphi", down(dphi).data(), f.dphi.data(), f.s.num_params(), 1e-4, 1e-3);
  r.check.what = "l2o_dm_fused_backward_cpu<float> on the CPU twin's own 20-step segment (dphi)";
  r.cost = fused_backward_cost(f.s, kSteps);
  timed(st, std::move(r), budget, call);
}

// ------------------------------------------------------------------------------------------------
// Fused RNNprop (kernels/rnnprop_fused.h), timed as the L2O-DM ops above: the same gradients and
// dl_du, a carried-in state (v >= 0) and step count (bias corrections of steps kRpT0 + 1, ...).
// Tolerances are test_gpu's RNNprop ones (the moments' sqrt and the ELU's exp round differently on
// the two twins): forward a 1e-5, r 1e-4; dphi a 1e-4, r 1e-3.
constexpr int64_t kRpT0 = 3;

struct RnnpropRef {
  RnnpropFusedShape s;
  std::vector<float> phi, state0, grads, dl_du;
  std::vector<float> u_eval, state_eval, u_save, state_save, slot_save, u_seg, state_seg, saved_seg, dphi;
};

const RnnpropRef& rnnprop_ref(int64_t n) {
  static std::unique_ptr<RnnpropRef> ref;
  if (ref) return *ref;
  ref = std::make_unique<RnnpropRef>();
  RnnpropRef& f = *ref;
  const RnnpropConfig cfg;  // the engine's default RNNprop: P = 20, hidden [20, 20]
  f.s = rnnprop_shape(cfg, n, kSteps);
  const RnnpropFusedShape& s = f.s;
  f.phi.resize(s.num_params());
  Rnnprop<float>(cfg).init_params(0, f.phi.data());
  f.state0 = normal_values(s.state_size(), 4, 0.3);
  for (int64_t i = n; i < 2 * n; ++i) f.state0[i] = std::fabs(f.state0[i]);  // row 1: v >= 0
  f.grads = normal_values(kSteps * n, 5, 1.0);
  for (int64_t i = 0; i < kSteps * n; ++i) f.grads[i] *= std::pow(10.0f, -1.0f - static_cast<float>(i % 4));
  f.dl_du = normal_values(kSteps * n, 6, 1e-2);

  int64_t t = kRpT0;
  f.u_eval.resize(n);
  f.state_eval = f.state0;
  rnnprop_fused_step_cpu<float>(s, &t, f.phi.data(), f.grads.data(), f.state_eval.data(), nullptr, 0,
                                f.u_eval.data(), nullptr);
  std::vector<float> saved(s.saved_size(), 0.0f);
  t = kRpT0;
  f.u_save.resize(n);
  f.state_save = f.state0;
  rnnprop_fused_step_cpu<float>(s, &t, f.phi.data(), f.grads.data(), f.state_save.data(), saved.data(), kSaveSlot,
                                f.u_save.data(), nullptr);
  f.slot_save = slot_columns(s, saved, kSaveSlot);

  t = kRpT0;
  f.u_seg.resize(kSteps * n);
  f.state_seg = f.state0;
  std::fill(saved.begin(), saved.end(), 0.0f);
  for (int64_t k = 0; k < kSteps; ++k)
    rnnprop_fused_step_cpu<float>(s, &t, f.phi.data(), f.grads.data() + k * n, f.state_seg.data(), saved.data(), k,
                                  f.u_seg.data() + k * n, nullptr);
  f.saved_seg = std::move(saved);
  std::vector<float> ws(s.workspace_size());
  f.dphi.resize(s.num_params());
  rnnprop_fused_backward_cpu<float>(s, f.phi.data(), kSteps, f.saved_seg.data(), f.state0.data(), f.dl_du.data(),
                                    ws.data(), f.dphi.data());
  return f;
}

// As fused_step_cost / fused_backward_cost (the input width is 2: m^ and g features).
OpCost rp_step_cost(const RnnpropFusedShape& s, bool saving) {
  const RnnpropDims<float> d = s.dims<float>();
  OpCost c;
  c.flops = rnnprop_fused_step_flops(s) * double(s.n);
  c.bytes = 4.0 * (double(s.num_params()) + double(s.n) * (2 + 2 * d.state_rows() + (saving ? d.saved_rows() : 0)));
  return c;
}

OpCost rp_backward_cost(const RnnpropFusedShape& s, int64_t steps) {
  const RnnpropDims<float> d = s.dims<float>();
  const double m = double(steps) * double(s.n);
  OpCost c;
  c.flops = rnnprop_fused_backward_flops(s) * m;
  c.gemm_flops = gemm_flops(d.P, 2, m) + gemm_flops(4.0 * d.H0, d.k0(), m) + gemm_flops(4.0 * d.H1, d.k1(), m);
  // saved, dl_du and c_init read; dz (P + 4 (H0 + H1) rows) written by the BPTT and read by the GEMMs.
  c.bytes = 4.0 * (m * (d.saved_rows() + 1 + 2.0 * (d.P + 4 * (d.H0 + d.H1))) + double(s.n) * d.state_rows() +
                   2.0 * double(s.num_params()));
  return c;
}

std::string rp_shape_text(const RnnpropFusedShape& s) {
  return "n=" + std::to_string(s.n) + " P=" + std::to_string(s.P) + " H=[" + std::to_string(s.H0) + "," +
         std::to_string(s.H1) + "]";
}

// The device step count, reset to kRpT0 before each verified call.
DeviceBuffer<int64_t> rp_count() { return up(std::vector<int64_t>{kRpT0}); }

void bench_rp_step(State& st, bool saving, double budget) {
  const RnnpropRef& f = rnnprop_ref(st.args.n);
  const RnnpropFusedShape& s = f.s;
  const int64_t n = s.n;
  auto d_phi = up(f.phi), d_state = up(f.state0);
  auto d_g = up(std::vector<float>(f.grads.begin(), f.grads.begin() + n));
  auto d_t = rp_count();
  DeviceBuffer<float> d_u(n), d_saved(saving ? s.saved_size() : 1);
  d_saved.zero();
  float* saved = saving ? d_saved.data() : nullptr;
  auto call = [&] {
    rnnprop_fused_step_cuda(s, d_t.data(), d_phi.data(), d_g.data(), d_state.data(), saved, kSaveSlot, d_u.data(),
                            nullptr);
  };
  call();
  Result r;
  r.group = "fused";
  r.op = saving ? "rnnprop_fused_step_save" : "rnnprop_fused_step_eval";
  r.shape = rp_shape_text(s) + (saving ? ", saving into slot " + std::to_string(kSaveSlot) : ", saved=nullptr");
  r.check.merge(compare("u", down(d_u).data(), (saving ? f.u_save : f.u_eval).data(), n, 1e-5, 1e-4));
  r.check.merge(compare("state", down(d_state).data(), (saving ? f.state_save : f.state_eval).data(), s.state_size(),
                        1e-5, 1e-4));
  if (saving) {
    const auto slot = slot_columns(s, down(d_saved), kSaveSlot);
    r.check.merge(compare("saved slot", slot.data(), f.slot_save.data(), s.dims<float>().saved_rows() * n, 1e-5, 1e-4));
  }
  r.check.what = "rnnprop_fused_step_cpu<float> (u, state" + std::string(saving ? ", saved slot)" : ")");
  r.cost = rp_step_cost(s, saving);
  timed(st, std::move(r), budget, call);  // the count runs on: later bias corrections, same work
}

// The device side of an RNNprop segment: kSteps saving steps from state0 and kRpT0.
struct RnnpropSegment {
  const RnnpropRef& f;
  DeviceBuffer<float> phi, state, grads, u, saved;
  DeviceBuffer<int64_t> t;
  explicit RnnpropSegment(const RnnpropRef& ref)
      : f(ref), phi(up(ref.phi)), state(up(ref.state0)), grads(up(ref.grads)), u(kSteps * ref.s.n),
        saved(ref.s.saved_size()), t(rp_count()) {
    saved.zero();
  }
  void forward() {
    for (int64_t k = 0; k < kSteps; ++k)
      rnnprop_fused_step_cuda(f.s, t.data(), phi.data(), grads.data() + k * f.s.n, state.data(), saved.data(), k,
                              u.data() + k * f.s.n, nullptr);
  }
};

void bench_rp_forward(State& st, double budget) {
  const RnnpropRef& f = rnnprop_ref(st.args.n);
  RnnpropSegment seg(f);
  seg.forward();
  Result r;
  r.group = "fused";
  r.op = "rnnprop_fused_segment_forward";
  r.shape = rp_shape_text(f.s) + ", " + std::to_string(kSteps) + " saving steps";
  r.check.merge(compare("u (all steps)", down(seg.u).data(), f.u_seg.data(), kSteps * f.s.n, 1e-5, 1e-4));
  r.check.merge(compare("state", down(seg.state).data(), f.state_seg.data(), f.s.state_size(), 1e-5, 1e-4));
  r.check.merge(compare("saved", down(seg.saved).data(), f.saved_seg.data(), f.s.saved_size(), 1e-5, 1e-4));
  r.check.what = std::to_string(kSteps) + " steps of rnnprop_fused_step_cpu<float> (u, state, saved)";
  r.cost = rp_step_cost(f.s, true).scaled(double(kSteps));
  timed(st, std::move(r), budget, [&] { seg.forward(); });
}

void bench_rp_backward(State& st, double budget) {
  const RnnpropRef& f = rnnprop_ref(st.args.n);
  RnnpropSegment seg(f);
  seg.forward();
  auto c_init = up(f.state0), dl_du = up(f.dl_du);
  DeviceBuffer<float> ws(f.s.workspace_size()), dphi(f.s.num_params());
  auto call = [&] {
    rnnprop_fused_backward_cuda(f.s, seg.phi.data(), kSteps, seg.saved.data(), c_init.data(), dl_du.data(), ws.data(),
                                dphi.data());
  };
  call();
  Result r;
  r.group = "fused";
  r.op = "rnnprop_fused_segment_backward";
  r.shape = rp_shape_text(f.s) + ", " + std::to_string(kSteps) + " steps BPTT";
  r.check = compare("dphi", down(dphi).data(), f.dphi.data(), f.s.num_params(), 1e-4, 1e-3);
  r.check.what = "rnnprop_fused_backward_cpu<float> on the CPU twin's own 20-step segment (dphi)";
  r.cost = rp_backward_cost(f.s, kSteps);
  timed(st, std::move(r), budget, call);
}

// ------------------------------------------------------------------------------------------------
// L2O-Scale (kernels/l2o_scale_ops.h) on n coordinates in three tensors (n/2, n/3, the rest), from
// the CPU learner's initial state: the eval step (the scratch slot) and a 20-step segment's
// backward, each verified against the CPU op first. Tolerances are test_gpu's L2O-Scale ones.
struct LscRef {
  std::unique_ptr<L2oScale<float>> host;
  L2oScaleShape s;  // offsets on the host
  std::vector<float> phi, state0, grads, dl_du, u_eval, state_eval, records_seg, state_seg, dphi;
};

const LscRef& lsc_ref(int64_t n) {
  static std::unique_ptr<LscRef> ref;
  if (ref) return *ref;
  ref = std::make_unique<LscRef>();
  LscRef& f = *ref;
  f.host = std::make_unique<L2oScale<float>>(L2oScaleConfig{});
  f.host->set_tensor_sizes({n / 2, n / 3, n - n / 2 - n / 3});
  f.host->reset(n, kSteps);
  f.s = f.host->shape();
  f.phi.resize(f.host->num_params());
  f.host->init_params(0, f.phi.data());
  f.host->build_initial_state(f.phi.data());
  f.state0 = f.host->host_state();
  f.grads = normal_values(kSteps * n, 5, 1.0);
  for (int64_t i = 0; i < kSteps * n; ++i) f.grads[i] *= std::pow(10.0f, -1.0f - static_cast<float>(i % 4));
  f.dl_du = normal_values(kSteps * n, 6, 1e-2);
  std::vector<float> records(f.s.records_size(), 0.0f);
  f.state_eval = f.state0;
  f.u_eval.resize(n);
  l2o_scale_step_cpu<float>(f.s, f.phi.data(), f.grads.data(),
                            l2o_scale_state_view(f.s, f.state_eval.data(), records.data()), f.s.slots, f.u_eval.data());
  f.state_seg = f.state0;
  std::vector<float> u(n), ws(f.s.workspace_size());
  const auto st = l2o_scale_state_view(f.s, f.state_seg.data(), records.data());
  for (int64_t k = 0; k < kSteps; ++k)
    l2o_scale_step_cpu<float>(f.s, f.phi.data(), f.grads.data() + k * n, st, k, u.data());
  f.records_seg = records;
  f.dphi.resize(f.host->num_params());
  l2o_scale_backward_cpu<float>(f.s, f.phi.data(), kSteps, st, f.dl_du.data(), ws.data(), f.dphi.data());
  return f;
}

// The device copy of the reference: offsets, state and records, and their view.
struct LscDevice {
  L2oScaleShape s;
  DeviceBuffer<int64_t> offs;
  DeviceBuffer<float> phi, state, records;
  L2oScaleState<float> view{};
  LscDevice(const LscRef& f, const std::vector<float>& state0, const std::vector<float>& records0)
      : s(f.s), offs(up(f.host->tensor_offsets())), phi(up(f.phi)), state(up(state0)), records(up(records0)) {
    s.offs = offs.data();
    view = l2o_scale_state_view(s, state.data(), records.data());
  }
};

std::string lsc_shape_text(const L2oScaleShape& s) {
  return "n=" + std::to_string(s.n) + " in " + std::to_string(s.tensors) + " tensors, H=[" + std::to_string(s.L.H0) +
         "," + std::to_string(s.L.H1) + "," + std::to_string(s.L.H2) + "]";
}

void bench_lsc_step(State& st, double budget) {
  const LscRef& f = lsc_ref(st.args.n);
  LscDevice d(f, f.state0, std::vector<float>(f.s.records_size(), 0.0f));
  auto g = up(std::vector<float>(f.grads.begin(), f.grads.begin() + f.s.n));
  DeviceBuffer<float> u(f.s.n);
  auto call = [&] { l2o_scale_step_cuda(d.s, d.phi.data(), g.data(), d.view, d.s.slots, u.data()); };
  call();
  Result r;
  r.group = "fused";
  r.op = "l2o_scale_step_eval";
  r.shape = lsc_shape_text(f.s) + ", the scratch slot";
  r.check.merge(compare("u", down(u).data(), f.u_eval.data(), f.s.n, 1e-5, 1e-3));
  r.check.merge(compare("state", down(d.state).data(), f.state_eval.data(), f.s.state_size(), 1e-5, 1e-3));
  r.check.what = "l2o_scale_step_cpu<float> (u, state)";
  r.cost = l2o_scale_step_cost(f.s.n, f.s.L.H0);
  timed(st, std::move(r), budget, call);  // the state runs on: the same work each step
}

void bench_lsc_backward(State& st, double budget) {
  const LscRef& f = lsc_ref(st.args.n);
  LscDevice d(f, f.state_seg, f.records_seg);
  auto dl_du = up(f.dl_du);
  DeviceBuffer<float> ws(f.s.workspace_size()), dphi(f.host->num_params());
  auto call = [&] { l2o_scale_backward_cuda(d.s, d.phi.data(), kSteps, d.view, dl_du.data(), ws.data(), dphi.data()); };
  call();
  Result r;
  r.group = "fused";
  r.op = "l2o_scale_segment_backward";
  r.shape = lsc_shape_text(f.s) + ", " + std::to_string(kSteps) + " steps BPTT";
  r.check = compare("dphi", down(dphi).data(), f.dphi.data(), f.host->num_params(), 1e-4, 2e-3);
  r.check.what = "l2o_scale_backward_cpu<float> on the CPU op's own 20-step segment (dphi)";
  r.cost = l2o_scale_backward_cost(f.s.n, kSteps, f.s.L.H0);
  timed(st, std::move(r), budget, call);
}

// ------------------------------------------------------------------------------------------------
// MLP-orig's kernels between the cuBLAS GEMMs. Bytes and FLOPs by op_cost.h's conventions
// (op_cost.h has the whole forward/backward only): sigmoid 4 FLOPs + the bias add, its derivative
// y (1 - y) delta 3, softmax cross-entropy 6 per logit.
void bench_mlp(State& st, const std::string& op, double budget) {
  Result r;
  r.group = "mlp";
  r.op = op;
  const auto act = Activation::sigmoid;  // MLP-orig's hidden activation
  if (op == "gather_rows") {
    const auto images = normal_values(kExamples * kInputs, 20, 0.3, 0.5);
    std::vector<int32_t> labels(kExamples), idx(kBatch), y(kBatch);
    Rng rng(21, 7);
    for (auto& l : labels) l = static_cast<int32_t>(rng.below(kClasses));
    for (auto& i : idx) i = static_cast<int32_t>(rng.below(kExamples));
    std::vector<float> x(kBatch * kInputs);
    gather_rows_cpu(kBatch, kInputs, images.data(), labels.data(), idx.data(), x.data(), y.data());
    auto d_images = up(images);
    auto d_labels = up(labels), d_idx = up(idx);
    DeviceBuffer<float> d_x(kBatch * kInputs);
    DeviceBuffer<int32_t> d_y(kBatch);
    auto call = [&] {
      gather_rows_cuda(kBatch, kInputs, d_images.data(), d_labels.data(), d_idx.data(), d_x.data(), d_y.data());
    };
    call();
    r.shape = std::to_string(kBatch) + " of " + std::to_string(kExamples) + " rows x " + std::to_string(kInputs);
    r.check.merge(compare("x", down(d_x).data(), x.data(), kBatch * kInputs, 0, 0));
    r.check.merge(compare("y", down(d_y).data(), y.data(), kBatch, 0, 0));
    r.check.what = "gather_rows_cpu (exact)";
    r.cost.bytes = 4.0 * (2 * kBatch * kInputs + 3 * kBatch);
    timed(st, std::move(r), budget, call);
  } else if (op == "bias_act_forward_sigmoid") {
    const auto z0 = normal_values(kBatch * kHidden, 22, 2.0), b = normal_values(kHidden, 23, 0.5);
    auto z = z0;
    bias_act_forward_cpu(kBatch, kHidden, b.data(), act, z.data());
    auto d_z = up(z0), d_b = up(b);
    auto call = [&] { bias_act_forward_cuda(kBatch, kHidden, d_b.data(), act, d_z.data()); };
    call();
    r.shape = std::to_string(kBatch) + "x" + std::to_string(kHidden) + " in place";
    r.check = compare("a", down(d_z).data(), z.data(), kBatch * kHidden, 1e-7, 1e-6);
    r.check.what = "bias_act_forward_cpu";
    r.cost.flops = (1 + kSigmoidFlops) * kBatch * kHidden;  // re-applied to its own output when repeated
    r.cost.bytes = 4.0 * (2 * kBatch * kHidden + kHidden);
    timed(st, std::move(r), budget, call);
  } else if (op == "act_backward_sigmoid") {
    std::vector<float> a = normal_values(kBatch * kHidden, 24, 2.0);
    for (auto& v : a) v = 1.0f / (1.0f + std::exp(-v));  // sigmoid outputs
    const auto delta0 = normal_values(kBatch * kHidden, 25, 1e-2);
    auto delta = delta0;
    act_backward_cpu(kBatch * kHidden, act, a.data(), delta.data());
    auto d_a = up(a), d_delta = up(delta0);
    auto call = [&] { act_backward_cuda(kBatch * kHidden, act, d_a.data(), d_delta.data()); };
    call();
    r.shape = std::to_string(kBatch) + "x" + std::to_string(kHidden) + " in place";
    r.check = compare("delta", down(d_delta).data(), delta.data(), kBatch * kHidden, 1e-7, 1e-6);
    r.check.what = "act_backward_cpu";
    // delta shrinks when repeated and reaches denormals/zero: no slowdown on the GPU.
    r.cost.flops = 3.0 * kBatch * kHidden;
    r.cost.bytes = 4.0 * 3 * kBatch * kHidden;
    timed(st, std::move(r), budget, call);
  } else if (op == "softmax_xent" || op == "sum_loss_rows") {
    const auto logits = normal_values(kBatch * kClasses, 26, 3.0);
    std::vector<int32_t> y(kBatch);
    Rng rng(27, 7);
    for (auto& l : y) l = static_cast<int32_t>(rng.below(kClasses));
    const float scale = 1.0f / kBatch;
    std::vector<float> loss(kBatch), dlogits(kBatch * kClasses);
    softmax_xent_cpu(kBatch, kClasses, logits.data(), y.data(), scale, loss.data(), dlogits.data());
    auto d_logits = up(logits);
    auto d_y = up(y);
    DeviceBuffer<float> d_loss(kBatch), d_dlogits(kBatch * kClasses);
    softmax_xent_cuda(kBatch, kClasses, d_logits.data(), d_y.data(), scale, d_loss.data(), d_dlogits.data());
    if (op == "softmax_xent") {
      r.shape = std::to_string(kBatch) + "x" + std::to_string(kClasses);
      r.check.merge(compare("loss rows", down(d_loss).data(), loss.data(), kBatch, 1e-6, 1e-5));
      r.check.merge(compare("dlogits", down(d_dlogits).data(), dlogits.data(), kBatch * kClasses, 1e-6, 1e-5));
      r.check.what = "softmax_xent_cpu (loss rows, dlogits)";
      r.cost.flops = 6.0 * kBatch * kClasses;
      r.cost.bytes = 4.0 * (2 * kBatch * kClasses + 2 * kBatch);
      timed(st, std::move(r), budget, [&] {
        softmax_xent_cuda(kBatch, kClasses, d_logits.data(), d_y.data(), scale, d_loss.data(), d_dlogits.data());
      });
    } else {  // CUB's reduction of the loss rows, on the CPU twin's rows so only the sum differs
      d_loss.upload(loss.data(), kBatch);
      float sum = 0;
      size_t cpu_bytes = 0, bytes = 0;  // both twins: query the temporary storage, then sum
      sum_cpu(kBatch, loss.data(), nullptr, nullptr, &cpu_bytes);
      std::vector<unsigned char> cpu_ws(cpu_bytes);
      sum_cpu(kBatch, loss.data(), &sum, cpu_ws.data(), &cpu_bytes);
      sum_cuda(kBatch, d_loss.data(), nullptr, nullptr, &bytes);
      DeviceBuffer<unsigned char> tmp(static_cast<int64_t>(std::max<size_t>(bytes, 1)));
      DeviceBuffer<float> d_sum(1);
      auto call = [&] { sum_cuda(kBatch, d_loss.data(), d_sum.data(), tmp.data(), &bytes); };
      call();
      r.shape = std::to_string(kBatch) + " values (CUB)";
      r.check = compare("sum", down(d_sum).data(), &sum, 1, 0, 1e-5);
      r.check.what = "sum_cpu";
      r.cost.flops = double(kBatch);
      r.cost.bytes = 4.0 * (kBatch + 1);
      timed(st, std::move(r), budget, call);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Elementwise optimizers: one call on each backend from the same state, then the CUDA op timed.
void bench_optim(State& st, OptimOp op, double budget) {
  const int64_t n = st.args.n;
  const OptimBenchArgs oa;
  const float lr = oa.lr, mu = oa.mu, b1 = oa.b1, b2 = oa.b2, eps = oa.eps, alpha = oa.alpha;
  const int64_t t = oa.t;
  const auto g = normal_values(n, 11, 1e-2);
  auto s1 = normal_values(n, 12, 1e-3);  // momentum buffer / Adam m
  auto s2 = normal_values(n, 13, 1e-2);
  for (auto& x : s2) x = x * x;  // second moments are positive
  auto p = normal_values(n, 14, 1.0);  // adam_apply's parameters
  std::vector<float> u(n, 0.0f);
  auto d_g = up(g), d_s1 = up(s1), d_s2 = up(s2), d_p = up(p), d_u = up(u);
  auto call = [&] {
    switch (op) {
      case OptimOp::sgd: sgd_update_cuda(n, d_g.data(), d_u.data(), lr); break;
      case OptimOp::momentum: momentum_update_cuda(n, d_g.data(), d_s1.data(), d_u.data(), lr, mu, false); break;
      case OptimOp::nag: momentum_update_cuda(n, d_g.data(), d_s1.data(), d_u.data(), lr, mu, true); break;
      case OptimOp::adam:
        adam_update_cuda(n, d_g.data(), d_s1.data(), d_s2.data(), d_u.data(), lr, b1, b2, eps, t);
        break;
      case OptimOp::adagrad: adagrad_update_cuda(n, d_g.data(), d_s2.data(), d_u.data(), lr, eps); break;
      case OptimOp::rmsprop: rmsprop_update_cuda(n, d_g.data(), d_s2.data(), d_u.data(), lr, alpha, eps); break;
      case OptimOp::adam_apply:
        adam_apply_cuda(n, d_p.data(), d_g.data(), d_s1.data(), d_s2.data(), lr, b1, b2, eps, t);
        break;
    }
  };
  optim_cpu(op, n, oa, g.data(), s1.data(), s2.data(), u.data(), p.data());
  call();
  Result r;
  r.group = "optim";
  r.op = optim_op_name(op);
  r.shape = "n=" + std::to_string(n);
  if (op == OptimOp::adam_apply) r.check.merge(compare("param", down(d_p).data(), p.data(), n, 1e-7, 1e-6));
  else r.check.merge(compare("u", down(d_u).data(), u.data(), n, 1e-6, 1e-5));
  if (op == OptimOp::momentum || op == OptimOp::nag || op == OptimOp::adam || op == OptimOp::adam_apply)
    r.check.merge(compare("state1", down(d_s1).data(), s1.data(), n, 1e-6, 1e-5));
  if (op == OptimOp::adam || op == OptimOp::adam_apply || op == OptimOp::adagrad || op == OptimOp::rmsprop)
    r.check.merge(compare("state2", down(d_s2).data(), s2.data(), n, 1e-6, 1e-5));
  r.check.what = "the CPU twin from the same state (update and state)";
  r.cost = optim_cost(op, n);
  timed(st, std::move(r), budget, call);
}

// ------------------------------------------------------------------------------------------------
void print_table(const State& st) {
  std::printf("## CUDA ops (%s; n = %lld coordinates unless the shape says otherwise)\n\n", st.device.c_str(),
              static_cast<long long>(st.args.n));
  std::printf("| group | op | shape | verified vs CPU twin (max err / max ref) | reps | median ms | min ms | GFLOP/s "
              "| GB/s |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& r : st.results) {
    if (r.skipped) {
      std::printf("| %s | %s | %s | %s | skipped: %s | | | | |\n", r.group.c_str(), r.op.c_str(), r.shape.c_str(),
                  verify_cell(r.check).c_str(), r.note.c_str());
      continue;
    }
    std::printf("| %s | %s | %s | %s | %d | %s | %s | %s | %s |\n", r.group.c_str(), r.op.c_str(), r.shape.c_str(),
                verify_cell(r.check).c_str(), r.t.reps, fmt(r.t.median_ms, "%.4g").c_str(),
                fmt(r.t.min_ms, "%.4g").c_str(), fmt(r.gflops(), "%.1f").c_str(), fmt(r.gbps(), "%.1f").c_str());
  }
}

int usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "bench_ops_cuda: %s\n", why.c_str());
  std::fprintf(why.empty() ? stdout : stderr,
               "usage: bench_ops_cuda [--max-seconds S] [--json FILE] [--only fused,mlp,optim] [--n N] "
               "[--min-reps R]\n");
  return why.empty() ? 0 : 2;
}

// The whole argument must be a number.
bool parse_number(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end && *end == '\0' && std::isfinite(out);
}

}  // namespace

int main(int argc, char** argv) {
  State st;
  Args& a = st.args;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") return usage("");
    if (k != "--max-seconds" && k != "--json" && k != "--only" && k != "--n" && k != "--min-reps")
      return usage("unknown argument \"" + k + "\"");
    if (i + 1 >= argc) return usage(k + " needs a value");
    const std::string v = argv[++i];
    double x = 0;
    if (k == "--json") {
      a.json = v;
    } else if (k == "--only") {
      a.only = split_csv(v);
      if (a.only.empty()) return usage("--only: no group given");
      for (const auto& g : a.only)
        if (std::find(kGroups.begin(), kGroups.end(), g) == kGroups.end())
          return usage("--only: unknown group \"" + g + "\" (fused, mlp, optim)");
    } else if (!parse_number(v, x)) {
      return usage(k + ": \"" + v + "\" is not a number");
    } else if (k == "--max-seconds") {
      if (!(x > 0)) return usage("--max-seconds must be > 0, got \"" + v + "\"");
      a.max_seconds = x;
    } else if (k == "--n") {
      if (x < 1 || x > 1e8 || x != std::floor(x)) return usage("--n must be an integer in 1..1e8, got \"" + v + "\"");
      a.n = static_cast<int64_t>(x);
    } else {
      if (x < 1 || x > 1000 || x != std::floor(x)) return usage("--min-reps must be in 1..1000, got \"" + v + "\"");
      a.min_reps = static_cast<int>(x);
    }
  }

  // No device: skip before touching anything else (ctest's SKIP_RETURN_CODE 77).
  int devices = 0;
  const cudaError_t err = cudaGetDeviceCount(&devices);
  if (err != cudaSuccess || devices == 0) {
    std::printf("bench_ops_cuda: skipped: no CUDA device (%s)\n",
                err != cudaSuccess ? cudaGetErrorString(err) : "device count 0");
    return 77;
  }

  try {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    st.device = std::string(prop.name) + ", sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
    std::unique_ptr<std::ofstream> json;  // opened first: a bad path is a usage error, found before any work
    if (!a.json.empty()) {
      json = std::make_unique<std::ofstream>(a.json);
      if (!*json) return usage("cannot write --json file \"" + a.json + "\"");
    }
    std::vector<Plan> plans;
    if (a.want("fused")) {
      plans.push_back({"fused", "l2o_dm_fused_step_eval", 1, [&st](double b) { bench_fused_step(st, false, b); }});
      plans.push_back({"fused", "l2o_dm_fused_step_save", 1, [&st](double b) { bench_fused_step(st, true, b); }});
      plans.push_back({"fused", "l2o_dm_fused_segment_forward", 2, [&st](double b) { bench_fused_forward(st, b); }});
      plans.push_back({"fused", "l2o_dm_fused_segment_backward", 2, [&st](double b) { bench_fused_backward(st, b); }});
      plans.push_back({"fused", "rnnprop_fused_step_eval", 1, [&st](double b) { bench_rp_step(st, false, b); }});
      plans.push_back({"fused", "rnnprop_fused_step_save", 1, [&st](double b) { bench_rp_step(st, true, b); }});
      plans.push_back({"fused", "rnnprop_fused_segment_forward", 2, [&st](double b) { bench_rp_forward(st, b); }});
      plans.push_back({"fused", "rnnprop_fused_segment_backward", 2, [&st](double b) { bench_rp_backward(st, b); }});
      plans.push_back({"fused", "l2o_scale_step_eval", 1, [&st](double b) { bench_lsc_step(st, b); }});
      plans.push_back({"fused", "l2o_scale_segment_backward", 2, [&st](double b) { bench_lsc_backward(st, b); }});
    }
    if (a.want("mlp"))
      for (const char* op : {"gather_rows", "bias_act_forward_sigmoid", "act_backward_sigmoid", "softmax_xent",
                             "sum_loss_rows"})
        plans.push_back({"mlp", op, 0.5, [&st, op](double b) { bench_mlp(st, op, b); }});
    if (a.want("optim"))
      for (OptimOp op : {OptimOp::sgd, OptimOp::momentum, OptimOp::nag, OptimOp::adam, OptimOp::adagrad,
                         OptimOp::rmsprop, OptimOp::adam_apply})
        plans.push_back({"optim", optim_op_name(op), 0.3, [&st, op](double b) { bench_optim(st, op, b); }});
    run_plans(plans, a.max_seconds, [&st](const Plan& p) {
      Result r;
      r.group = p.group;
      r.op = p.name;
      r.backend = "cuda";
      r.skipped = true;
      r.note = "time cap";
      st.results.push_back(std::move(r));
    });
    if (json)
      for (const auto& r : st.results) {
        nlohmann::json j = r.to_json(kBench);
        if (r.skipped && r.check.done) j["verify"] = check_json(r.check);  // why it was not timed
        *json << j.dump() << "\n";
      }
    print_table(st);
    if (st.failed) {
      std::fprintf(stderr, "bench_ops_cuda: verification FAILED (see the table)\n");
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ops_cuda: %s\n", e.what());
    return 1;
  }
}
