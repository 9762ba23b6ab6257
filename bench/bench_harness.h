// Shared benchmark harness (DESIGN.md section 3.9): a total time cap split over the planned
// benchmarks, verification before timing, warm-up, medians, JSON lines and a markdown table.
// Backend-neutral: a CUDA twin (bench_ops_cuda) passes a `sync` callable that waits for the
// device, so the same time_op measures device work.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/rng.h"
#include "kernels/op_cost.h"
#include "kernels/optim.h"

namespace l2o::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

inline double median_of(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Per-call times of one op.
struct Timing {
  int reps = 0;       // timed samples
  int64_t inner = 1;  // calls per sample (fast ops are repeated so a sample is >= min_sample_s)
  double median_ms = NAN, min_ms = NAN, max_ms = NAN;
};

struct TimeOptions {
  int min_reps = 3;
  int max_reps = 100;
  double min_sample_s = 1e-3;
};

// Warm-up (one call, then enough calls to fill min_sample_s), then samples of `inner` calls until
// max_reps, or until budget_s is spent once min_reps are in (at least one sample always).
template <class F, class S = void (*)()>
Timing time_op(F&& fn, double budget_s, const TimeOptions& o = {}, S&& sync = [] {}) {
  const auto t0 = Clock::now();
  fn();
  sync();
  const double first = std::max(seconds_since(t0), 1e-9);
  Timing t;
  t.inner = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(o.min_sample_s / first)));
  for (int64_t i = 1; i < t.inner; ++i) fn();  // the rest of the warm-up
  sync();
  std::vector<double> ms;
  const auto start = Clock::now();
  while (static_cast<int>(ms.size()) < o.max_reps) {
    const auto s0 = Clock::now();
    for (int64_t i = 0; i < t.inner; ++i) fn();
    sync();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s0).count() / double(t.inner));
    const double spent = seconds_since(start);
    const double per_sample = spent / double(ms.size());
    if (static_cast<int>(ms.size()) >= o.min_reps && spent + per_sample > budget_s) break;
    if (ms.size() >= 1 && spent + per_sample > 3 * budget_s) break;  // a hard stop past the cap
  }
  t.reps = static_cast<int>(ms.size());
  t.median_ms = median_of(ms);
  t.min_ms = *std::min_element(ms.begin(), ms.end());
  t.max_ms = *std::max_element(ms.begin(), ms.end());
  return t;
}

// Non-vacuous comparison (DESIGN.md 3.7): |got - ref| <= atol + rtol |ref| element-wise, the
// reference finite and not all zero; reports the largest errors and the first mismatches.
struct Check {
  bool ok = true;
  bool done = false;
  std::string what;         // what was compared, against what
  double max_abs = 0;       // max |got - ref|
  double max_rel = 0;       // max |got - ref| / max |ref| (scale-relative error)
  double ref_max = 0;       // max |ref|
  double atol = 0, rtol = 0;
  int64_t count = 0;
  void merge(const Check& o) {
    ok = ok && o.ok;
    done = true;
    what = what.empty() ? o.what : what + "; " + o.what;
    max_abs = std::max(max_abs, o.max_abs);
    max_rel = std::max(max_rel, o.max_rel);
    ref_max = std::max(ref_max, o.ref_max);
    atol = std::max(atol, o.atol);
    rtol = std::max(rtol, o.rtol);
    count += o.count;
  }
};

// atol_rel: atol as a fraction of max |ref| (scale-free tolerances for gradients and sums).
template <class G, class R>
Check compare(const std::string& what, const G* got, const R* ref, int64_t n, double atol_rel, double rtol) {
  Check c;
  c.done = true;
  c.what = what;
  c.count = n;
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) {
    const double r = static_cast<double>(ref[i]);
    finite = finite && std::isfinite(r);
    c.ref_max = std::max(c.ref_max, std::fabs(r));
  }
  c.atol = atol_rel * c.ref_max;
  c.rtol = rtol;
  if (!finite || c.ref_max == 0) {
    std::fprintf(stderr, "verify %s: reference %s\n", what.c_str(), finite ? "is all zero" : "is not finite");
    c.ok = false;
    return c;
  }
  int shown = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), r = static_cast<double>(ref[i]);
    const double err = std::fabs(g - r);
    const bool bad = !(err <= c.atol + rtol * std::fabs(r));  // NaN fails
    c.max_abs = std::max(c.max_abs, std::isfinite(err) ? err : INFINITY);
    if (bad) {
      c.ok = false;
      if (shown++ < 5)
        std::fprintf(stderr, "verify %s: [%lld] got %.9g ref %.9g (|err| %.3g > %.3g)\n", what.c_str(),
                     static_cast<long long>(i), g, r, err, c.atol + rtol * std::fabs(r));
    }
  }
  c.max_rel = c.max_abs / c.ref_max;
  return c;
}

// v = mean + sd * N(0, 1) from a fixed stream: the same inputs on every run and backend.
template <typename T>
void fill_normal(std::vector<T>& v, uint64_t seed, double sd, double mean = 0) {
  Rng r(seed, 7);
  for (auto& x : v) x = static_cast<T>(mean + sd * r.normal());
}
inline std::vector<float> normal_values(int64_t n, uint64_t seed, double sd, double mean = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_normal(v, seed, sd, mean);
  return v;
}

// "a,b,,c" -> {a, b, c} (command-line lists).
inline std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

