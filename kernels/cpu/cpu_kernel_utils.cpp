#include "kernels/cpu/cpu_kernel_utils.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

c10::optional<FloatType> float_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return FloatType::kFloat;
    case at::kHalf:
      return FloatType::kHalf;
    case at::kBFloat16:
      return FloatType::kBFloat16;
    case at::kDouble:
      return FloatType::kDouble;
    default:
      return c10::nullopt;
  }
}

c10::optional<QuantType> quant_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kByte:
      return QuantType::kUInt8;
    case at::kChar:
      return QuantType::kInt8;
    case at::kShort:
      return QuantType::kInt16;
    case at::kInt:
      return QuantType::kInt32;
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
    case at::ScalarType::UInt16:
      return QuantType::kUInt16;
#endif
    default:
      return c10::nullopt;
  }
}

c10::optional<ComputeType> compute_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return ComputeType::kFloat;
    case at::kDouble:
      return ComputeType::kDouble;
    case at::kBFloat16:
      return ComputeType::kBFloat16;
    case at::kHalf:
      return ComputeType::kHalf;
    default:
      return c10::nullopt;
  }
}

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

namespace {
// Runs shorter than this are expanded into per-element parameters.
constexpr int64_t kMinRun = 64;
// Largest expanded period, and the length periods are repeated up to.
constexpr int64_t kMaxPeriod = 1 << 16;
constexpr int64_t kMinPeriod = 4096;
}  // namespace

int64_t channel_run(const at::Tensor& dense_tensor, int64_t axis) {
  if (dense_tensor.size(axis) == 1) return std::max<int64_t>(dense_tensor.numel(), 1);
  return dense_tensor.stride(axis);
}

ParamPlan plan_params(int64_t entries, int64_t inner) {
  if (inner >= kMinRun || entries * inner > kMaxPeriod) return {{entries, inner}, 1, 1};
  const int64_t period = entries * inner;
  const int64_t tile = period >= kMinPeriod ? 1 : (kMinPeriod + period - 1) / period;
  return {{period * tile, 1}, inner, tile};
}

at::Tensor arrange_params(const at::Tensor& per_entry, const ParamPlan& plan) {
  at::Tensor out = per_entry.reshape({-1});
  if (plan.repeat_each > 1) out = out.repeat_interleave(plan.repeat_each);
  if (plan.tile > 1) out = out.repeat({plan.tile});
  return out.contiguous();
}

at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

double read_scale(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  return value.item<double>();
}

int64_t read_integer(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  if (at::isFloatingType(value.scalar_type())) {
    const double v = value.item<double>();
    TORCH_CHECK(std::isfinite(v) && v == std::nearbyint(v) && std::fabs(v) < 9.2e18, op, ": ", name,
                " must hold an integer value, got ", v);
    return static_cast<int64_t>(v);
  }
  return value.item<int64_t>();
}

void quantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute,
                       const at::Tensor& inv_scale, const at::Tensor& zero_point, int64_t entries, int64_t inner,
                       RoundingOrder order, int64_t quant_min, int64_t quant_max) {
  if (src.numel() == 0) return;
  const auto in_type = float_type(src.scalar_type());
  const auto out_type = quant_type(out.scalar_type());
  TORCH_INTERNAL_ASSERT(in_type && out_type && zero_point.scalar_type() == inv_scale.scalar_type());
  const QuantizeChannelsFn fn = loops().quantize_channels[static_cast<int>(order)][static_cast<int>(compute)]
                                                         [static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  TORCH_INTERNAL_ASSERT(fn != nullptr, "no quantize loop for ", src.scalar_type(), " input, compute type ",
                        static_cast<int>(compute));
  const ParamPlan plan = plan_params(entries, inner);
  const at::Tensor inv = arrange_params(inv_scale, plan);
  const at::Tensor zp = arrange_params(zero_point, plan);
  ChannelQuantParams params;
  params.inv_scale = inv.data_ptr();
  params.zero_point = zp.data_ptr();
  params.layout = plan.layout;
  params.quant_min = static_cast<double>(quant_min);
  params.quant_max = static_cast<double>(quant_max);
  params.quant_min_int = quant_min;
  params.quant_max_int = quant_max;
  const void* in_ptr = src.data_ptr();
  void* out_ptr = out.data_ptr();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in_ptr, out_ptr, begin, end, params); });
}

void dequantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute, const at::Tensor& scale,
                         DifferenceType difference, const at::Tensor& zero_point, int64_t entries, int64_t inner) {
  if (src.numel() == 0) return;
  const auto in_type = quant_type(src.scalar_type());
  const auto out_type = float_type(out.scalar_type());
  TORCH_INTERNAL_ASSERT(in_type && out_type && zero_point.scalar_type() == zero_point_loop_dtype(difference));
  const DequantizeChannelsFn fn = loops().dequantize_channels[static_cast<int>(difference)][static_cast<int>(compute)]
                                                             [static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  TORCH_INTERNAL_ASSERT(fn != nullptr, "no dequantize loop for ", src.scalar_type(), ", difference ",
                        static_cast<int>(difference), ", compute ", static_cast<int>(compute));
  const ParamPlan plan = plan_params(entries, inner);
  const at::Tensor s = arrange_params(scale, plan);
  const at::Tensor zp = arrange_params(zero_point, plan);
  ChannelDequantParams params;
  params.scale = s.data_ptr();
  params.zero_point = zp.data_ptr();
  params.layout = plan.layout;
  const void* in_ptr = src.data_ptr();
  void* out_ptr = out.data_ptr();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in_ptr, out_ptr, begin, end, params); });
}

bool has_quantize_loop(RoundingOrder order, at::ScalarType compute, at::ScalarType input, at::ScalarType dtype) {
  const auto compute_kind = compute_type(compute);
  const auto in_type = float_type(input);
  const auto out_type = quant_type(dtype);
  if (!compute_kind || !in_type || !out_type) return false;
  return loops().quantize_channels[static_cast<int>(order)][static_cast<int>(*compute_kind)]
                                  [static_cast<int>(*in_type)][static_cast<int>(*out_type)] != nullptr;
}

bool has_dequantize_loop(c10::optional<DifferenceType> difference, at::ScalarType compute, at::ScalarType input,
                         at::ScalarType out_dtype) {
  const auto compute_kind = compute_type(compute);
  const auto in_type = quant_type(input);
  const auto out_type = float_type(out_dtype);
  if (!difference || !compute_kind || !in_type || !out_type) return false;
  return loops().dequantize_channels[static_cast<int>(*difference)][static_cast<int>(*compute_kind)]
                                    [static_cast<int>(*in_type)][static_cast<int>(*out_type)] != nullptr;
}

at::ScalarType zero_point_loop_dtype(DifferenceType difference) {
  switch (difference) {
    case DifferenceType::kInteger:
      return at::kInt;
    case DifferenceType::kDouble:
      return at::kDouble;
    default:
      return at::kFloat;
  }
}

at::Tensor finish_quantize_expression(const at::Tensor& unclamped, const at::Tensor& nan_value, int64_t quant_min,
                                      int64_t quant_max, at::ScalarType dtype) {
  if (is_float8(dtype)) return at::clamp(unclamped, quant_min, quant_max).to(dtype);
  const at::Tensor defined = at::where(at::isnan(unclamped), nan_value.to(unclamped.scalar_type()), unclamped);
  // The second clamp, exact in float64, saturates what the first one lets
  // through after rounding its bounds to the compute dtype (2^31 for int32).
  return at::clamp(at::clamp(defined, quant_min, quant_max).to(at::kDouble), quant_min, quant_max).to(dtype);
}

c10::optional<DifferenceType> difference_type(at::ScalarType input, at::ScalarType difference) {
  if (difference == at::kFloat) return DifferenceType::kFloat;
  if (difference == at::kDouble) return DifferenceType::kDouble;
  if (difference == at::kBFloat16) return DifferenceType::kBFloat16;
  if (difference == at::kHalf) return DifferenceType::kHalf;
  if (!at::isIntegralType(difference, /*includeBool=*/false)) return c10::nullopt;
  // In-range zero points make q - zp exact when the type is wider than q's.
  if (difference == at::kLong || c10::elementSize(difference) > c10::elementSize(input)) {
    return DifferenceType::kInteger;
  }
  return c10::nullopt;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
