// Helpers shared by the CPU and CUDA kernels, independent of the device:
// torch's type promotion of an op's operands, the conversion of quantization
// parameters to the dtype a chain computes in, reading one-element parameter
// tensors, and the dense layouts that element-wise kernels walk. Both devices
// call these, so they choose the same compute dtype, the same parameter values
// and the same output layout for every input.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

namespace torch_pt2e {
namespace kernels {

// The same tensor if its elements occupy one dense block of memory (any
// dimension order, e.g. channels-last), else a contiguous copy. Element-wise
// kernels then walk the block in memory order, and `empty_like` outputs get
// the same layout, as upstream's element-wise ops produce.
at::Tensor dense(const at::Tensor& t);

// `tensor.item()` of a one-element scale, checked to be one element.
double read_scale(const char* op, const char* name, const at::Tensor& value);

// `tensor.item()` of a one-element integer parameter (zero point, bound).
// Floating tensors are accepted when they hold an integral value.
int64_t read_integer(const char* op, const char* name, const at::Tensor& value);

// Values of t converted to `dtype` (as torch's promotion converts an
// operand), stored as the kernels read them: float for bfloat16/float16.
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

// Whether dequantize's integer `q - zero_point`, computed by torch in
// `difference` (the promotion of the input's and the zero points' dtypes), is
// exact: the type is wider than the input's, or int64. Narrower ones can wrap
// in torch; the kernels then evaluate torch's own expression.
bool integer_difference_is_exact(at::ScalarType input, at::ScalarType difference);

// Elements of the dense tensor that share a channel of `axis` in a run of
// memory: stride(axis), or all of them when the axis has a single channel
// (whose stride may then be anything).
int64_t channel_run(const at::Tensor& dense_tensor, int64_t axis);

// The last steps of a quantize expression evaluated with ATen ops (the path
// for rare dtype combinations): NaN becomes `nan_value`, the result is
// clamped to [quant_min, quant_max] and converted, saturating, to dtype.
at::Tensor finish_quantize_expression(const at::Tensor& unclamped, const at::Tensor& nan_value, int64_t quant_min,
                                      int64_t quant_max, at::ScalarType dtype);

}  // namespace kernels
}  // namespace torch_pt2e
