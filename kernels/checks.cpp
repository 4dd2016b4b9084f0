#include "kernels/checks.h"

#include <cmath>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/host_values.h"

// uint16 and the float8 dtypes exist in LibTorch 2.1 / 2.3 and later.
#define TORCH_PT2E_HAS_FLOAT8 (TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 1) || TORCH_VERSION_MAJOR > 2
#define TORCH_PT2E_HAS_UINT16 (TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2

namespace torch_pt2e {
namespace kernels {

c10::optional<QuantBounds> quant_dtype_bounds(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::ScalarType::Byte:
      return QuantBounds{0, 255};
    case c10::ScalarType::Char:
      return QuantBounds{-128, 127};
    case c10::ScalarType::Short:
      return QuantBounds{-32768, 32767};
    case c10::ScalarType::Int:
      return QuantBounds{-2147483648LL, 2147483647LL};
#if TORCH_PT2E_HAS_UINT16
    case c10::ScalarType::UInt16:
      return QuantBounds{0, 65535};
#endif
#if TORCH_PT2E_HAS_FLOAT8
    case c10::ScalarType::Float8_e5m2:
      return QuantBounds{-57344, 57344};
    case c10::ScalarType::Float8_e4m3fn:
      return QuantBounds{-448, 448};
#endif
    default:
      return c10::nullopt;
  }
}

const char* supported_quant_dtypes() {
#if TORCH_PT2E_HAS_UINT16
  return "uint8, int8, uint16, int16, int32, float8_e5m2, float8_e4m3fn";
#elif TORCH_PT2E_HAS_FLOAT8
  return "uint8, int8, int16, int32, float8_e5m2, float8_e4m3fn";
#else
  return "uint8, int8, int16, int32";
#endif
}

bool is_float8(c10::ScalarType dtype) {
#if TORCH_PT2E_HAS_FLOAT8
  return dtype == c10::ScalarType::Float8_e5m2 || dtype == c10::ScalarType::Float8_e4m3fn;
#else
  (void)dtype;
  return false;
#endif
}

void check_quant_range(const char* op, int64_t quant_min, int64_t quant_max, c10::ScalarType dtype) {
  const auto bounds = quant_dtype_bounds(dtype);
  TORCH_CHECK(bounds.has_value(), op, ": dtype must be one of ", supported_quant_dtypes(), "; got ", dtype);
  TORCH_CHECK(quant_min >= bounds->min, op, ": quant_min must be >= ", bounds->min, " for dtype ", dtype,
              ", got ", quant_min);
  TORCH_CHECK(quant_max <= bounds->max, op, ": quant_max must be <= ", bounds->max, " for dtype ", dtype,
              ", got ", quant_max);
  TORCH_CHECK(quant_min <= quant_max, op, ": quant_min must be <= quant_max, got quant_min=", quant_min,
              " and quant_max=", quant_max);
}

void check_scale(const char* op, double scale) {
  TORCH_CHECK(std::isfinite(scale) && scale > 0.0, op, ": scale must be a finite number > 0, got ", scale);
}

void check_zero_point(const char* op, int64_t zero_point, int64_t quant_min, int64_t quant_max) {
  TORCH_CHECK(zero_point >= quant_min && zero_point <= quant_max, op, ": zero_point must lie in [quant_min, quant_max] = [",
              quant_min, ", ", quant_max, "], got ", zero_point);
}

void check_quantize_input(const char* op, const at::Tensor& input) {
  const auto dtype = input.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16, op,
              ": input must be float32, float16 or bfloat16, got ", dtype);
}

void check_dequantize_input(const char* op, const at::Tensor& input, c10::ScalarType dtype,
                            c10::ScalarType out_dtype) {
  TORCH_CHECK(input.scalar_type() == dtype, op, ": input must have the dtype given by the dtype argument (", dtype,
              "), got ", input.scalar_type());
  TORCH_CHECK(quant_dtype_bounds(dtype).has_value(), op, ": dtype must be one of ", supported_quant_dtypes(),
              "; got ", dtype);
  TORCH_CHECK(at::isFloatingType(out_dtype), op, ": out_dtype must be a floating-point dtype, got ", out_dtype);
}

