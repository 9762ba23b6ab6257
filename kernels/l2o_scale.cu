// CUDA twins of the L2O-Scale ops (l2o_scale_ops.h): per-parameter kernels (one thread per
// parameter) run l2o_scale_math.h's pieces between deterministic per-tensor sums (one block per
// tensor and column, a fixed-order tree in double); each tensor's level 1 and the global level run
// on one thread. The backward keeps each step's per-parameter backward rows and takes the level-0
// and readout weight gradients at the end as sums of products over parameters x steps, one block
// per weight. No atomics anywhere: the result depends only on the inputs and the launch shapes.
// Records and rows are parameter-major (as on the CPU); coalescing them is later work.
#include "kernels/block_reduce.cuh"
#include "kernels/cuda_context.cuh"
#include "kernels/l2o_scale_ops.h"

namespace l2o {

namespace {

using namespace lsc;

constexpr int kThreads = 128;  // per-parameter kernels
constexpr int kSum = 256;      // reductions

// The tensor of parameter p (few tensors: a linear scan).
__device__ __forceinline__ int tensor_of(const int64_t* offs, int tensors, int64_t p) {
  int k = 0;
  while (k + 1 < tensors && p >= offs[k + 1]) ++k;
  return k;
}

// Block (k, j) sums op.value(k, p, j) over p in [op.begin(k), op.end(k)) and hands the total to
// op.write(k, j, total, count).
template <typename Op>
__global__ void segment_sum_kernel(Op op) {
  __shared__ double sh[kSum];
  const int k = blockIdx.x, j = blockIdx.y;
  const int64_t b = op.begin(k), e = op.end(k);
  double acc = 0;
  for (int64_t p = b + threadIdx.x; p < e; p += kSum) acc += op.value(k, p, j);
  const double total = block_sum<kSum>(acc, sh);
  if (threadIdx.x == 0) op.write(k, j, total, e - b);
}

template <typename Op>
void segment_sum(const Op& op, int segments, int width) {
  if (segments < 1 || width < 1) return;
  segment_sum_kernel<<<dim3(segments, width), kSum, 0, cuda_stream()>>>(op);
  CUDA_CHECK_LAUNCH();
}

struct TensorRange {
  const int64_t* offs;
  __device__ int64_t begin(int k) const { return offs[k]; }
  __device__ int64_t end(int k) const { return offs[k + 1]; }
};

struct AllRange {
  int64_t n;
  __device__ int64_t begin(int) const { return 0; }
  __device__ int64_t end(int) const { return n; }
};

// ---- forward ------------------------------------------------------------------------------------

struct MeanLrOp : AllRange {
  const float* lr;
  float* gr;
  int at;
  __device__ double value(int, int64_t p, int) const { return lr[p]; }
  __device__ void write(int, int, double total, int64_t count) const { gr[at] = static_cast<float>(total / count); }
};

struct ForcedOp : TensorRange {  // 1 where all of the tensor's mean squares at scale j are zero
  const float* ms;
  float* rec_t;
  L2oScaleLayout L;
  __device__ double value(int, int64_t p, int j) const { return ms[p * kS + j] != 0.0f ? 1.0 : 0.0; }
  __device__ void write(int k, int j, double total, int64_t) const {
    rec_t[k * L.wt + L.t_forced + j] = total == 0.0 ? 1.0f : 0.0f;
  }
};

struct X1Op : TensorRange {  // x1 = the tensor's mean of [h0_new, features]
  const float* rec_p;
  float* rec_t;
  L2oScaleLayout L;
  __device__ double value(int, int64_t p, int j) const {
    const float* R = rec_p + p * L.wp;
    return j < L.H0 ? R[L.o_h0n + j] : R[L.o_f + j - L.H0];
  }
  __device__ void write(int k, int j, double total, int64_t count) const {
    rec_t[k * L.wt + L.t_x1 + j] = static_cast<float>(total) / static_cast<float>(count);
  }
};

struct RmsOp : TensorRange {  // the raw direction's RMS over the tensor
  const float* rec_p;
  float* rec_t;
  L2oScaleLayout L;
  __device__ double value(int, int64_t p, int) const {
    const double d = rec_p[p * L.wp + L.o_delta];
    return d * d;
  }
  __device__ void write(int k, int, double total, int64_t count) const {
    rec_t[k * L.wt + L.t_rms] = sqrtf(static_cast<float>(total / count) + 1e-16f);
  }
};

__global__ void global_begin_kernel(L2oScaleLayout L, const float* h2, float* gr) {
  for (int j = 0; j < L.H2; ++j) gr[L.g_h2p + j] = h2[j];
}

__global__ void tensor_bias_kernel(L2oScaleLayout L, const float* phi, const float* h1, const float* gr,
                                   float* rec_t) {
  const int k = blockIdx.x;
  lsc_tensor_bias(L, phi, h1 + k * L.H1, gr + L.g_h2p, rec_t + k * L.wt);
}

__global__ void param_forward_kernel(L2oScaleLayout L, int64_t n, int tensors, const int64_t* offs, const float* phi,
                                     const float* g, L2oScaleState<float> st, float* rec_p, const float* rec_t,
                                     const float* gr) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int k = tensor_of(offs, tensors, p);
  lsc_param_forward(L, phi, rec_t + k * L.wt, gr[L.g_meanlr], g[p], st.h0 + p * L.H0, st.acc + p * kS,
                    st.ms + p * kS, st.scl[p], st.inp[p], st.lr[p], rec_p + p * L.wp);
}

__global__ void tensor_level1_kernel(L2oScaleLayout L, const float* phi, const float* gr, float* rec_t, float* h1) {
  const int k = blockIdx.x;
  float* tr = rec_t + k * L.wt;
  lsc_tensor_level1(L, phi, gr + L.g_h2p, tr);
  for (int j = 0; j < L.H1; ++j) h1[k * L.H1 + j] = tr[L.t_h1n + j];
}

__global__ void param_direction_kernel(L2oScaleLayout L, int64_t n, const float* phi, float* rec_p) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  lsc_param_direction(L, phi, rec_p + p * L.wp);
}

