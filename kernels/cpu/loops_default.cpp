// The default variant of the CPU loops; build flags come from the BUILD/CMake rule
// that compiles files named loops_default.cpp (see loops.h).
#define TORCH_PT2E_CPU_ISA isa_default
#define TORCH_PT2E_CPU_ISA_NAME "default"
#define TORCH_PT2E_CPU_TABLE loops_default
#include "kernels/cpu/loops_impl.h"
