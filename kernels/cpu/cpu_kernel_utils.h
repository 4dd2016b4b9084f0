// Helpers of the ATen-facing CPU kernels: dtype mapping to the loop tables,
// parameter layouts, and running a loop over the memory of a tensor on all
// threads. Device-independent helpers (promotion, parameter conversion,
// reading one-element tensors) are in kernels/kernel_utils.h.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "kernels/cpu/loops.h"
#include "kernels/kernel_utils.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Elements per parallel task: large enough to hide the thread start-up cost.
constexpr int64_t kParallelGrain = 1 << 15;

c10::optional<FloatType> float_type(at::ScalarType dtype);
c10::optional<QuantType> quant_type(at::ScalarType dtype);

// The loops' compute type for a floating dtype (nullopt for others).
c10::optional<ComputeType> compute_type(at::ScalarType dtype);

// How per-entry parameters are laid out for the loops (see ParamLayout in
// loops.h): long runs keep one entry per run; short runs are expanded to one
// entry per element of a period, repeated so the period is not tiny.
struct ParamPlan {
  ParamLayout layout;
  int64_t repeat_each;  // 1 when not expanded
  int64_t tile;
};
ParamPlan plan_params(int64_t entries, int64_t inner);

// A per-entry parameter of the loops: `values` (one per entry in row-major
// order, or a single one for every entry; undefined: zeros) converted to
// `dtype` as as_loop_values converts them, or as reciprocal_as_loop_values
// when `reciprocal` (kernels/kernel_utils.h); kInt holds the zero points of
// integer differences (`zero_points.to(at::kInt)`).
struct LoopParam {
  at::Tensor values;
  at::ScalarType dtype;
  bool reciprocal = false;
};

// A LoopParam's loop values laid out by `plan` for `entries` entries, valid
// while this object lives. Small CPU parameters (kernels/host_values.h) are
// converted and laid out by plain loops into a buffer, with the same
// conversions as the ATen ops that prepare the others.
class ParamArray {
 public:
  ParamArray(const LoopParam& param, int64_t entries, const ParamPlan& plan);
  const void* data() const { return data_; }

 private:
  template <typename Storage, typename Loop>
  bool fill_on_host(const LoopParam& param, int64_t entries, const ParamPlan& plan, std::vector<Storage>& buffer);

  std::vector<float> floats_;  // loop values of float32, bfloat16 and float16
  std::vector<double> doubles_;
  std::vector<int32_t> ints_;
  at::Tensor tensor_;  // the ATen path's result
  const void* data_ = nullptr;
};

// Runs fn(begin, end) over [0, n) on ATen's intra-op thread pool.
template <typename Fn>
void parallel_over(int64_t n, const Fn& fn) {
  at::parallel_for(0, n, kParallelGrain, fn);
}

// Min, max and NaN presence of a float32/float16/bfloat16/float64 tensor, in
// one vectorized pass on all threads.
MinMax tensor_min_max(const at::Tensor& input);

// Quantizes the dense tensor `src` into `out` (same strides) on all threads.
// inv_scale and zero_point give one loop value per entry (dtype: the compute
// type); the element at memory offset o uses entry (o / inner) % entries.
// The loop table must have this combination.
void quantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute,
                       const LoopParam& inv_scale, const LoopParam& zero_point, int64_t entries, int64_t inner,
                       RoundingOrder order, int64_t quant_min, int64_t quant_max);

// Whether the loop tables cover these dtypes (else the kernels evaluate
// upstream's expression with ATen ops).
bool has_quantize_loop(RoundingOrder order, at::ScalarType compute, at::ScalarType input, at::ScalarType dtype);
bool has_dequantize_loop(c10::optional<DifferenceType> difference, at::ScalarType compute, at::ScalarType input,
                         at::ScalarType out_dtype);

// Dequantizes `src` into `out` likewise; zero_point's dtype is kInt for
// kInteger differences (undefined values: no zero points), else the
// difference's dtype.
void dequantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute, const LoopParam& scale,
                         DifferenceType difference, const LoopParam& zero_point, int64_t entries, int64_t inner);

// The dtype dequantize's zero points are stored in for the loops.
at::ScalarType zero_point_loop_dtype(DifferenceType difference);

// How dequantize computes `q - zero_point` for these operand dtypes, or
// nullopt when only the ATen expression reproduces it (a narrow integer
// difference, which can wrap).
c10::optional<DifferenceType> difference_type(at::ScalarType input, at::ScalarType difference);

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
