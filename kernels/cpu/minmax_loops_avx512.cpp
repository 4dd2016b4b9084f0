// The avx512 variant of the observers' min/max loops; build flags come from the
// BUILD/CMake rules for files named *_avx512.cpp (see minmax_loops.h).
#define TORCH_PT2E_MINMAX_ISA minmax_isa_avx512
#define TORCH_PT2E_MINMAX_ISA_NAME "avx512"
#define TORCH_PT2E_MINMAX_TABLE minmax_loops_avx512
#include "kernels/cpu/minmax_loops_impl.h"
