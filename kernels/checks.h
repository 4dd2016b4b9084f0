// Argument validation shared by the CPU, CUDA and Meta kernels, so every
// device rejects the same inputs with the same message. Each message names
// the op, the argument, what was expected and what was found.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// ---- tensors of quantization parameters (per channel, token, group) --------

// A floating-point tensor (scales, eps-like parameters).
void check_floating(const char* op, const char* name, const at::Tensor& value);

// Zero points: an integer or floating-point tensor (not bool or complex).
void check_zero_point_dtype(const char* op, const at::Tensor& zero_points);

// Per-channel parameters: 1-D with one entry per channel of the axis.
void check_per_channel_shape(const char* op, const char* name, const at::Tensor& value, int64_t channels,
                             int64_t axis);

// Every scale is finite and > 0 (reads the values; names the first bad one).
void check_scale_values(const char* op, const char* name, const at::Tensor& scales);

// Integer zero points lie in [quant_min, quant_max]; floating ones are finite
// (float zero points, e.g. per_channel_affine_float_qparams, may lie outside).
void check_zero_point_values(const char* op, const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max);

// Dequantize outputs: a floating dtype.
void check_floating_dtype(const char* op, const char* name, c10::ScalarType dtype);

// choose_qparams*: quant_min <= 0 <= quant_max and quant_min < quant_max
// (upstream's validate_qmin_qmax).
void check_range_includes_zero(const char* op, int64_t quant_min, int64_t quant_max);

// ---- whole-signature checks (no tensor data), shared by CPU and Meta -------

// quantize_per_channel; returns the normalized axis.
int64_t check_quantize_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                        const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                        int64_t quant_max, c10::ScalarType dtype);

// dequantize_per_channel; returns the normalized axis.
int64_t check_dequantize_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                          const c10::optional<at::Tensor>& zero_points, int64_t axis,
                                          int64_t quant_min, int64_t quant_max, c10::ScalarType dtype,
                                          c10::ScalarType out_dtype);

// prod(input.shape[:-1]): the tokens of per-token ops (1 for 0-d and 1-D inputs).
int64_t num_tokens(const at::Tensor& input);

// Per-token parameters: one entry per token, shaped so that they broadcast
// along the last dimension only (input.shape[:-1] + [1], leading 1s optional).
void check_per_token_shape(const char* op, const char* name, const at::Tensor& value, const at::Tensor& input);

// Inputs upstream multiplies by reciprocal scales without upcasting: any
// floating dtype (float32, float64, float16, bfloat16).
void check_floating_input(const char* op, const at::Tensor& input);

void check_quantize_per_token_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                   const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                   c10::ScalarType dtype);

void check_dequantize_per_token_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                     const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                     c10::ScalarType dtype, c10::ScalarType output_dtype);

// quantize/dequantize_per_channel_group: input 2-D, group_size > 1 (replaced
// by the last dimension when larger than it and scales.shape[-1] == 1, as
// upstream does for GPTQ), last dimension divisible, and scales/zero_points
// with one entry per group (or one in all). Returns the group size used.
int64_t check_per_channel_group_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                     const c10::optional<at::Tensor>& zero_points, int64_t group_size);

// fake_quant_per_channel; returns the normalized axis.
int64_t check_fake_quant_per_channel_args(const char* op, const at::Tensor& input, const at::Tensor& scales,
                                          const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                          int64_t quant_max);

// choose_qparams.tensor / choose_qparams_symmetric.tensor.
void check_choose_qparams_args(const char* op, const at::Tensor& input, int64_t quant_min, int64_t quant_max,
                               double eps, c10::ScalarType dtype);

// choose_qparams_per_token*: a floating input with at least one element per
// token (upstream's amin/amax over an empty last dimension fail).
void check_choose_qparams_per_token_input(const char* op, const at::Tensor& input);

// Shape of per-token qparams: input.shape[:-1] + [1], or [] for a 0-d input.
std::vector<int64_t> per_token_qparams_shape(const at::Tensor& input);

// ---- checks of values that a kernel found (CPU and CUDA report alike) -------

// choose_qparams*: the observed [min, max] (over the non-NaN values) must be
// finite and NaN-free; `what` names the data ("input", "token 3 of input").
void check_observed_range(const char* op, const std::string& what, double min, double max, bool has_nan);

// choose_qparams.tensor / symmetric: the scale computed in the input's dtype
// from [min, max] must be finite (float16 ranges can overflow).
void check_chosen_scale(const char* op, double scale, double min, double max, c10::ScalarType input_dtype);

// choose_qparams_per_token: a token's max |x| (over its non-NaN values) must
// be finite and the token NaN-free.
void check_token_abs_max(const char* op, double abs_max, bool has_nan, int64_t token);

// quantize_per_channel_group: upstream asserts the input has no NaN; the
// message names the first one (`has_nan` is what the kernel found).
void check_no_nan(const char* op, const at::Tensor& input, bool has_nan);

}  // namespace kernels
}  // namespace torch_pt2e
