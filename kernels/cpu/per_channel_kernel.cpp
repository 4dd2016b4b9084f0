// CPU kernels of quantize_per_channel / dequantize_per_channel.
//
// Both walk the input in memory order (contiguous, channels-last or any
// other dense layout): the channel of memory offset o is
// (o / stride[axis]) % size[axis], and the output gets the input's strides.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/loops.h"
#include "kernels/expressions.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

constexpr const char* kQuantizeOp = "quantized_decomposed::quantize_per_channel";
constexpr const char* kDequantizeOp = "quantized_decomposed::dequantize_per_channel";

at::Tensor quantize_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t axis, int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  axis = check_quantize_per_channel_args(kQuantizeOp, input, scales, zero_points, axis, quant_min, quant_max, dtype);
  check_scale_values(kQuantizeOp, "scales", scales);
  check_zero_point_values(kQuantizeOp, zero_points, quant_min, quant_max);
  // input (upcast to float32) * (1.0 / scales), then + zero_points: the
  // product's dtype must be the sum's for one compute type to do both.
  const Operand product = promote({at::kFloat, false}, {scales.scalar_type(), false});
  const Operand sum = promote(product, {zero_points.scalar_type(), false});
  if (product.dtype != sum.dtype ||
      !has_quantize_loop(RoundingOrder::kRoundThenAdd, sum.dtype, input.scalar_type(), dtype)) {
    // Combinations the loops do not cover (float16/bfloat16 zero points with
    // float64 scales, float8 outputs, ...).
    return quantize_per_channel_expression(input, scales, zero_points, axis, quant_min, quant_max, dtype);
  }
  const at::Tensor src = dense(input);
  const at::Tensor out = at::empty_like(src, src.options().dtype(dtype));
  quantize_channels(src, out, *compute_type(sum.dtype), {scales, sum.dtype, /*reciprocal=*/true},
                    {zero_points, sum.dtype}, src.size(axis), channel_run(src, axis), RoundingOrder::kRoundThenAdd,
                    quant_min, quant_max);
  return out;
}

at::Tensor dequantize_per_channel(const at::Tensor& input, const at::Tensor& scales,
                                  const c10::optional<at::Tensor>& zero_points, int64_t axis, int64_t quant_min,
                                  int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  const at::ScalarType out_scalar_type = out_dtype.value_or(at::kFloat);
  axis = check_dequantize_per_channel_args(kDequantizeOp, input, scales, zero_points, axis, quant_min, quant_max,
                                           dtype, out_scalar_type);
  check_scale_values(kDequantizeOp, "scales", scales);
  if (zero_points) check_zero_point_values(kDequantizeOp, *zero_points, quant_min, quant_max);
  // (input - zero_points) * scales, or input * scales: every operand is dimensioned.
  const Operand difference =
      zero_points ? promote({input.scalar_type(), false}, {zero_points->scalar_type(), false}) : operand(input);
  const Operand product = promote(difference, {scales.scalar_type(), false});
  const auto difference_kind = zero_points ? difference_type(input.scalar_type(), difference.dtype)
                                           : c10::optional<DifferenceType>(DifferenceType::kInteger);
  if (!has_dequantize_loop(difference_kind, product.dtype, input.scalar_type(), out_scalar_type)) {
    return dequantize_per_channel_expression(input, scales, zero_points, axis, out_scalar_type);
  }
  const at::Tensor src = dense(input);
  const at::Tensor out = at::empty_like(src, src.options().dtype(out_scalar_type));
  // No zero points: an integer difference with zeros.
  const LoopParam zp{zero_points.value_or(at::Tensor()),
                     *difference_kind == DifferenceType::kInteger ? at::kInt : difference.dtype};
  dequantize_channels(src, out, *compute_type(product.dtype), {scales, product.dtype}, *difference_kind, zp,
                      src.size(axis), channel_run(src, axis));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("quantize_per_channel", TORCH_FN(quantize_per_channel));
  m.impl("dequantize_per_channel", TORCH_FN(dequantize_per_channel));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
