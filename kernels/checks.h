// Argument validation shared by the CPU, CUDA and Meta kernels, so every
// device rejects the same inputs with the same message. Each message names
// the op, the argument, what was expected and what was found.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

namespace torch_pt2e {
namespace kernels {

// Representable range of a quantized dtype (upstream's _DTYPE_TO_QVALUE_BOUNDS):
// iinfo of uint8, int8, uint16, int16, int32 and int(finfo) of the float8 types.
struct QuantBounds {
  int64_t min;
  int64_t max;
};
c10::optional<QuantBounds> quant_dtype_bounds(c10::ScalarType dtype);

// The dtypes quant_dtype_bounds knows, for messages ("uint8, int8, ...").
const char* supported_quant_dtypes();

bool is_float8(c10::ScalarType dtype);

// dtype has bounds, quant_min/quant_max lie within them, quant_min <= quant_max.
void check_quant_range(const char* op, int64_t quant_min, int64_t quant_max, c10::ScalarType dtype);

// scale is finite and > 0.
void check_scale(const char* op, double scale);

// quant_min <= zero_point <= quant_max.
void check_zero_point(const char* op, int64_t zero_point, int64_t quant_min, int64_t quant_max);

// Quantize inputs: float32, or float16/bfloat16 (which upstream upcasts to float32).
void check_quantize_input(const char* op, const at::Tensor& input);

// Dequantize inputs: input.dtype() == dtype, and out_dtype is a floating type.
void check_dequantize_input(const char* op, const at::Tensor& input, c10::ScalarType dtype,
                            c10::ScalarType out_dtype);

// A tensor quantization parameter that must hold exactly one element.
void check_single_element(const char* op, const char* name, const at::Tensor& value);

// Normalizes axis (negative counts from the end) after checking it is in range.
int64_t check_axis(const char* op, int64_t axis, int64_t dim);

}  // namespace kernels
}  // namespace torch_pt2e
