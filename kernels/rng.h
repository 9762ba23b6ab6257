// Counter-based Philox4x32-10 RNG (Salmon et al. 2011, as in cuRAND/JAX).
// The same (key, counter) gives the same numbers on CPU and GPU, and a stream is
// resumable from two integers, which is what checkpoints store.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace l2o {

struct Philox4 {
  uint32_t v[4];
};

L2O_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// One 128-bit block of random bits for (key, counter).
L2O_HD Philox4 philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1): never exactly 0, so log() is safe.
L2O_HD double u32_to_unit(uint32_t x) { return (static_cast<double>(x) + 0.5) * (1.0 / 4294967296.0); }

// A sequential stream over Philox blocks: key = seed, counter_hi = stream id, counter_lo = position.
class Rng {
 public:
  Rng() = default;
  Rng(uint64_t seed, uint64_t stream, uint64_t position = 0) : seed_(seed), stream_(stream), pos_(position) {}

  uint32_t next_u32() {
    if (have_ == 0) {
      block_ = philox4x32(seed_, pos_++, stream_);
      have_ = 4;
    }
    return block_.v[4 - have_--];
  }
  double uniform() { return u32_to_unit(next_u32()); }
  // Uniform integer in [0, n) (Lemire's multiply-shift; bias < n / 2^32, negligible for datasets).
  uint32_t below(uint32_t n) { return static_cast<uint32_t>((static_cast<uint64_t>(next_u32()) * n) >> 32); }
  double normal() {  // Box-Muller; the second value is dropped to keep the stream position simple
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // Normal truncated to [-2 std, 2 std] by resampling (TensorFlow's truncated_normal).
  double truncated_normal(double stddev) {
    for (;;) {
      double z = normal();
      if (std::fabs(z) <= 2.0) return z * stddev;
    }
  }

  // Resumable position: blocks consumed plus leftover words in the current block.
  struct State {
    uint64_t seed, stream, pos;
    int have;
  };
  State state() const { return {seed_, stream_, pos_, have_}; }
  static Rng from_state(const State& s) {
    Rng r(s.seed, s.stream, s.pos);
    if (s.have > 0) {
      r.block_ = philox4x32(s.seed, s.pos - 1, s.stream);
      r.have_ = s.have;
    }
    return r;
  }

 private:
  uint64_t seed_ = 0, stream_ = 0, pos_ = 0;
  Philox4 block_{{0, 0, 0, 0}};
  int have_ = 0;
};

// Named streams so that e.g. minibatches do not depend on how many numbers init consumed.
enum RngStream : uint64_t {
  kStreamInit = 1,        // optimizee parameters
  kStreamProblem = 2,     // problem constants (quadratic W, y)
  kStreamBatch = 3,       // minibatch indices
  kStreamLearnerInit = 4, // meta-parameters phi
  kStreamTrainer = 5,     // epoch seeds, imitation coin flips
  kStreamScale = 6,       // random scaling of the optimizee (training.random_scale)
  kStreamLearnerState = 7,  // learner state initialisers (L2O-Scale's initial learning rates)
};

// Derive independent seeds (splitmix64): e.g. the seed of epoch e of run seed s.
inline uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace l2o
