// The default variant of the observers' min/max loops; build flags come from the
// BUILD/CMake rules for files named *_default.cpp (see observer_loops.h).
#define TORCH_PT2E_OBSERVER_LOOPS_ISA observer_isa_default
#define TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME "default"
#define TORCH_PT2E_OBSERVER_LOOPS_TABLE observer_loops_default
#include "kernels/cpu/observer_loops_impl.h"
