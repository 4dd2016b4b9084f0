// The avx512 variant of the observers' min/max loops; build flags come from the
// BUILD/CMake rules for files named *_avx512.cpp (see observer_loops.h).
#define TORCH_PT2E_OBSERVER_LOOPS_ISA observer_isa_avx512
#define TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME "avx512"
#define TORCH_PT2E_OBSERVER_LOOPS_TABLE observer_loops_avx512
#include "kernels/cpu/observer_loops_impl.h"