__global__ void param_finish_kernel(L2oScaleLayout L, int64_t n, int tensors, const int64_t* offs, const float* phi,
                                    L2oScaleState<float> st, float* rec_p, const float* rec_t, float* u) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int k = tensor_of(offs, tensors, p);
  u[p] = lsc_param_finish(L, phi, rec_t[k * L.wt + L.t_rms], rec_p + p * L.wp, st.h0 + p * L.H0, st.acc + p * kS,
                          st.ms + p * kS, st.scl + p, st.inp + p, st.lr + p);
}

__global__ void global_level2_kernel(L2oScaleLayout L, int tensors, const float* phi, const float* rec_t, float* gr,
                                     float* h2) {
  lsc_global_level2(L, phi, rec_t + (tensors - 1) * L.wt + L.t_h1n, gr);
  for (int j = 0; j < L.H2; ++j) h2[j] = gr[L.g_h2n + j];
}

// ---- backward -----------------------------------------------------------------------------------

// The workspace of l2o_scale_ops.h's L2oScaleShape::workspace_size, carved.
struct BackWs {
  L2oScaleState<float> next, prev;
  float *dh, *df, *rows, *dx1, *db0, *S, *dx2, *dlr, *dlrm;
};

BackWs carve(const L2oScaleShape& s, float* ws) {
  BackWs w;
  const int64_t ss = s.state_size(), n = s.n;
  w.next = l2o_scale_state_view<float>(s, ws, nullptr);
  w.prev = l2o_scale_state_view<float>(s, ws + ss, nullptr);
  w.dh = ws + 2 * ss;
  w.df = w.dh + n * s.L.H0;
  w.rows = w.df + n * kF;
  w.dx1 = w.rows + s.slots * n * s.L.wb;
  w.db0 = w.dx1 + s.tensors * s.L.X1;
  w.S = w.db0 + s.tensors * 3 * s.L.H0;
  w.dx2 = w.S + s.tensors;
  w.dlr = w.dx2 + s.L.H1;
  w.dlrm = w.dlr + 1;
  return w;
}

__global__ void global_back_kernel(L2oScaleLayout L, int tensors, const float* phi, const float* rec_t,
                                   const float* gr, const float* next_h2, float* dx2, float* prev_h2, float* dphi) {
  lsc_global_back_level2(L, phi, rec_t + (tensors - 1) * L.wt, gr, next_h2, dx2, prev_h2, dphi);
}

__global__ void param_back_readouts_kernel(L2oScaleLayout L, int64_t n, const float* phi, const float* rec_p,
                                           const float* dl_du, L2oScaleState<float> next, L2oScaleState<float> prev,
                                           float* dh, float* rows) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  prev.lr[p] += lsc_param_back_readouts(L, phi, rec_p + p * L.wp, dl_du[p], next.h0 + p * L.H0, next.lr[p],
                                        next.scl[p], next.inp[p], dh + p * L.H0, rows + p * L.wb);
}