void check_single_element(const char* op, const char* name, const at::Tensor& value) {
  TORCH_CHECK(value.numel() == 1, op, ": ", name, " must be a tensor with exactly one element, got shape ",
              value.sizes());
}

int64_t check_axis(const char* op, int64_t axis, int64_t dim) {
  TORCH_CHECK(axis >= -dim && axis < dim, op, ": axis must be in [", -dim, ", ", dim, ") for a ", dim,
              "-d input, got ", axis);
  return axis < 0 ? axis + dim : axis;
}

void check_floating(const char* op, const char* name, const at::Tensor& value) {
  TORCH_CHECK(at::isFloatingType(value.scalar_type()), op, ": ", name, " must be a floating-point tensor, got ",
              value.scalar_type());
}

void check_zero_point_dtype(const char* op, const at::Tensor& zero_points) {
  const auto dtype = zero_points.scalar_type();
  TORCH_CHECK(at::isIntegralType(dtype, /*includeBool=*/false) || at::isFloatingType(dtype), op,
              ": zero_points must be an integer or floating-point tensor, got ", dtype);
}

void check_per_channel_shape(const char* op, const char* name, const at::Tensor& value, int64_t channels,
                             int64_t axis) {
  TORCH_CHECK(value.dim() == 1 && value.numel() == channels, op, ": ", name,
              " must be 1-D with one entry per channel (input.size(", axis, ") = ", channels, "), got shape ",
              value.sizes());
}

namespace {

// Index and value of the first element where `bad` is true, for messages.
std::string first_offender(const at::Tensor& values, const at::Tensor& bad) {
  const auto flat_bad = bad.reshape({-1});
  const int64_t index = flat_bad.nonzero().min().item<int64_t>();
  const auto flat = values.reshape({-1});
  std::ostringstream out;
  out << "[" << index << "] = ";
  if (at::isFloatingType(values.scalar_type())) {
    out << flat[index].item<double>();
  } else {
    out << flat[index].item<int64_t>();
  }
  return out.str();
}

}  // namespace

void check_scale_values(const char* op, const char* name, const at::Tensor& scales) {
  if (scales.numel() == 0) return;
  // Small CPU tensors: the same test in a loop; the ATen expression below
  // runs only to name an offender (or for what the loop does not read).
  bool all_valid = true;
  const bool visited = visit_host_values(scales, [&](int64_t, auto value) {
    const double v = static_cast<double>(value);  // exact for every readable dtype
    all_valid = all_valid && std::isfinite(v) && v > 0.0;
  });
  if (visited && all_valid) return;
  const at::Tensor bad = at::logical_not(at::logical_and(at::isfinite(scales), scales > 0));
  if (!bad.any().item<bool>()) return;
  TORCH_CHECK(false, op, ": ", name, " must be finite numbers > 0, got ", name, first_offender(scales, bad));
}

void check_zero_point_values(const char* op, const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max) {
  if (zero_points.numel() == 0) return;
  const bool floating = at::isFloatingType(zero_points.scalar_type());
  bool all_valid = true;
  const bool visited = visit_host_values(zero_points, [&](int64_t, auto value) {
    if (floating) {
      all_valid = all_valid && std::isfinite(static_cast<double>(value));
    } else {
      const auto v = static_cast<int64_t>(value);  // as zero_points.to(at::kLong)
      all_valid = all_valid && v >= quant_min && v <= quant_max;
    }
  });
  if (visited && all_valid) return;
  if (floating) {
    const at::Tensor bad = at::logical_not(at::isfinite(zero_points));
    if (!bad.any().item<bool>()) return;
    TORCH_CHECK(false, op, ": zero_points must be finite, got zero_points", first_offender(zero_points, bad));
  }
  const at::Tensor wide = zero_points.to(at::kLong);
  const at::Tensor bad = at::logical_or(wide < quant_min, wide > quant_max);
  if (!bad.any().item<bool>()) return;
  TORCH_CHECK(false, op, ": zero_points must lie in [quant_min, quant_max] = [", quant_min, ", ", quant_max,
              "], got zero_points", first_offender(zero_points, bad));
}

