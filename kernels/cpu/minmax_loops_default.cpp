// The default variant of the observers' min/max loops; build flags come from the
// BUILD/CMake rules for files named *_default.cpp (see minmax_loops.h).
#define TORCH_PT2E_MINMAX_ISA minmax_isa_default
#define TORCH_PT2E_MINMAX_ISA_NAME "default"
#define TORCH_PT2E_MINMAX_TABLE minmax_loops_default
#include "kernels/cpu/minmax_loops_impl.h"
