#include "kernels/checks.h"

#include <cmath>

#include <c10/util/Exception.h>
#include <torch/version.h>

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

}  // namespace kernels
}  // namespace torch_pt2e
