// Element loops of the observers' min/max statistics, one table per
// instruction set (compiled like loops.h: minmax_loops_impl.h is included by
// minmax_loops_<isa>.cpp and vectorized by the compiler for that ISA).
//
// The loops fold float32 data into running minima/maxima that they read and
// write, NaN-propagating like torch.aminmax (once a NaN is seen the result
// stays NaN), reduce_rows with the caller's help.
#pragma once

#include <cstdint>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

struct MinMaxLoops {
  const char* isa_name;
  // *min / *max folded with x[0, n).
  void (*reduce_run)(const float* x, int64_t n, float* min, float* max);
  // A [rows, cols] row-major block: mins[c] / maxs[c] folded with the
  // non-NaN x[r, c] of every row r, and nan_counts[c] increased by the
  // number of NaN among them (the caller applies the NaN rule).
  void (*reduce_rows)(const float* x, int64_t rows, int64_t cols, float* mins, float* maxs, float* nan_counts);
};

// The table for the running CPU (kernels/cpu/cpu_capability.h).
const MinMaxLoops& minmax_loops();

const MinMaxLoops& minmax_loops_default();
const MinMaxLoops& minmax_loops_avx2();
const MinMaxLoops& minmax_loops_avx512();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
