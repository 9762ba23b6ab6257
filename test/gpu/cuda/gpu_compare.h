// Helpers of the GPU-vs-CPU tests: device arrays with guard regions, and tolerance comparisons
// that print the first mismatches (DESIGN.md section 3.7).
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/rng.h"
#include "kernels/cuda_context.cuh"
#include "learners/learner.h"
#include "optimizees/optimizee.h"

namespace l2o_gpu {

constexpr int64_t kGuard = 64;  // values each side of every output
constexpr float kSentinel = -12345.678f;

// The op-test sizes: 1, 7, 33, 257 and MLP-orig's 15,910 coordinates.
inline const std::vector<int64_t>& sizes() {
  static const std::vector<int64_t> s = {1, 7, 33, 257, 15910};
  return s;
}

// A named problem reading the repository's data/ (the tests run from the build directory).
inline l2o::ProblemConfig problem(const std::string& name) {
  l2o::ProblemConfig c = l2o::problem_config_by_name(name);
  c.data_dir = L2O_SOURCE_DIR "/data";
  return c;
}

inline std::vector<float> random_floats(int64_t n, float lo, float hi, uint64_t seed) {
  l2o::Rng r(seed, 21);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(r.uniform());
  return v;
}

// One optimizee's loss and gradient on both backends at theta, on the same batch (drawn from the
// same stream on each; checked equal). The callers state their own tolerances.
struct TwinLossGrad {
  l2o::Batch batch;  // the CUDA optimizee's batch, for further calls on it
  float f_cpu = 0, f_gpu = 0;
  std::vector<float> g_cpu, g_gpu;
};

inline TwinLossGrad twin_loss_and_grad(l2o::OptimizeeT<float>& cpu, l2o::OptimizeeT<float>& gpu,
                                       const std::vector<float>& theta) {
  TwinLossGrad t;
  t.g_cpu.resize(theta.size());
  t.g_gpu.resize(theta.size());
  l2o::Rng r1(9, l2o::kStreamBatch), r2(9, l2o::kStreamBatch);
  l2o::Batch b1;
  cpu.sample_batch(r1, b1);
  gpu.sample_batch(r2, t.batch);
  REQUIRE(b1.idx == t.batch.idx);
  t.f_cpu = cpu.loss_and_grad(theta.data(), b1, t.g_cpu.data());
  t.f_gpu = gpu.loss_and_grad(theta.data(), t.batch, t.g_gpu.data());
  return t;
}

// A device copy of a host array between two guard regions of sentinels.
template <typename T>
class Guarded {
 public:
  explicit Guarded(const std::vector<T>& host) : n_(static_cast<int64_t>(host.size())), buf_(n_ + 2 * kGuard) {
    std::vector<T> all(kGuard, static_cast<T>(kSentinel));
    all.insert(all.end(), host.begin(), host.end());
    all.insert(all.end(), kGuard, static_cast<T>(kSentinel));
    buf_.upload(all.data(), n_ + 2 * kGuard);
  }
  T* data() { return buf_.data() + kGuard; }
  // The interior; the guard regions are checked to be untouched.
  std::vector<T> get() const {
    std::vector<T> all(n_ + 2 * kGuard);
    buf_.download(all.data(), n_ + 2 * kGuard);
    for (int64_t i = 0; i < kGuard; ++i) {
      INFO("guard value " << i << " before / after the output was overwritten");
      REQUIRE(all[i] == static_cast<T>(kSentinel));
      REQUIRE(all[n_ + kGuard + i] == static_cast<T>(kSentinel));
    }
    return std::vector<T>(all.begin() + kGuard, all.begin() + kGuard + n_);
  }

 private:
  int64_t n_;
  l2o::DeviceBuffer<T> buf_;
};

// |got - ref| <= atol + rtol |ref| with atol = atol_frac * max|ref|; ref finite and not all zero.
inline void require_close(const std::vector<float>& got, const std::vector<float>& ref, double rtol, double atol_frac,
                          const char* what) {
  REQUIRE(got.size() == ref.size());
  double refmax = 0;
  for (float r : ref) {
    REQUIRE(std::isfinite(r));
    refmax = std::max(refmax, static_cast<double>(std::fabs(r)));
  }
  INFO(what << ": max |ref| " << refmax);
  REQUIRE(refmax > 0);
  const double atol = atol_frac * refmax;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(static_cast<double>(got[i]) - ref[i]);
    if (!(err <= atol + rtol * std::fabs(ref[i]))) {
      if (bad < 5) UNSCOPED_INFO(what << "[" << i << "]: gpu " << got[i] << " cpu " << ref[i] << " err " << err);
      ++bad;
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " values outside rtol " << rtol << ", atol " << atol);
  REQUIRE(bad == 0);
}

// A CPU and a CUDA learner side by side over 2 epochs (the second from zero_state()) of 2 segments
// of `steps` saved steps: every update within u_tol (rtol, atol_frac), every segment's dphi within
// dphi_tol. gradients(n, seed) gives a step's gradient.
template <typename Gradients>
void compare_learners_over_segments(l2o::LearnerT<float>& cpu, l2o::LearnerT<float>& gpu, const std::vector<float>& phi,
                                    int64_t n, int64_t steps, Gradients gradients, const double (&u_tol)[2],
                                    const double (&dphi_tol)[2]) {
  std::vector<float> u_cpu(n), u_gpu(n), dphi_cpu(cpu.num_params()), dphi_gpu(cpu.num_params());
  for (int epoch = 0; epoch < 2; ++epoch) {
    cpu.zero_state();
    gpu.zero_state();
    for (int seg = 0; seg < 2; ++seg) {
      INFO("epoch " << epoch << ", segment " << seg);
      cpu.begin_segment();
      gpu.begin_segment();
      for (int64_t k = 0; k < steps; ++k) {
        const std::vector<float> g = gradients(n, 100 * epoch + 10 * seg + k);
        cpu.step(phi.data(), g.data(), u_cpu.data(), true);
        gpu.step(phi.data(), g.data(), u_gpu.data(), true);
        require_close(u_gpu, u_cpu, u_tol[0], u_tol[1], "u");
      }
      const auto dl_du = random_floats(steps * n, -1.0f, 1.0f, 7 + seg);
      cpu.backward(phi.data(), dl_du.data(), dphi_cpu.data());
      gpu.backward(phi.data(), dl_du.data(), dphi_gpu.data());
      require_close(dphi_gpu, dphi_cpu, dphi_tol[0], dphi_tol[1], "dphi");
    }
  }
}

}  // namespace l2o_gpu
