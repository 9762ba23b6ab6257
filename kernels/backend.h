// Which backend runs the learner and the optimizee. The factories of every layer above take this
// value (make_learner, make_optimizee); nothing above kernels/ tests for CUDA at compile time.
#pragma once

namespace l2o {

enum class Backend { cpu, cuda };

inline const char* backend_name(Backend b) { return b == Backend::cuda ? "cuda" : "cpu"; }

}  // namespace l2o
