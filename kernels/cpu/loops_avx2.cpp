// The avx2 variant of the CPU loops; build flags come from the BUILD/CMake rule
// that compiles files named loops_avx2.cpp (see loops.h).
#define TORCH_PT2E_CPU_ISA isa_avx2
#define TORCH_PT2E_CPU_ISA_NAME "avx2"
#define TORCH_PT2E_CPU_TABLE loops_avx2
#include "kernels/cpu/loops_impl.h"
