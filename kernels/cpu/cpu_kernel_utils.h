// Helpers shared by the ATen-facing CPU kernels: dtype mapping to the loop
// tables, reading tensor quantization parameters, and running a loop over
// the memory of a tensor on all threads.
#pragma once

#include <cstdint>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "kernels/cpu/loops.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Elements per parallel task: large enough to hide the thread start-up cost.
constexpr int64_t kParallelGrain = 1 << 15;

c10::optional<FloatType> float_type(at::ScalarType dtype);
c10::optional<QuantType> quant_type(at::ScalarType dtype);

// The same tensor if its elements occupy one dense block of memory (any
// dimension order, e.g. channels-last), else a contiguous copy. Element-wise
// loops then walk the block in memory order, and `empty_like` outputs get
// the same layout, as upstream's element-wise ops produce.
at::Tensor dense(const at::Tensor& t);

// `tensor.item()` of a one-element scale, checked to be one element.
double read_scale(const char* op, const char* name, const at::Tensor& value);

// `tensor.item()` of a one-element integer parameter (zero point, bound).
// Floating tensors are accepted when they hold an integral value.
int64_t read_integer(const char* op, const char* name, const at::Tensor& value);

// The loops' compute type for a floating dtype (nullopt for others).
c10::optional<ComputeType> compute_type(at::ScalarType dtype);

// Values of t converted to `dtype` (as torch's promotion converts an
// operand), stored as the loops read them: float for bfloat16/float16.
at::Tensor as_loop_values(const at::Tensor& t, at::ScalarType dtype);

// `1.0 / scales`, a reciprocal in the scales' own dtype (so bfloat16/float16
// scales give a rounded reciprocal), as loop values of `dtype`.
at::Tensor reciprocal_as_loop_values(const at::Tensor& scales, at::ScalarType dtype);

// An operand of a binary tensor op, for type promotion: its dtype and
// whether it is 0-d (a 0-d tensor does not promote a dimensioned one of the
// same category, e.g. bfloat16[N] * float32[] stays bfloat16).
struct Operand {
  at::ScalarType dtype;
  bool zero_dim;
};
// The result dtype and dimensionality ATen gives a binary op on a and b.
Operand promote(Operand a, Operand b);
inline Operand operand(const at::Tensor& t) { return {t.scalar_type(), t.dim() == 0}; }

// Elements of the dense tensor that share a channel of `axis` in a run of
// memory: stride(axis), or all of them when the axis has a single channel
// (whose stride may then be anything).
int64_t channel_run(const at::Tensor& dense_tensor, int64_t axis);

// How per-entry parameters are laid out for the loops (see ParamLayout in
// loops.h): long runs keep one entry per run; short runs are expanded to one
// entry per element of a period, repeated so the period is not tiny.
struct ParamPlan {
  ParamLayout layout;
  int64_t repeat_each;  // 1 when not expanded
  int64_t tile;
};
ParamPlan plan_params(int64_t entries, int64_t inner);

// per_entry (1-D, `entries` values, already in the loop's dtype) laid out
// by `plan`, contiguous.
at::Tensor arrange_params(const at::Tensor& per_entry, const ParamPlan& plan);

// Runs fn(begin, end) over [0, n) on ATen's intra-op thread pool.
template <typename Fn>
void parallel_over(int64_t n, const Fn& fn) {
  at::parallel_for(0, n, kParallelGrain, fn);
}

// Quantizes the dense tensor `src` into `out` (same strides) on all threads.
// inv_scale and zero_point hold one loop value (as_loop_values) per entry;
// the element at memory offset o uses entry (o / inner) % entries. The loop
// table must have this combination.
void quantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute,
                       const at::Tensor& inv_scale, const at::Tensor& zero_point, int64_t entries, int64_t inner,
                       RoundingOrder order, int64_t quant_min, int64_t quant_max);

// Whether the loop tables cover these dtypes (else the kernels evaluate
// upstream's expression with ATen ops).
bool has_quantize_loop(RoundingOrder order, at::ScalarType compute, at::ScalarType input, at::ScalarType dtype);
bool has_dequantize_loop(c10::optional<DifferenceType> difference, at::ScalarType compute, at::ScalarType input,
                         at::ScalarType out_dtype);

// Dequantizes `src` into `out` likewise; zero_point is int32 for kInteger
// differences, else loop values of the difference's dtype.
void dequantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute, const at::Tensor& scale,
                         DifferenceType difference, const at::Tensor& zero_point, int64_t entries, int64_t inner);

// The dtype dequantize's zero points are passed to the loops in.
at::ScalarType zero_point_loop_dtype(DifferenceType difference);

// The last steps of a quantize expression evaluated with ATen ops (the slow
// path for rare dtype combinations): NaN becomes `nan_value`, the result is
// clamped to [quant_min, quant_max] and converted, saturating, to dtype.
at::Tensor finish_quantize_expression(const at::Tensor& unclamped, const at::Tensor& nan_value, int64_t quant_min,
                                      int64_t quant_max, at::ScalarType dtype);

// How dequantize computes `q - zero_point` for these operand dtypes, or
// nullopt when only the ATen expression reproduces it (a narrow integer
// difference, which can wrap).
c10::optional<DifferenceType> difference_type(at::ScalarType input, at::ScalarType difference);

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
