// The default variant of HistogramObserver's per-bin error loops; build flags come
// from the BUILD/CMake rules for files named *_default.cpp (see histogram_error.h).
#define TORCH_PT2E_HISTOGRAM_ERROR_ISA histogram_error_isa_default
#define TORCH_PT2E_HISTOGRAM_ERROR_ISA_NAME "default"
#define TORCH_PT2E_HISTOGRAM_ERROR_TABLE histogram_error_loops_default
#define TORCH_PT2E_HISTOGRAM_ERROR_VECTOR 0
#include "kernels/cpu/histogram_error_impl.h"
