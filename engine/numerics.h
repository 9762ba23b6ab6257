// Floating-point environment for the training threads.
#pragma once

namespace l2o {

// Flush subnormal floats to zero (FTZ) and treat subnormal inputs as zero (DAZ): the LSTM's
// tiny gradients otherwise hit microcode-assisted subnormal arithmetic, which can be 5-10x
// slower (DESIGN.md section 6). Applies to the calling thread and to OpenMP workers.
void enable_flush_to_zero();

// Whether the calling thread flushes subnormals (FTZ and DAZ both on), and that mode set on the
// calling thread alone (tests check that parallel evaluation's workers run in the caller's mode).
bool flush_to_zero_enabled();
void set_flush_to_zero_this_thread(bool on);

}  // namespace l2o
