// CPU kernels of quantize_per_token / dequantize_per_token.
//
// A token is a row of the last dimension; rows are walked on a contiguous
// copy of the input, so the output is contiguous.
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

constexpr const char* kQuantizeOp = "quantized_decomposed::quantize_per_token";
constexpr const char* kDequantizeOp = "quantized_decomposed::dequantize_per_token";

int64_t token_length(const at::Tensor& input) { return input.dim() == 0 ? 1 : input.size(-1); }

at::Tensor quantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                              int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  check_quantize_per_token_args(kQuantizeOp, input, scales, zero_points, quant_min, quant_max, dtype);
  check_scale_values(kQuantizeOp, "scales", scales);
  check_zero_point_values(kQuantizeOp, zero_points, quant_min, quant_max);
  // input.mul(1.0 / scales).add(zero_points), with ATen's promotion (no upcast
  // of the input here, and 0-d operands promote differently).
  const Operand product = promote(operand(input), operand(scales));
  const Operand sum = promote(product, operand(zero_points));
  if (product.dtype != sum.dtype ||
      !has_quantize_loop(RoundingOrder::kAddThenRound, sum.dtype, input.scalar_type(), dtype)) {
    return quantize_per_token_expression(input, scales, zero_points, sum.dtype, quant_min, quant_max, dtype);
  }
  const at::Tensor src = input.contiguous();
  const at::Tensor out = at::empty(input.sizes(), input.options().dtype(dtype));
  quantize_channels(src, out, *compute_type(sum.dtype), {scales, sum.dtype, /*reciprocal=*/true},
                    {zero_points, sum.dtype}, num_tokens(input), token_length(input), RoundingOrder::kAddThenRound,
                    quant_min, quant_max);
  return out;
}

at::Tensor dequantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                at::ScalarType output_dtype) {
  check_dequantize_per_token_args(kDequantizeOp, input, scales, zero_points, quant_min, quant_max, dtype,
                                  output_dtype);
  check_scale_values(kDequantizeOp, "scales", scales);
  check_zero_point_values(kDequantizeOp, zero_points, quant_min, quant_max);
  // ((input - zero_points) * scales).to(output_dtype)
  const Operand difference = promote(operand(input), operand(zero_points));
  const Operand product = promote(difference, operand(scales));
  const auto difference_kind = difference_type(input.scalar_type(), difference.dtype);
  if (!has_dequantize_loop(difference_kind, product.dtype, input.scalar_type(), output_dtype)) {
    return dequantize_per_token_expression(input, scales, zero_points, output_dtype);
  }
  const at::Tensor src = input.contiguous();
  const at::Tensor out = at::empty(input.sizes(), input.options().dtype(output_dtype));
  const LoopParam zp{zero_points, *difference_kind == DifferenceType::kInteger ? at::kInt : difference.dtype};
  dequantize_channels(src, out, *compute_type(product.dtype), {scales, product.dtype}, *difference_kind, zp,
                      num_tokens(input), token_length(input));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("quantize_per_token", TORCH_FN(quantize_per_token));
  m.impl("dequantize_per_token", TORCH_FN(dequantize_per_token));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
