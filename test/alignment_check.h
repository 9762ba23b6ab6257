// The same gradient bits wherever the caller's buffers sit. Eigen's vectorised reductions start
// with an unaligned head whose length depends on the address, which changed the summation order
// (and so the last bits, across processes and thread counts) before the sums got a fixed order.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "optimizees/optimizee.h"

namespace l2o_test {

// Loss and gradient at theta with both buffers shifted by 0..15 floats; every gradient must equal
// the first bit for bit. Returns the loss at offset 0.
inline float require_grad_bits_independent_of_alignment(l2o::OptimizeeT<float>& f, const std::vector<float>& theta,
                                                        const l2o::Batch& batch) {
  const int64_t p = static_cast<int64_t>(theta.size());
  std::vector<float> ref;
  float loss0 = 0;
  for (int64_t off = 0; off < 16; ++off) {
    INFO("offset " << off << " floats");
    std::vector<float> tbuf(p + 16), gbuf(p + 16);
    std::copy(theta.begin(), theta.end(), tbuf.begin() + off);
    const float loss = f.loss_and_grad(tbuf.data() + off, batch, gbuf.data() + off);
    std::vector<float> g(gbuf.begin() + off, gbuf.begin() + off + p);
    if (off == 0) {
      ref = g;
      loss0 = loss;
    }
    REQUIRE(g == ref);
  }
  return loss0;
}

}  // namespace l2o_test
