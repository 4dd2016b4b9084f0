// Per-bin quantization errors of HistogramObserver's range search
// (_compute_quantization_error in torch/ao/quantization/observer.py), one
// table per instruction set like observer_loops.h. The default variant is the
// scalar reference; the vector variants compute the same float32 operations in
// the same order, with an exact remainder (see histogram_error_impl.h), so
// every per-bin value is bit-identical to the reference.
#pragma once

#include <cstdint>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// One candidate range [next_start_bin, next_end_bin] of the search. The
// float32 constants are upstream's Python floats as its tensor arithmetic
// sees them (converted to float32 once).
struct HistogramErrorArgs {
  const float* density;  // histogram / bin_width, one value per source bin
  int64_t next_start_bin;
  float src_width;             // bin_width
  float dst_width;             // dst_bin_width
  float half_dst_width;        // dst_bin_width / 2
  float minus_half_dst_width;  // -dst_bin_width / 2
  float highest;               // dst_nbins - 1
  float whole_bin_cubes;       // _get_norm(-w/2, w/2, 1)'s cube term, ((w/2)^3 - (-w/2)^3) / 3
};

struct HistogramErrorLoops {
  const char* isa_name;
  // norm[i] = the error of source bin i for i in [first, last).
  void (*bin_errors)(const HistogramErrorArgs& args, int64_t first, int64_t last, float* norm);
  // out[i] = floor(a[i] / b) as ATen's div(rounding_mode="floor") computes
  // it in float32 (through fmod), for i in [0, n).
  void (*floor_divide_run)(const float* a, float b, int64_t n, float* out);
  // out[i] = std::fmod(a[i], b[i]) for i in [0, n), the remainder the two
  // above are built on (a table entry so that tests reach every variant's).
  void (*fmod_run)(const float* a, const float* b, int64_t n, float* out);
  // out[i] = a[i] / b in float32 for i in [0, n): the density, histogram /
  // bin_width, as ATen divides a float32 tensor by a float32 scalar.
  void (*divide_run)(const float* a, float b, int64_t n, float* out);
};

// The table for the running CPU (kernels/cpu/cpu_capability.h).
const HistogramErrorLoops& histogram_error_loops();

const HistogramErrorLoops& histogram_error_loops_default();
const HistogramErrorLoops& histogram_error_loops_avx2();
const HistogramErrorLoops& histogram_error_loops_avx512();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