struct SOp : TensorRange {  // S = sum over the tensor of d delta * delta
  const float* rec_p;
  const float* rows;
  float* S;
  L2oScaleLayout L;
  __device__ double value(int, int64_t p, int) const {
    return static_cast<double>(rows[p * L.wb + L.b_ddelta] * rec_p[p * L.wp + L.o_delta]);
  }
  __device__ void write(int k, int, double total, int64_t) const { S[k] = static_cast<float>(total); }
};

__global__ void param_back_direction_kernel(L2oScaleLayout L, int64_t n, int tensors, const int64_t* offs,
                                            const float* phi, const float* rec_p, const float* rec_t, const float* S,
                                            float* dh, float* df, float* rows) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int k = tensor_of(offs, tensors, p);
  const float m = static_cast<float>(offs[k + 1] - offs[k]);
  lsc_param_back_direction(L, phi, rec_p + p * L.wp, S[k], m, rec_t[k * L.wt + L.t_rms], dh + p * L.H0,
                           df + p * kF, rows + p * L.wb);
}

__global__ void tensors_back_level1_kernel(L2oScaleLayout L, int tensors, const float* phi, const float* rec_t,
                                           const float* gr, const float* next_h1, const float* dx2, float* dx1,
                                           float* prev_h1, float* prev_h2, float* dphi) {
  for (int k = 0; k < tensors; ++k)  // one thread: dphi and prev_h2 take the tensors in order
    lsc_tensor_back_level1(L, phi, rec_t + k * L.wt, gr + L.g_h2p, next_h1 + k * L.H1,
                           k == tensors - 1 ? dx2 : nullptr, dx1 + k * L.X1, prev_h1 + k * L.H1, prev_h2, dphi);
}

__global__ void param_back_cell_kernel(L2oScaleLayout L, int64_t n, int tensors, const int64_t* offs,
                                       const float* phi, const float* rec_p, const float* rec_t, const float* dx1,
                                       L2oScaleState<float> next, L2oScaleState<float> prev, float* dh, float* df,
                                       float* rows) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int k = tensor_of(offs, tensors, p);
  const float m = static_cast<float>(offs[k + 1] - offs[k]);
  lsc_param_back_cell(L, phi, rec_p + p * L.wp, rec_t + k * L.wt, dx1 + k * L.X1, m, next.acc + p * kS,
                      next.ms + p * kS, dh + p * L.H0, df + p * kF, rows + p * L.wb, prev.h0 + p * L.H0,
                      prev.acc + p * kS, prev.ms + p * kS, prev.scl + p, prev.inp + p, prev.lr + p);
}

struct Db0Op : TensorRange {  // the level-0 injected bias's gradient, summed over the tensor
  const float* rows;
  float* db0;
  L2oScaleLayout L;
  __device__ double value(int, int64_t p, int j) const {
    const float* B = rows + p * L.wb;
    return j < 2 * L.H0 ? B[L.b_dzg + j] : B[L.b_dzc + j - 2 * L.H0];
  }
  __device__ void write(int k, int j, double total, int64_t) const {
    db0[k * 3 * L.H0 + j] = static_cast<float>(total);
  }
};

struct RowSumOp : AllRange {  // sum over parameters of one backward-row column
  const float* rows;
  float* out;
  int col, wb;
  __device__ double value(int, int64_t p, int) const { return rows[p * wb + col]; }
  __device__ void write(int, int, double total, int64_t) const { *out = static_cast<float>(total); }
};

__global__ void tensors_back_bias_kernel(L2oScaleLayout L, int tensors, const float* phi, const float* rec_t,
                                         const float* gr, const float* db0, float* prev_h1, float* prev_h2,
                                         float* dphi) {
  for (int k = 0; k < tensors; ++k)
    lsc_tensor_back_bias(L, phi, rec_t + k * L.wt, gr + L.g_h2p, db0 + k * 3 * L.H0, prev_h1 + k * L.H1, prev_h2,
                         dphi);
}

__global__ void param_lr_mean_kernel(int64_t n, const float* dlr, float* prev_lr) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p < n) prev_lr[p] -= *dlr / static_cast<float>(n);  // through the problem's mean log lr
}

