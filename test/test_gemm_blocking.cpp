// Eigen's GEMM blocking is pinned (kernels/gemm_blocking.h): a result's bits must not depend on the
// L1 cache size the machine reports.
#include <catch2/catch.hpp>
#include <Eigen/Dense>
#include <cstring>

#include "kernels/gemm_blocking.h"
#include "kernels/rng.h"

using namespace l2o;

namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// MLP-orig's first layer at batch 128: a 784-term dot product per output.
RowMat first_layer_product() {
  Rng rng(5, 1);
  RowMat x(128, 784), w(784, 20);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(rng.uniform());
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>(rng.normal() * 0.01);
  RowMat y(128, 20);
  y.noalias() = x * w;
  return y;
}

bool same_bits(const RowMat& a, const RowMat& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

}  // namespace

TEST_CASE("Eigen plans its GEMMs with the pinned cache sizes, whatever the machine reports", "[gemm]") {
  // Set before main by the translation units that run GEMMs; no test has changed them yet.
  CHECK(Eigen::l1CacheSize() == kGemmL1Bytes);
  CHECK(Eigen::l2CacheSize() == kGemmL2Bytes);
  CHECK(Eigen::l3CacheSize() == kGemmL3Bytes);
}

TEST_CASE("a GEMM's bits depend on the L1 size Eigen plans with, so pinning it makes them machine-independent",
          "[gemm]") {
  const RowMat pinned = first_layer_product();
  // What an unpinned binary would compute on a machine with a 32 KB L1 (3 blocks of k, not 2).
  Eigen::setCpuCacheSizes(32 * 1024, kGemmL2Bytes, kGemmL3Bytes);
  const RowMat l1_32k = first_layer_product();
  pin_gemm_blocking();  // before any REQUIRE can leave the other tests on the wrong sizes
  REQUIRE_FALSE(same_bits(l1_32k, pinned));
  REQUIRE(l1_32k.isApprox(pinned, 1e-5f));  // the same product, rounded differently
  REQUIRE(Eigen::l1CacheSize() == kGemmL1Bytes);
  REQUIRE(same_bits(first_layer_product(), pinned));
}
