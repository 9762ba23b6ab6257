// CUDA twins of the fused L2O-DM ops. One thread per coordinate runs the per-coordinate code of
// l2o_dm_fused_math.h with phi in shared memory (all threads of a warp read the same weight, a
// broadcast); state, saved activations and dz are feature-major, so each feature access is
// coalesced across the warp. Weight gradients are cuBLAS GEMM/GEMV reductions over coordinates x
// steps: deterministic, no atomics. DM's 20-20 shape runs the fixed-size fast path
// (l2o_dm_fused_fixed.h: state in registers, gate weights interleaved for 128-bit shared loads);
// other sizes run the generic code.
#include "kernels/cuda_context.cuh"
#include "kernels/l2o_dm_fused.h"
#include "kernels/l2o_dm_fused_fixed.h"

namespace l2o {

namespace {

constexpr int kFusedThreads = 128;
constexpr int kFillThreads = 256;

// Copies phi into dynamic shared memory; returns it.
__device__ const float* stage_phi(const float* phi, int64_t count) {
  extern __shared__ float s_phi[];
  for (int64_t j = threadIdx.x; j < count; j += blockDim.x) s_phi[j] = phi[j];
  __syncthreads();
  return s_phi;
}

// Copies phi into dynamic shared memory in the fast path's packed layout (16-byte aligned); returns it.
__device__ const float* stage_packed_phi(const float* phi, int count, int in, int H0, int H1) {
  extern __shared__ float4 s_packed[];
  float* s = reinterpret_cast<float*>(s_packed);
  for (int j = threadIdx.x; j < count; j += blockDim.x) s[j] = phi[fused_packed_source(j, in, H0, H1)];
  __syncthreads();
  return s;
}

// __launch_bounds__ lets ptxas use up to 255 registers for the unrolled state.
template <int IN, int H0, int H1>
__global__ void __launch_bounds__(kFusedThreads) fused_step_fixed_kernel(FusedDims<float> d, const float* phi,
                                                                         const float* g, float* state, float* saved,
                                                                         float* u, float* theta) {
  const float* w = stage_packed_phi(phi, static_cast<int>(d.num_params()), IN, H0, H1);
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  const float out = fused_coord_step_fixed<float, IN, H0, H1>(d, w, g[i], state + i, saved ? saved + i : nullptr);
  u[i] = out;
  if (theta) theta[i] = __fadd_rn(theta[i], out);  // never fused with out's product: the host's add
}

template <int IN, int H0, int H1>
__global__ void __launch_bounds__(kFusedThreads) fused_bptt_fixed_kernel(FusedDims<float> d, const float* phi,
                                                                         int64_t steps, const float* saved,
                                                                         const float* c_init, const float* dl_du,
                                                                         float* dz0, float* dz1) {
  const float* w = stage_packed_phi(phi, static_cast<int>(d.num_params()), IN, H0, H1);
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  fused_coord_bptt_fixed<float, IN, H0, H1>(d, w, steps, saved + i, c_init + i, dl_du + i, dz0 + i, dz1 + i);
}

__global__ void fused_step_kernel(FusedDims<float> d, const float* phi, const float* g, float* state, float* saved,
                                  float* u, float* theta) {
  const float* w = stage_phi(phi, d.num_params());
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  const float out = fused_coord_step(d, w, g[i], state + i, saved ? saved + i : nullptr);
  u[i] = out;
  if (theta) theta[i] = __fadd_rn(theta[i], out);  // never fused with out's product: the host's add
}

__global__ void fused_bptt_kernel(FusedDims<float> d, const float* phi, int64_t steps, const float* saved,
                                  const float* c_init, const float* dl_du, float* dz0, float* dz1) {
  const float* w = stage_phi(phi, d.num_params());
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= d.n) return;
  fused_coord_bptt(d, w, steps, saved + i, c_init + i, dl_du + i, dz0 + i, dz1 + i);
}

__global__ void fill_kernel(int64_t count, float v, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = v;
}

// Dynamic shared memory for phi; above the default 48 KB the kernel must opt in.
template <typename Kernel>
size_t phi_smem(Kernel kernel, const FusedDims<float>& d) {
  const size_t bytes = static_cast<size_t>(d.num_params()) * sizeof(float);
  if (bytes > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  return bytes;
}

}  // namespace

void l2o_dm_fused_step_cuda(const L2oDmFusedShape& s, const float* phi, const float* g, float* state, float* saved,
                            int64_t slot, float* u, float* theta) {
  check_fused_step_args(s, saved != nullptr, slot);
  const FusedDims<float> d = s.dims<float>();
  const unsigned grid = grid_for(s.n, kFusedThreads);
  float* sv = saved ? saved + slot * s.n : nullptr;
  constexpr int H = kFusedFixedHidden;
  switch (fused_fixed_in(d)) {
    case 2:
      fused_step_fixed_kernel<2, H, H><<<grid, kFusedThreads, phi_smem(fused_step_fixed_kernel<2, H, H>, d),
                                         cuda_stream()>>>(d, phi, g, state, sv, u, theta);
      break;
    case 1:
      fused_step_fixed_kernel<1, H, H><<<grid, kFusedThreads, phi_smem(fused_step_fixed_kernel<1, H, H>, d),
                                         cuda_stream()>>>(d, phi, g, state, sv, u, theta);
      break;
    default:
      fused_step_kernel<<<grid, kFusedThreads, phi_smem(fused_step_kernel, d), cuda_stream()>>>(d, phi, g, state, sv,
                                                                                                u, theta);
  }
  CUDA_CHECK_LAUNCH();
}

void l2o_dm_fused_backward_cuda(const L2oDmFusedShape& s, const float* phi, int64_t steps, const float* saved,
                                const float* c_init, const float* dl_du, float* ws, float* dphi) {
  check_fused_backward_args(s, steps);
  const FusedDims<float> d = s.dims<float>();
  const int64_t ld = d.ld, m = steps * s.n;
  float* dz0 = ws;
  float* dz1 = ws + 4 * d.H0 * ld;
  float* ones = dz1 + 4 * d.H1 * ld;
  const unsigned grid = grid_for(s.n, kFusedThreads);
  constexpr int H = kFusedFixedHidden;
  switch (fused_fixed_in(d)) {
    case 2:
      fused_bptt_fixed_kernel<2, H, H><<<grid, kFusedThreads, phi_smem(fused_bptt_fixed_kernel<2, H, H>, d),
                                         cuda_stream()>>>(d, phi, steps, saved, c_init, dl_du, dz0, dz1);
      break;
    case 1:
      fused_bptt_fixed_kernel<1, H, H><<<grid, kFusedThreads, phi_smem(fused_bptt_fixed_kernel<1, H, H>, d),
                                         cuda_stream()>>>(d, phi, steps, saved, c_init, dl_du, dz0, dz1);
      break;
    default:
      fused_bptt_kernel<<<grid, kFusedThreads, phi_smem(fused_bptt_kernel, d), cuda_stream()>>>(
          d, phi, steps, saved, c_init, dl_du, dz0, dz1);
  }
  CUDA_CHECK_LAUNCH();
  fill_kernel<<<grid_for(m, kFillThreads), kFillThreads, 0, cuda_stream()>>>(m, 1.0f, ones);
  CUDA_CHECK_LAUNCH();

  // Row-major (rows, m) arrays of row stride ld are column-major (m, rows) matrices with lda = ld.
  // dW_l (K, 4H) row-major = column-major (4H, K) = dz_l (4H x m) * xh_l^T (m x K).
  cublasHandle_t h = cublas_handle();
  const float one = 1.0f, zero = 0.0f, scale = d.scale;
  const int mi = static_cast<int>(m), ldi = static_cast<int>(ld);
  L2O_CHECK(ld <= INT32_MAX, "segment too large for 32-bit cuBLAS sizes: " << ld);
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4 * d.H0, d.k0(), mi, &one, dz0, ldi, saved, ldi, &zero,
                           dphi + d.w0(), 4 * d.H0));
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4 * d.H1, d.k1(), mi, &one, dz1, ldi,
                           saved + d.row_xh1() * ld, ldi, &zero, dphi + d.w1(), 4 * d.H1));
  // Bias gradients: row sums of dz = dz^T (column-major (m, 4H)) transposed times ones.
  CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, mi, 4 * d.H0, &one, dz0, ldi, ones, 1, &zero, dphi + d.b0(), 1));
  CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, mi, 4 * d.H1, &one, dz1, ldi, ones, 1, &zero, dphi + d.b1(), 1));
  // Output projection: dwo = scale * h1 dl_du, dbo = scale * sum dl_du.
  CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, mi, d.H1, &scale, saved + d.row_h1() * ld, ldi, dl_du, 1, &zero,
                           dphi + d.wo(), 1));
  CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_T, mi, 1, &scale, dl_du, mi, ones, 1, &zero, dphi + d.bo(), 1));
}

}  // namespace l2o
