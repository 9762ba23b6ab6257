#include "engine/numerics.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace l2o {

bool flush_to_zero_enabled() {
#if defined(__SSE__) || defined(__x86_64__)
  return _MM_GET_FLUSH_ZERO_MODE() == _MM_FLUSH_ZERO_ON && _MM_GET_DENORMALS_ZERO_MODE() == _MM_DENORMALS_ZERO_ON;
#else
  return false;
#endif
}

void set_flush_to_zero_this_thread(bool on) {
#if defined(__SSE__) || defined(__x86_64__)
  _MM_SET_FLUSH_ZERO_MODE(on ? _MM_FLUSH_ZERO_ON : _MM_FLUSH_ZERO_OFF);
  _MM_SET_DENORMALS_ZERO_MODE(on ? _MM_DENORMALS_ZERO_ON : _MM_DENORMALS_ZERO_OFF);
#else
  (void)on;
#endif
}

void enable_flush_to_zero() {
  set_flush_to_zero_this_thread(true);
#ifdef _OPENMP
#pragma omp parallel
  set_flush_to_zero_this_thread(true);
#endif
}

}  // namespace l2o
