// The avx512 variant of the CPU loops; build flags come from the BUILD/CMake rule
// that compiles files named loops_avx512.cpp (see loops.h).
#define TORCH_PT2E_CPU_ISA isa_avx512
#define TORCH_PT2E_CPU_ISA_NAME "avx512"
#define TORCH_PT2E_CPU_TABLE loops_avx512
#include "kernels/cpu/loops_impl.h"
