#include "kernels/kernel_utils.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/checks.h"
#include "kernels/host_values.h"

namespace torch_pt2e {
namespace kernels {

at::Tensor as_loop_values(const at::Tensor& t, at::ScalarType dtype) {
  const at::Tensor converted = t.to(dtype);
  return dtype == at::kBFloat16 || dtype == at::kHalf ? converted.to(at::kFloat) : converted;
}

at::Tensor reciprocal_as_loop_values(const at::Tensor& scales, at::ScalarType dtype) {
  const at::ScalarType scale_dtype = scales.scalar_type();
  // A float16/bfloat16 reciprocal is 1/x in float, rounded (LibTorch 1.x has
  // no float16 CPU kernel for it).
  const at::Tensor inv = scale_dtype == at::kBFloat16 || scale_dtype == at::kHalf
                             ? at::reciprocal(scales.to(at::kFloat)).to(scale_dtype)
                             : at::reciprocal(scales);
  return as_loop_values(inv, dtype);
}

// ATen's result_type for two tensor operands (c10's combine_categories):
// dimensioned operands decide, unless a 0-d one is of a higher category.
Operand promote(Operand a, Operand b) {
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
  // torch refuses to promote uint16 with other integer types; the plugin
  // takes the exact int64 (only dequantize's q - zero_point gets here).
  const bool integral = at::isIntegralType(a.dtype, false) && at::isIntegralType(b.dtype, false);
  if (integral && a.dtype != b.dtype && (a.dtype == at::ScalarType::UInt16 || b.dtype == at::ScalarType::UInt16)) {
    return {at::kLong, a.zero_dim && b.zero_dim};
  }
#endif
  if (a.zero_dim == b.zero_dim) return {c10::promoteTypes(a.dtype, b.dtype), a.zero_dim};
  const at::ScalarType dimensioned = a.zero_dim ? b.dtype : a.dtype;
  const at::ScalarType zero_dim = a.zero_dim ? a.dtype : b.dtype;
  if (at::isFloatingType(dimensioned)) return {dimensioned, false};
  if (dimensioned == at::kBool || at::isFloatingType(zero_dim)) {
    return {c10::promoteTypes(dimensioned, zero_dim), false};
  }
  return {dimensioned, false};
}

int64_t channel_run(const at::Tensor& dense_tensor, int64_t axis) {
  if (dense_tensor.size(axis) == 1) return std::max<int64_t>(dense_tensor.numel(), 1);
  return dense_tensor.stride(axis);
}

at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

namespace {

// value.item<T>() of a one-element tensor; CPU values are read directly
// (item() is an op call), converted as item()'s Scalar converts them.
template <typename T>
T item_as(const at::Tensor& value) {
  T result{};
  if (visit_host_values(value, [&](int64_t, auto v) { result = static_cast<T>(v); })) return result;
  return value.item<T>();
}

}  // namespace

double read_scale(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  return item_as<double>(value);
}

int64_t read_integer(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  if (at::isFloatingType(value.scalar_type())) {
    const double v = item_as<double>(value);
    TORCH_CHECK(std::isfinite(v) && v == std::nearbyint(v) && std::fabs(v) < 9.2e18, op, ": ", name,
                " must hold an integer value, got ", v);
    return static_cast<int64_t>(v);
  }
  return item_as<int64_t>(value);
}

at::Tensor finish_quantize_expression(const at::Tensor& unclamped, const at::Tensor& nan_value, int64_t quant_min,
                                      int64_t quant_max, at::ScalarType dtype) {
  if (is_float8(dtype)) return at::clamp(unclamped, quant_min, quant_max).to(dtype);
  const at::Tensor defined = at::where(at::isnan(unclamped), nan_value.to(unclamped.scalar_type()), unclamped);
  // The second clamp, exact in float64, saturates what the first one lets
  // through after rounding its bounds to the compute dtype (2^31 for int32).
  return at::clamp(at::clamp(defined, quant_min, quant_max).to(at::kDouble), quant_min, quant_max).to(dtype);
}

bool integer_difference_is_exact(at::ScalarType input, at::ScalarType difference) {
  if (!at::isIntegralType(difference, /*includeBool=*/false)) return false;
  // In-range zero points make q - zp exact when the type is wider than q's.
  return difference == at::kLong || c10::elementSize(difference) > c10::elementSize(input);
}

}  // namespace kernels
}  // namespace torch_pt2e
