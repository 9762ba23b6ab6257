// Sums whose order depends only on their length, never on addresses. Eigen's vectorised
// reductions split off an unaligned head whose length depends on where the data sits, so the same
// sum could differ in its last bits between processes (and so between a run and its resume).
#pragma once
#include <cstdint>

namespace l2o {

constexpr int64_t kFixedOrderLanes = 16;

// p[0, kFixedOrderLanes) summed by a fixed pairwise tree.
template <typename T>
T fixed_order_lanes_total(T* p) {
  for (int64_t w = kFixedOrderLanes / 2; w > 0; w /= 2)
    for (int64_t j = 0; j < w; ++j) p[j] += p[j + w];
  return p[0];
}

// Sum of x[0, n): kFixedOrderLanes interleaved partial sums (lane j takes x[j], x[j + 16], ...;
// the compiler vectorises the lane loop), then the fixed tree. A plain serial sum is a chain of
// dependent scalar adds.
template <typename T>
T fixed_order_sum(const T* __restrict x, int64_t n) {
  T p[kFixedOrderLanes] = {};
  int64_t i = 0;
  for (; i + kFixedOrderLanes <= n; i += kFixedOrderLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kFixedOrderLanes; ++j) p[j] += x[i + j];
  }
  for (int64_t j = 0; i + j < n; ++j) p[j] += x[i + j];
  return fixed_order_lanes_total(p);
}

// Sum of x[i] * y[i], in the same order as fixed_order_sum.
template <typename T>
T fixed_order_dot(const T* __restrict x, const T* __restrict y, int64_t n) {
  T p[kFixedOrderLanes] = {};
  int64_t i = 0;
  for (; i + kFixedOrderLanes <= n; i += kFixedOrderLanes) {
#pragma omp simd
    for (int64_t j = 0; j < kFixedOrderLanes; ++j) p[j] += x[i + j] * y[i + j];
  }
  for (int64_t j = 0; i + j < n; ++j) p[j] += x[i + j] * y[i + j];
  return fixed_order_lanes_total(p);
}

// A sum of terms that arrive in pieces (a channel's rows, say), accumulated in Acc: the n-th term
// of the whole sequence goes to lane n % kFixedOrderLanes, so the total depends only on the
// sequence, never on how it was cut, and equals fixed_order_sum's order over the concatenation.
// For sums of floats kept in double, where one double accumulator is a chain of dependent adds.
template <typename Acc>
class FixedOrderAccumulator {
 public:
  // Adds term(0), ..., term(n - 1).
  template <typename F>
  void add(int64_t n, F&& term) {
    int64_t i = 0;
    for (; i < n && lane_ != 0; ++i) next(term(i));
    for (; i + kFixedOrderLanes <= n; i += kFixedOrderLanes) {
#pragma omp simd
      for (int64_t j = 0; j < kFixedOrderLanes; ++j) p_[j] += term(i + j);
    }
    for (; i < n; ++i) next(term(i));
  }
  Acc total() {
    Acc q[kFixedOrderLanes];
    for (int64_t j = 0; j < kFixedOrderLanes; ++j) q[j] = p_[j];
    return fixed_order_lanes_total(q);
  }

 private:
  void next(Acc v) {
    p_[lane_] += v;
    lane_ = (lane_ + 1) % kFixedOrderLanes;
  }
  Acc p_[kFixedOrderLanes] = {};
  int64_t lane_ = 0;
};

// out[c] = the sum over rows r = 0, 1, ... of m[r * cols + c] (a row-major rows x cols matrix):
// each column's sum in row order, vectorised across columns.
template <typename T>
void column_sums(const T* __restrict m, int64_t rows, int64_t cols, T* __restrict out) {
  for (int64_t c = 0; c < cols; ++c) out[c] = T(0);
  for (int64_t r = 0; r < rows; ++r) {
    const T* __restrict row = m + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) out[c] += row[c];
  }
}

}  // namespace l2o
