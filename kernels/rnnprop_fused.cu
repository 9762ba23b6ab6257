// CUDA twins of the fused RNNprop ops: one thread per coordinate runs rnnprop_fused_math.h with
// phi in shared memory; state, saved activations and dz are feature-major (coalesced across a
// warp). Weight gradients are cuBLAS GEMM/GEMV reductions over coordinates x steps:
// deterministic, no atomics.
#include "kernels/fused_smem.cuh"
#include "kernels/rnnprop_fused.h"

namespace l2o {

namespace {

constexpr int kThreads = 128;

// Reads the step count *t (steps done so far); rnnprop_advance_kernel increments it afterwards.
__global__ void rnnprop_step_kernel(RnnpropDims<float> d, const int64_t* t, const float* phi, const float* g,
                                    float* state, float* saved, float* u, float* theta) {
  const float* w = stage_phi_smem(phi, d.num_params());
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  const float out = rnnprop_coord_step(d, *t + 1, w, g[i], state + i, saved ? saved + i : nullptr);
  u[i] = out;
  if (theta) theta[i] = __fadd_rn(theta[i], out);  // never fused with out's product: the host's add
}

__global__ void rnnprop_advance_kernel(int64_t* t) { ++*t; }

__global__ void rnnprop_bptt_kernel(RnnpropDims<float> d, const float* phi, int64_t steps, const float* saved,
                                    const float* c_init, const float* dl_du, float* dzp, float* dz0, float* dz1,
                                    float* dout) {
  const float* w = stage_phi_smem(phi, d.num_params());
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  rnnprop_coord_bptt(d, w, steps, saved + i, c_init + i, dl_du + i, dzp + i, dz0 + i, dz1 + i, dout + i);
}

}  // namespace

void rnnprop_fused_step_cuda(const RnnpropFusedShape& s, int64_t* t, const float* phi, const float* g, float* state,
                             float* saved, int64_t slot, float* u, float* theta) {
  check_rnnprop_shape(s);
  L2O_CHECK(!saved || (slot >= 0 && slot < s.slots), "slot " << slot << " outside [0, " << s.slots << ")");
  const RnnpropDims<float> d = s.dims<float>();
  const size_t smem = phi_smem_bytes(rnnprop_step_kernel, d.num_params());
  rnnprop_step_kernel<<<grid_for(s.n, kThreads), kThreads, smem, cuda_stream()>>>(
      d, t, phi, g, state, saved ? saved + slot * s.n : nullptr, u, theta);
  CUDA_CHECK_LAUNCH();
  rnnprop_advance_kernel<<<1, 1, 0, cuda_stream()>>>(t);
  CUDA_CHECK_LAUNCH();
}

void rnnprop_fused_backward_cuda(const RnnpropFusedShape& s, const float* phi, int64_t steps, const float* saved,
                                 const float* c_init, const float* dl_du, float* ws, float* dphi) {
  check_rnnprop_shape(s);
  L2O_CHECK(steps >= 1 && steps <= s.slots, "steps " << steps << " outside [1, " << s.slots << "]");
  const RnnpropDims<float> d = s.dims<float>();
  const int64_t ld = d.ld, m = steps * s.n;
  L2O_CHECK(ld <= INT32_MAX, "segment too large for 32-bit cuBLAS sizes: " << ld);
  float* dzp = ws;
  float* dz0 = dzp + d.P * ld;
  float* dz1 = dz0 + 4 * d.H0 * ld;
  float* dout = dz1 + 4 * d.H1 * ld;
  float* ones = dout + ld;
  const size_t smem = phi_smem_bytes(rnnprop_bptt_kernel, d.num_params());
  rnnprop_bptt_kernel<<<grid_for(s.n, kThreads), kThreads, smem, cuda_stream()>>>(d, phi, steps, saved, c_init,
                                                                                 dl_du, dzp, dz0, dz1, dout);
  CUDA_CHECK_LAUNCH();
  fused_fill_kernel<<<grid_for(m, 256), 256, 0, cuda_stream()>>>(m, 1.0f, ones);
  CUDA_CHECK_LAUNCH();
  // Row-major (rows, m) arrays of row stride ld are column-major (m, rows) with lda = ld:
  // dW (K, G) row-major = column-major (G, K) = dz (G x m) * X^T (m x K).
  cublasHandle_t h = cublas_handle();
  const float one = 1.0f, zero = 0.0f;
  const int mi = static_cast<int>(m), ldi = static_cast<int>(ld);
  auto gemm = [&](int G, int K, const float* dz, const float* x, float* out) {
    CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, G, K, mi, &one, dz, ldi, x, ldi, &zero, out, G));
  };
  auto row_sums = [&](int G, const float* dz, float* out) {
    CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, mi, G, &one, dz, ldi, ones, 1, &zero, out, 1));
  };
  gemm(d.P, 2, dzp, saved, dphi + d.wp());
  gemm(4 * d.H0, d.k0(), dz0, saved + d.srow_xh0() * ld, dphi + d.w0());
  gemm(4 * d.H1, d.k1(), dz1, saved + d.srow_xh1() * ld, dphi + d.w1());
  gemm(1, d.H1, dout, saved + d.srow_h1() * ld, dphi + d.wo());
  row_sums(d.P, dzp, dphi + d.bp());
  row_sums(4 * d.H0, dz0, dphi + d.b0());
  row_sums(4 * d.H1, dz1, dphi + d.b1());
  row_sums(1, dout, dphi + d.bo());
}

}  // namespace l2o
