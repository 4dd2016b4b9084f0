// The avx512 variant of HistogramObserver's per-bin error loops; build flags come
// from the BUILD/CMake rules for files named *_avx512.cpp (see histogram_error.h).
#define TORCH_PT2E_HISTOGRAM_ERROR_ISA histogram_error_isa_avx512
#define TORCH_PT2E_HISTOGRAM_ERROR_ISA_NAME "avx512"
#define TORCH_PT2E_HISTOGRAM_ERROR_TABLE histogram_error_loops_avx512
#define TORCH_PT2E_HISTOGRAM_ERROR_VECTOR 1
#include "kernels/cpu/histogram_error_impl.h"