void check_floating_dtype(const char* op, const char* name, c10::ScalarType dtype) {
  TORCH_CHECK(at::isFloatingType(dtype), op, ": ", name, " must be a floating-point dtype, got ", dtype);
}

void check_range_includes_zero(const char* op, int64_t quant_min, int64_t quant_max) {
  TORCH_CHECK(quant_min <= 0 && 0 <= quant_max, op, ": the range [quant_min, quant_max] must include 0, got [",
              quant_min, ", ", quant_max, "]");
  TORCH_CHECK(quant_min < quant_max, op, ": quant_min must be < quant_max, got quant_min=", quant_min,
              " and quant_max=", quant_max);
}

int64_t check_quantize_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                        const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                        int64_t quant_max, c10::ScalarType dtype) {
  check_quantize_input(op, input);
  axis = check_axis(op, axis, input.dim());
  check_quant_range(op, quant_min, quant_max, dtype);
  check_floating(op, "scales", scales);
  check_zero_point_dtype(op, zero_points);
  check_per_channel_shape(op, "scales", scales, input.size(axis), axis);
  check_per_channel_shape(op, "zero_points", zero_points, input.size(axis), axis);
  return axis;
}

int64_t check_dequantize_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                          const c10::optional<at::Tensor>& zero_points, int64_t axis,
                                          int64_t quant_min, int64_t quant_max, c10::ScalarType dtype,
                                          c10::ScalarType out_dtype) {
  check_dequantize_input(op, input, dtype, out_dtype);
  axis = check_axis(op, axis, input.dim());
  check_quant_range(op, quant_min, quant_max, dtype);
  check_floating(op, "scales", scales);
  check_per_channel_shape(op, "scales", scales, input.size(axis), axis);
  if (zero_points.has_value()) {
    check_zero_point_dtype(op, *zero_points);
    check_per_channel_shape(op, "zero_points", *zero_points, input.size(axis), axis);
  }
  return axis;
}

int64_t num_tokens(const at::Tensor& input) {
  int64_t tokens = 1;
  for (int64_t d = 0; d + 1 < input.dim(); ++d) tokens *= input.size(d);
  return tokens;
}

std::vector<int64_t> per_token_qparams_shape(const at::Tensor& input) {
  if (input.dim() == 0) return {};
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end() - 1);
  shape.push_back(1);
  return shape;
}

void check_per_token_shape(const char* op, const char* name, const at::Tensor& value, const at::Tensor& input) {
  const int64_t tokens = num_tokens(input);
  bool broadcasts_per_token = value.numel() == tokens && value.dim() <= input.dim() &&
                              (value.dim() == 0 || value.size(-1) == 1);
  for (int64_t d = 1; broadcasts_per_token && d <= value.dim(); ++d) {
    const int64_t v = value.size(-d), i = input.size(-d);
    broadcasts_per_token = v == i || v == 1;
  }
  TORCH_CHECK(broadcasts_per_token, op, ": ", name, " must hold one entry per token (", tokens,
              " tokens), shaped input.shape[:-1] + [1] = ", c10::IntArrayRef(per_token_qparams_shape(input)),
              " or broadcastable to it along the leading dimensions; got shape ", value.sizes());
}

void check_floating_input(const char* op, const at::Tensor& input) {
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op,
              ": input must be a floating-point tensor (float32, float64, float16 or bfloat16), got ",
              input.scalar_type());
}

void check_quantize_per_token_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                   const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                   c10::ScalarType dtype) {
  check_floating_input(op, input);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_floating(op, "scales", scales);
  check_zero_point_dtype(op, zero_points);
  check_per_token_shape(op, "scales", scales, input);
  check_per_token_shape(op, "zero_points", zero_points, input);
}

void check_dequantize_per_token_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                     const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                     c10::ScalarType dtype, c10::ScalarType output_dtype) {
  check_dequantize_input(op, input, dtype, output_dtype);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_floating(op, "scales", scales);
  check_zero_point_dtype(op, zero_points);
  check_per_token_shape(op, "scales", scales, input);
  check_per_token_shape(op, "zero_points", zero_points, input);
}