// The optimizer ops' row names, shared by the CPU and CUDA benches so their JSON rows join.
inline const char* optim_op_name(OptimOp op) {
  switch (op) {
    case OptimOp::sgd: return "sgd_update";
    case OptimOp::momentum: return "momentum_update";
    case OptimOp::nag: return "nag_update";
    case OptimOp::adam: return "adam_update";
    case OptimOp::adagrad: return "adagrad_update";
    case OptimOp::rmsprop: return "rmsprop_update";
    case OptimOp::adam_apply: return "adam_apply";
  }
  return "?";
}

// The optimizer benches' hyperparameters, and one CPU call of an op. State buffers: s1 = momentum
// or Adam's m, s2 = Adam's v or the squared-gradient accumulator, p = adam_apply's parameters.
struct OptimBenchArgs {
  float lr = 1e-2f, mu = 0.9f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, alpha = 0.99f;
  int64_t t = 10;  // Adam's step (bias corrections)
};

inline void optim_cpu(OptimOp op, int64_t n, const OptimBenchArgs& a, const float* g, float* s1, float* s2, float* u,
                      float* p) {
  switch (op) {
    case OptimOp::sgd: sgd_update_cpu(n, g, u, a.lr); break;
    case OptimOp::momentum: momentum_update_cpu(n, g, s1, u, a.lr, a.mu, false); break;
    case OptimOp::nag: momentum_update_cpu(n, g, s1, u, a.lr, a.mu, true); break;
    case OptimOp::adam: adam_update_cpu(n, g, s1, s2, u, a.lr, a.b1, a.b2, a.eps, a.t); break;
    case OptimOp::adagrad: adagrad_update_cpu(n, g, s2, u, a.lr, a.eps); break;
    case OptimOp::rmsprop: rmsprop_update_cpu(n, g, s2, u, a.lr, a.alpha, a.eps); break;
    case OptimOp::adam_apply: adam_apply_cpu(n, p, g, s1, s2, a.lr, a.b1, a.b2, a.eps, a.t); break;
  }
}

inline nlohmann::json check_json(const Check& c) {
  return {{"ok", c.ok},           {"against", c.what}, {"max_abs_err", c.max_abs},
          {"max_rel_err", c.max_rel}, {"atol", c.atol},    {"rtol", c.rtol}};
}

// One planned benchmark; weight = its share of the time cap relative to the others.
struct Plan {
  std::string group, name;
  double weight = 1;
  std::function<void(double budget_s)> run;
};

// One row of the output.
struct Result {
  std::string group, op, shape;
  std::string backend = "cpu";
  int threads = 0;  // 0: the run's thread count
  bool skipped = false;
  std::string note;
  Timing t;
  OpCost cost;  // per call
  Check check;
  nlohmann::json extra = nlohmann::json::object();

  double gflops() const { return cost.flops > 0 ? cost.flops / (t.median_ms * 1e6) : NAN; }
  double gbps() const { return cost.bytes > 0 ? cost.bytes / (t.median_ms * 1e6) : NAN; }
  nlohmann::json to_json(const std::string& bench) const {
    nlohmann::json j = {{"bench", bench}, {"backend", backend}, {"group", group}, {"op", op},
                        {"shape", shape}, {"threads", threads}};
    if (skipped) {
      j["skipped"] = note;
      return j;
    }
    j["reps"] = t.reps;
    j["inner"] = t.inner;
    j["median_ms"] = t.median_ms;
    j["min_ms"] = t.min_ms;
    j["max_ms"] = t.max_ms;
    if (cost.flops > 0) {
      j["flop"] = cost.flops;
      j["gemm_flop"] = cost.gemm_flops;
      j["gflops"] = gflops();
    }
    if (cost.bytes > 0) {
      j["bytes"] = cost.bytes;
      j["gbps"] = gbps();
    }
    if (check.done) j["verify"] = check_json(check);
    if (!note.empty()) j["note"] = note;
    for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
    return j;
  }
};

// Times fn into r unless r's verification failed: a wrong op is reported, never timed.
template <class F, class S = void (*)()>
void time_if_verified(Result& r, F&& fn, double budget_s, const TimeOptions& o = {}, S&& sync = [] {}) {
  if (r.check.done && !r.check.ok) {
    r.skipped = true;
    r.note = "verification failed";
    return;
  }
  r.t = time_op(fn, budget_s, o, sync);
}

// The table's verification cell: "ok" or "**FAIL**" and max |err| / max |ref|.
inline std::string verify_cell(const Check& c) {
  if (!c.done) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.1e", c.max_rel);
  return std::string(c.ok ? "ok " : "**FAIL** ") + b;
}

// Runs the plans in order, giving each a share of the time left proportional to its weight;
// once the cap is spent, the remaining plans are skipped.
inline void run_plans(std::vector<Plan>& plans, double max_seconds, const std::function<void(const Plan&)>& skip) {
  const auto t0 = Clock::now();
  double weight_left = 0;
  for (const auto& p : plans) weight_left += p.weight;
  for (auto& p : plans) {
    const double left = max_seconds - seconds_since(t0);
    if (left <= 0) {
      skip(p);
    } else {
      std::fprintf(stderr, "[%6.1fs] %s/%s\n", seconds_since(t0), p.group.c_str(), p.name.c_str());
      p.run(left * p.weight / weight_left);
    }
    weight_left -= p.weight;
  }
}

inline std::string fmt(double v, const char* f = "%.3g") {
  if (!std::isfinite(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace l2o::bench