// dphi[out + a J + j] += scale * sum over (step, parameter) rows m of x(m, a) dz(m, j): the
// weight gradients of the per-parameter readouts and of the level-0 cell.
enum class XKind { ones, gate_in, cand_in, h0_new, scaled };
struct ProductOp {
  const float* rec_p;  // slots 0..steps-1, (steps n, wp)
  const float* rows;   // (steps n, wb)
  int64_t m_rows;
  L2oScaleLayout L;
  XKind x;
  int J, dz, out;
  float scale;
  float* dphi;
  __device__ int64_t begin(int) const { return 0; }
  __device__ int64_t end(int) const { return m_rows; }
  __device__ double value(int idx, int64_t m, int) const {
    const int a = idx / J, j = idx - a * J;
    const float* R = rec_p + m * L.wp;
    const float* B = rows + m * L.wb;
    float v = 1.0f;
    switch (x) {
      case XKind::ones: break;
      case XKind::gate_in: v = a < kF ? R[L.o_f + a] : R[L.o_h0p + a - kF]; break;
      case XKind::cand_in: v = a < kF ? R[L.o_f + a] : B[L.b_rh + a - kF]; break;
      case XKind::h0_new: v = R[L.o_h0n + a]; break;
      case XKind::scaled: v = R[L.o_f + a]; break;
    }
    return static_cast<double>(v) * B[dz + j];
  }
  __device__ void write(int idx, int, double total, int64_t) const {
    dphi[out + idx] += static_cast<float>(total * scale);
  }
};

void product_sums(const ProductOp& base, XKind x, int A, int J, int dz, int block, float scale = 1.0f) {
  ProductOp op = base;
  op.x = x;
  op.J = J;
  op.dz = dz;
  op.out = static_cast<int>(base.L.off[block]);
  op.scale = scale;
  segment_sum(op, A * J, 1);
}

__global__ void lr_momentum_kernel(L2oScaleLayout L, const float* phi, const float* dlrm, float* dphi) {
  const float lrm = lsc_sigmoid(phi[L.off[kLrMom]]);
  dphi[L.off[kLrMom]] += *dlrm * lrm * (1.0f - lrm);
}

}  // namespace

void l2o_scale_step_cuda(const L2oScaleShape& s, const float* phi, const float* g, const L2oScaleState<float>& st,
                         int64_t slot, float* u) {
  check_l2o_scale_shape(s);
  L2O_CHECK(slot >= 0 && slot <= s.slots, "slot " << slot << " outside [0, " << s.slots << "]");
  const L2oScaleLayout& L = s.L;
  const int T = s.tensors;
  float* rec_p = st.rec_p + slot * s.n * L.wp;
  float* rec_t = st.rec_t + slot * T * L.wt;
  float* gr = st.rec_g + slot * L.wg;
  const unsigned grid = grid_for(s.n, kThreads);
  cudaStream_t stream = cuda_stream();
  global_begin_kernel<<<1, 1, 0, stream>>>(L, st.h2, gr);
  CUDA_CHECK_LAUNCH();
  segment_sum(MeanLrOp{{s.n}, st.lr, gr, L.g_meanlr}, 1, 1);
  segment_sum(ForcedOp{{s.offs}, st.ms, rec_t, L}, T, kS);
  tensor_bias_kernel<<<T, 1, 0, stream>>>(L, phi, st.h1, gr, rec_t);
  CUDA_CHECK_LAUNCH();
  param_forward_kernel<<<grid, kThreads, 0, stream>>>(L, s.n, T, s.offs, phi, g, st, rec_p, rec_t, gr);
  CUDA_CHECK_LAUNCH();
  segment_sum(X1Op{{s.offs}, rec_p, rec_t, L}, T, L.X1);
  tensor_level1_kernel<<<T, 1, 0, stream>>>(L, phi, gr, rec_t, st.h1);
  CUDA_CHECK_LAUNCH();
  param_direction_kernel<<<grid, kThreads, 0, stream>>>(L, s.n, phi, rec_p);
  CUDA_CHECK_LAUNCH();
  segment_sum(RmsOp{{s.offs}, rec_p, rec_t, L}, T, 1);
  param_finish_kernel<<<grid, kThreads, 0, stream>>>(L, s.n, T, s.offs, phi, st, rec_p, rec_t, u);
  CUDA_CHECK_LAUNCH();
  global_level2_kernel<<<1, 1, 0, stream>>>(L, T, phi, rec_t, gr, st.h2);
  CUDA_CHECK_LAUNCH();
}

