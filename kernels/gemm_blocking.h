// Eigen splits a GEMM's dot products into blocks of kc terms, summed block by block, and sizes kc
// from the L1 data cache it reads off the CPU at run time. One binary therefore rounds differently
// on machines whose L1 differs: with the x86-64-v3 build, a 784-term dot product of MLP-orig's first
// layer is 2 blocks with a 48 KB L1 and 3 with a 32 KB one, and Conv-MNIST's 400-term one 1 block
// against 2. Every translation unit that runs Eigen GEMMs calls pin_gemm_blocking() while the
// program starts, so that Eigen plans with the fixed sizes below on every machine
// (docs/reliability.md, "Resuming").
#pragma once
#include <cstddef>

namespace l2o {

// The sizes Eigen reads on the 2-core AMD EPYC machines that ran every committed result (L1 48 KB,
// L2 1 MB), so pinning them changed none of those results. Only L1 changes the summation order; L2
// and L3 size the other blocks (speed only; L3 must be non-zero, 32 MB is a common size).
constexpr std::ptrdiff_t kGemmL1Bytes = 48 * 1024;
constexpr std::ptrdiff_t kGemmL2Bytes = 1024 * 1024;
constexpr std::ptrdiff_t kGemmL3Bytes = 32 * 1024 * 1024;

// Sets Eigen's cache sizes to the ones above (idempotent, any number of calls); returns true so that
// a namespace-scope constant can call it during static initialisation.
bool pin_gemm_blocking();

}  // namespace l2o
