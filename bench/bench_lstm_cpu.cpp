// CPU microbenchmark of the L2O-DM learner on MLP-orig's 15,910 coordinates: forward step,
// segment backward, and a full 20-step meta-iteration's learner work. Medians over repeats;
// one JSON line per measurement on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine/numerics.h"
#include "kernels/rng.h"
#include "learners/l2o_dm.h"

using namespace l2o;
using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 15910;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  const int64_t T = 20;
  enable_flush_to_zero();
  L2oDm<float> dm(L2oDmConfig{});
  std::vector<float> phi(dm.num_params()), dphi(dm.num_params()), u(n);
  dm.init_params(0, phi.data());
  std::vector<std::vector<float>> grads(T, std::vector<float>(n));
  Rng rng(1, 1);
  for (auto& g : grads)
    for (auto& x : g) x = static_cast<float>(1e-3 * rng.normal());
  std::vector<float> dl_du(T * n);
  for (auto& x : dl_du) x = static_cast<float>(1e-2 * rng.normal());
  dm.reset(n, T);
  std::vector<double> fwd, bwd;
  for (int r = 0; r < repeats + 1; ++r) {  // first repeat is warm-up
    dm.begin_segment();
    auto t0 = Clock::now();
    for (int64_t t = 0; t < T; ++t) dm.step(phi.data(), grads[t].data(), u.data(), true);
    auto t1 = Clock::now();
    dm.backward(phi.data(), dl_du.data(), dphi.data());
    auto t2 = Clock::now();
    if (r == 0) continue;
    fwd.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bwd.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  const double f = median(fwd), b = median(bwd);
  // DESIGN.md section 6: ~10.3 kFLOP forward and ~30.5 kFLOP forward+BPTT per coordinate-step.
  const double gflop_fb = 30.5e3 * n * T / 1e9;
  std::printf("{\"bench\":\"l2o_dm_cpu\",\"n\":%lld,\"steps\":%lld,\"forward_ms\":%.2f,\"backward_ms\":%.2f,"
              "\"meta_iteration_ms\":%.2f,\"gflops\":%.2f}\n",
              static_cast<long long>(n), static_cast<long long>(T), f, b, f + b, gflop_fb / ((f + b) / 1e3));
  return 0;
}