int64_t check_per_channel_group_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                     const c10::optional<at::Tensor>& zero_points, int64_t group_size) {
  TORCH_CHECK(input.dim() == 2, op, ": input must be 2-D, got shape ", input.sizes());
  TORCH_CHECK(group_size > 1, op, ": group_size must be > 1, got ", group_size);
  const int64_t columns = input.size(1);
  if (group_size > columns && columns > 0 && scales.dim() > 0 && scales.size(-1) == 1) group_size = columns;
  TORCH_CHECK(columns % group_size == 0, op, ": input.shape[-1] (", columns, ") must be divisible by group_size (",
              group_size, ")");
  check_floating(op, "scales", scales);
  const int64_t groups = input.numel() / group_size;
  TORCH_CHECK(scales.numel() == groups || scales.numel() == 1, op, ": scales must hold one entry per group (",
              groups, " groups of ", group_size, ") or a single one, got shape ", scales.sizes());
  if (zero_points.has_value()) {
    check_zero_point_dtype(op, *zero_points);
    TORCH_CHECK(zero_points->numel() == groups || zero_points->numel() == 1, op,
                ": zero_points must hold one entry per group (", groups, " groups of ", group_size,
                ") or a single one, got shape ", zero_points->sizes());
  }
  return group_size;
}

int64_t check_fake_quant_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                          const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                          int64_t quant_max) {
  TORCH_CHECK(input.scalar_type() == at::kFloat, op, ": input must be float32, got ", input.scalar_type());
  axis = check_axis(op, axis, input.dim());
  TORCH_CHECK(quant_min <= quant_max, op, ": quant_min must be <= quant_max, got quant_min=", quant_min,
              " and quant_max=", quant_max);
  check_floating(op, "scales", scales);
  check_zero_point_dtype(op, zero_points);
  check_per_channel_shape(op, "scales", scales, input.size(axis), axis);
  check_per_channel_shape(op, "zero_points", zero_points, input.size(axis), axis);
  return axis;
}

void check_choose_qparams_args(const char* op, const at::Tensor& input, int64_t quant_min, int64_t quant_max,
                               double eps, c10::ScalarType dtype) {
  check_quantize_input(op, input);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_range_includes_zero(op, quant_min, quant_max);
  const float eps_f32 = static_cast<float>(eps);
  TORCH_CHECK(std::isfinite(eps_f32) && eps_f32 > 0.0f, op,
              ": eps must be a finite number > 0 (as a float32), got ", eps);
}

void check_choose_qparams_per_token_input(const char* op, const at::Tensor& input) {
  check_floating_input(op, input);
  TORCH_CHECK(input.dim() == 0 || input.size(-1) > 0 || num_tokens(input) == 0, op,
              ": input.shape[-1] must be > 0 (each token needs an element to take its min/max), got shape ",
              input.sizes());
}

void check_observed_range(const char* op, const std::string& what, double min, double max, bool has_nan) {
  TORCH_CHECK(!has_nan && std::isfinite(min) && std::isfinite(max), op, ": ", what,
              " must hold finite values to choose quantization parameters, found min = ", min, ", max = ", max,
              has_nan ? " and NaN" : "");
}

void check_chosen_scale(const char* op, double scale, double min, double max, c10::ScalarType input_dtype) {
  TORCH_CHECK(std::isfinite(scale), op, ": the input's range [", min, ", ", max, "] overflows ", input_dtype,
              " in the scale computation, so the scale would be ", scale);
}

void check_token_abs_max(const char* op, double abs_max, bool has_nan, int64_t token) {
  TORCH_CHECK(!has_nan && std::isfinite(abs_max), op,
              ": input must hold finite values to choose quantization parameters, found max |x| = ", abs_max,
              has_nan ? " and NaN" : "", " in token ", token);
}

void check_no_nan(const char* op, const at::Tensor& input, bool has_nan) {
  TORCH_CHECK(!has_nan, op, ": input must not contain NaN (upstream asserts it), got NaN at flat index ",
              at::isnan(input).reshape({-1}).nonzero().min().item<int64_t>());
}

}  // namespace kernels
}  // namespace torch_pt2e