void l2o_scale_backward_cuda(const L2oScaleShape& s, const float* phi, int64_t steps,
                             const L2oScaleState<float>& st, const float* dl_du, float* ws, float* dphi) {
  check_l2o_scale_shape(s);
  L2O_CHECK(steps >= 1 && steps <= s.slots, "steps " << steps << " outside [1, " << s.slots << "]");
  const L2oScaleLayout& L = s.L;
  const int T = s.tensors;
  const int64_t n = s.n, ss = s.state_size();
  const unsigned grid = grid_for(n, kThreads);
  cudaStream_t stream = cuda_stream();
  BackWs w = carve(s, ws);
  CUDA_CHECK(cudaMemsetAsync(dphi, 0, static_cast<size_t>(L.num_params) * sizeof(float), stream));
  CUDA_CHECK(cudaMemsetAsync(ws, 0, static_cast<size_t>(2 * ss) * sizeof(float), stream));
  for (int64_t t = steps - 1; t >= 0; --t) {
    CUDA_CHECK(cudaMemsetAsync(w.prev.h0, 0, static_cast<size_t>(ss) * sizeof(float), stream));
    const float* rec_p = st.rec_p + t * n * L.wp;
    const float* rec_t = st.rec_t + t * T * L.wt;
    const float* gr = st.rec_g + t * L.wg;
    float* rows = w.rows + t * n * L.wb;
    global_back_kernel<<<1, 1, 0, stream>>>(L, T, phi, rec_t, gr, w.next.h2, w.dx2, w.prev.h2, dphi);
    CUDA_CHECK_LAUNCH();
    param_back_readouts_kernel<<<grid, kThreads, 0, stream>>>(L, n, phi, rec_p, dl_du + t * n, w.next, w.prev, w.dh,
                                                              rows);
    CUDA_CHECK_LAUNCH();
    segment_sum(SOp{{s.offs}, rec_p, rows, w.S, L}, T, 1);
    param_back_direction_kernel<<<grid, kThreads, 0, stream>>>(L, n, T, s.offs, phi, rec_p, rec_t, w.S, w.dh, w.df,
                                                               rows);
    CUDA_CHECK_LAUNCH();
    tensors_back_level1_kernel<<<1, 1, 0, stream>>>(L, T, phi, rec_t, gr, w.next.h1, w.dx2, w.dx1, w.prev.h1,
                                                    w.prev.h2, dphi);
    CUDA_CHECK_LAUNCH();
    param_back_cell_kernel<<<grid, kThreads, 0, stream>>>(L, n, T, s.offs, phi, rec_p, rec_t, w.dx1, w.next, w.prev,
                                                          w.dh, w.df, rows);
    CUDA_CHECK_LAUNCH();
    segment_sum(Db0Op{{s.offs}, rows, w.db0, L}, T, 3 * L.H0);
    segment_sum(RowSumOp{{n}, rows, w.dlr, L.b_dlr, L.wb}, 1, 1);
    tensors_back_bias_kernel<<<1, 1, 0, stream>>>(L, T, phi, rec_t, gr, w.db0, w.prev.h1, w.prev.h2, dphi);
    CUDA_CHECK_LAUNCH();
    param_lr_mean_kernel<<<grid, kThreads, 0, stream>>>(n, w.dlr, w.prev.lr);
    CUDA_CHECK_LAUNCH();
    std::swap(w.next, w.prev);
  }
  // The per-parameter weights: sums over every saved step's rows.
  const ProductOp base{st.rec_p, w.rows, steps * n, L, XKind::ones, 1, 0, 0, 1.0f, dphi};
  const int H0 = L.H0;
  product_sums(base, XKind::gate_in, kF + H0, 2 * H0, L.b_dzg, kG0W);
  product_sums(base, XKind::ones, 1, 2 * H0, L.b_dzg, kG0B);
  product_sums(base, XKind::cand_in, kF + H0, H0, L.b_dzc, kC0W);
  product_sums(base, XKind::ones, 1, H0, L.b_dzc, kC0B);
  product_sums(base, XKind::h0_new, H0, 1, L.b_dr, kUpdW);
  product_sums(base, XKind::scaled, kS, 1, L.b_dr, kG2D);
  product_sums(base, XKind::h0_new, H0, 1, L.b_dstep, kLrW);
  product_sums(base, XKind::ones, 1, 1, L.b_dstep, kLrB);
  product_sums(base, XKind::ones, 1, 1, L.b_dstepc, kOffset);
  product_sums(base, XKind::h0_new, H0, 1, L.b_dzs, kSclW);
  product_sums(base, XKind::ones, 1, 1, L.b_dzs, kSclB);
  product_sums(base, XKind::h0_new, H0, 1, L.b_dzi, kInpW);
  product_sums(base, XKind::ones, 1, 1, L.b_dzi, kInpB);
  segment_sum(RowSumOp{{steps * n}, w.rows, w.dlrm, L.b_dlrm, L.wb}, 1, 1);
  lr_momentum_kernel<<<1, 1, 0, stream>>>(L, phi, w.dlrm, dphi);
  CUDA_CHECK_LAUNCH();
}

}  // namespace l2o
