// CPU kernels of quantize_per_channel_group / dequantize_per_channel_group:
// a 2-D input seen as rows of group_size elements (input.reshape(-1,
// group_size)), one scale and zero point per row; the output is contiguous.
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

constexpr const char* kQuantizeOp = "quantized_decomposed::quantize_per_channel_group";
constexpr const char* kDequantizeOp = "quantized_decomposed::dequantize_per_channel_group";

at::Tensor quantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                      const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype, int64_t group_size) {
  check_floating_input(kQuantizeOp, input);
  group_size = check_per_channel_group_args(kQuantizeOp, input, scales, zero_points, group_size);
  check_quant_range(kQuantizeOp, quant_min, quant_max, dtype);
  check_scale_values(kQuantizeOp, "scales", scales);
  check_zero_point_values(kQuantizeOp, zero_points, quant_min, quant_max);
  check_no_nan(kQuantizeOp, input, input.numel() > 0 && tensor_min_max(input).has_nan);
  // to_quant.mul(1.0 / scales).add(zero_points): [groups, group_size] with [groups, 1] operands.
  const Operand product = promote({input.scalar_type(), false}, {scales.scalar_type(), false});
  const Operand sum = promote(product, {zero_points.scalar_type(), false});
  const int64_t groups = input.numel() / group_size;
  if (product.dtype != sum.dtype ||
      !has_quantize_loop(RoundingOrder::kAddThenRound, sum.dtype, input.scalar_type(), dtype)) {
    return quantize_per_channel_group_expression(input, scales, zero_points, group_size, sum.dtype, quant_min,
                                                 quant_max, dtype);
  }
  const at::Tensor src = input.contiguous();
  const at::Tensor out = at::empty(input.sizes(), input.options().dtype(dtype));
  // One value per group, or a single one that LoopParam broadcasts to all.
  quantize_channels(src, out, *compute_type(sum.dtype), {scales, sum.dtype, /*reciprocal=*/true},
                    {zero_points, sum.dtype}, groups, group_size, RoundingOrder::kAddThenRound, quant_min, quant_max);
  return out;
}

at::Tensor dequantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                        const c10::optional<at::Tensor>& zero_points, int64_t quant_min,
                                        int64_t quant_max, at::ScalarType dtype, int64_t group_size,
                                        at::ScalarType output_dtype) {
  check_dequantize_input(kDequantizeOp, input, dtype, output_dtype);
  group_size = check_per_channel_group_args(kDequantizeOp, input, scales, zero_points, group_size);
  check_quant_range(kDequantizeOp, quant_min, quant_max, dtype);
  check_scale_values(kDequantizeOp, "scales", scales);
  if (zero_points) check_zero_point_values(kDequantizeOp, *zero_points, quant_min, quant_max);
  // w.sub(zp).mul(scales); a missing zp is a 0-d int32 zero, which leaves the
  // input's dtype and values as they are.
  const Operand difference =
      zero_points ? promote({input.scalar_type(), false}, {zero_points->scalar_type(), false}) : operand(input);
  const Operand product = promote(difference, {scales.scalar_type(), false});
  const auto difference_kind = zero_points ? difference_type(input.scalar_type(), difference.dtype)
                                           : c10::optional<DifferenceType>(DifferenceType::kInteger);
  const int64_t groups = input.numel() / group_size;
  if (!has_dequantize_loop(difference_kind, product.dtype, input.scalar_type(), output_dtype)) {
    return dequantize_per_channel_group_expression(input, scales, zero_points, group_size, output_dtype);
  }
  const at::Tensor src = input.contiguous();
  const at::Tensor out = at::empty(input.sizes(), input.options().dtype(output_dtype));
  // No zero points: an integer difference with zeros.
  const LoopParam zp{zero_points.value_or(at::Tensor()),
                     *difference_kind == DifferenceType::kInteger ? at::kInt : difference.dtype};
  dequantize_channels(src, out, *compute_type(product.dtype), {scales, product.dtype}, *difference_kind, zp, groups,
                      group_size);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("quantize_per_channel_group", TORCH_FN(quantize_per_channel_group));
  m.impl("dequantize_per_channel_group", TORCH_FN(dequantize_per_channel_group));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
