// Element loops of the observers' statistics (min/max, histogram), one table
// per instruction set (compiled like loops.h: observer_loops_impl.h is
// included by observer_loops_<isa>.cpp and vectorized by the compiler for
// that ISA).
//
// The min/max loops fold float32 data into running minima/maxima that they
// read and write, NaN-propagating like torch.aminmax (once a NaN is seen the
// result stays NaN), reduce_rows with the caller's help.
#pragma once

#include <cstdint>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// What histogram_run records besides the counts.
struct HistogramExtras {
  float finite_min;  // over the finite values (+inf/-inf when there are none)
  float finite_max;
  int64_t nan_count;
  int64_t inf_count;  // +inf and -inf
};

struct ObserverLoops {
  const char* isa_name;
  // *min / *max folded with x[0, n).
  void (*reduce_run)(const float* x, int64_t n, float* min, float* max);
  // A [rows, cols] row-major block: mins[c] / maxs[c] folded with the
  // non-NaN x[r, c] of every row r, and nan_counts[c] increased by the
  // number of NaN among them (the caller applies the NaN rule).
  void (*reduce_rows)(const float* x, int64_t rows, int64_t cols, float* mins, float* maxs, float* nan_counts);
  // torch.histc's binning of x[0, n) over the edges [left, right] (left <
  // right, both finite): bin trunc((v - left) * bins / (right - left)) in
  // float32, v == right in the last bin, values outside or NaN skipped.
  // counts holds kHistogramCopies interleaved histograms of `bins` counters
  // (added to, summed by the caller); extras are folded in.
  void (*histogram_run)(const float* x, int64_t n, float left, float right, int64_t bins, uint32_t* counts,
                        HistogramExtras* extras);
};

// Neighbouring values often share a bin; counting them into different copies
// keeps the increments independent.
constexpr int64_t kHistogramCopies = 4;

// The table for the running CPU (kernels/cpu/cpu_capability.h).
const ObserverLoops& observer_loops();

const ObserverLoops& observer_loops_default();
const ObserverLoops& observer_loops_avx2();
const ObserverLoops& observer_loops_avx512();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
