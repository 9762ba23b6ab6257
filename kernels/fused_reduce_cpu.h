// Fixed-order reductions over coordinates x steps for the fused ops' CPU twins: the weight
// gradients as plain loops whose order depends only on the sizes (the reference the CUDA GEMMs
// are tested against; deterministic for any thread count).
#pragma once
#include <cstdint>

namespace l2o {

// out (rows, cols) row-major = alpha * A (rows, m) B^T, B (cols, m); A and B of row stride ld.
template <typename T>
void fused_gemm_nt_cpu(int64_t rows, int64_t cols, int64_t m, const T* a, const T* b, int64_t ld, T alpha, T* out) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      T acc = 0;
      const T* ar = a + r * ld;
      const T* bc = b + c * ld;
      for (int64_t k = 0; k < m; ++k) acc += ar[k] * bc[k];
      out[r * cols + c] = alpha * acc;
    }
  }
}

// out (rows) = alpha * row sums of A (rows, m), row stride ld.
template <typename T>
void fused_row_sums_cpu(int64_t rows, int64_t m, const T* a, int64_t ld, T alpha, T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    T acc = 0;
    for (int64_t k = 0; k < m; ++k) acc += a[r * ld + k];
    out[r] = alpha * acc;
  }
}

}  // namespace l2o
