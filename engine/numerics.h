// Floating-point environment for the training threads.
#pragma once

namespace l2o {

// Flush subnormal floats to zero (FTZ) and treat subnormal inputs as zero (DAZ): the LSTM's
// tiny gradients otherwise hit microcode-assisted subnormal arithmetic, which can be 5-10x
// slower (DESIGN.md section 6). Applies to the calling thread and to OpenMP workers.
void enable_flush_to_zero();

}  // namespace l2o
