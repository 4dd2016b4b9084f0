// CUDA kernels of quantize_per_token / dequantize_per_token: the CPU
// kernels' dtype rules (kernels/cpu/per_token_kernel.cpp), one token per row
// of the last dimension of a contiguous copy; the output is contiguous.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cuda/cuda_kernel_utils.h"
#include "kernels/expressions.h"
#include "kernels/kernel_utils.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

constexpr const char* kQuantizeTokenOp = "quantized_decomposed::quantize_per_token";
constexpr const char* kDequantizeTokenOp = "quantized_decomposed::dequantize_per_token";

at::Tensor quantize_per_token(const at::Tensor& input, const at::Tensor& scales_arg, const at::Tensor& zero_points_arg,
                              int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  check_quantize_per_token_args(kQuantizeTokenOp, input, scales_arg, zero_points_arg, quant_min, quant_max, dtype);
  check_cuda_input(kQuantizeTokenOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kQuantizeTokenOp, "scales", scales_arg, input);
  const at::Tensor zero_points = on_input_device(kQuantizeTokenOp, "zero_points", zero_points_arg, input);
  DeviceFlag flag(kQuantizeTokenOp, input);
  queue_scale_checks(flag, kQuantizeTokenOp, "scales", scales);
  queue_zero_point_checks(flag, kQuantizeTokenOp, zero_points, quant_min, quant_max);
  flag.queue_readback();

  // input.mul(1.0 / scales).add(zero_points), with ATen's promotion (no
  // upcast of the input here, and 0-d operands promote differently).
  const Operand product = promote(operand(input), operand(scales));
  const Operand sum = promote(product, operand(zero_points));
  at::Tensor out;
  if (product.dtype != sum.dtype || !has_quantize_kernel(sum.dtype, input.scalar_type(), dtype)) {
    out = quantize_per_token_expression(input, scales, zero_points, sum.dtype, quant_min, quant_max, dtype);
  } else {
    const at::Tensor src = input.contiguous();
    out = at::empty(input.sizes(), input.options().dtype(dtype));
    quantize_channels(src, out, sum.dtype, reciprocal_as_loop_values(scales.reshape({-1}), sum.dtype),
                      as_loop_values(zero_points.reshape({-1}), sum.dtype), num_tokens(input), token_length(input),
                      /*add_then_round=*/true, quant_min, quant_max, nullptr);
  }
  raise_if_failed(flag, kQuantizeTokenOp, [&] {
    check_scale_values(kQuantizeTokenOp, "scales", scales);
    check_zero_point_values(kQuantizeTokenOp, zero_points, quant_min, quant_max);
  });
  return out;
}

at::Tensor dequantize_per_token(const at::Tensor& input, const at::Tensor& scales_arg,
                                const at::Tensor& zero_points_arg, int64_t quant_min, int64_t quant_max,
                                at::ScalarType dtype, at::ScalarType output_dtype) {
  check_dequantize_per_token_args(kDequantizeTokenOp, input, scales_arg, zero_points_arg, quant_min, quant_max, dtype,
                                  output_dtype);
  check_cuda_input(kDequantizeTokenOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kDequantizeTokenOp, "scales", scales_arg, input);
  const at::Tensor zero_points = on_input_device(kDequantizeTokenOp, "zero_points", zero_points_arg, input);
  DeviceFlag flag(kDequantizeTokenOp, input);
  queue_scale_checks(flag, kDequantizeTokenOp, "scales", scales);
  queue_zero_point_checks(flag, kDequantizeTokenOp, zero_points, quant_min, quant_max);
  flag.queue_readback();

  // ((input - zero_points) * scales).to(output_dtype)
  const Operand difference = promote(operand(input), operand(zero_points));
  const Operand product = promote(difference, operand(scales));
  const auto kind = difference_of(input.scalar_type(), difference.dtype);
  at::Tensor out;
  if (!has_dequantize_kernel(kind, product.dtype, input.scalar_type(), output_dtype)) {
    out = dequantize_per_token_expression(input, scales, zero_points, output_dtype);
  } else {
    const at::Tensor src = input.contiguous();
    out = at::empty(input.sizes(), input.options().dtype(output_dtype));
    const at::Tensor zp = kind->integer ? zero_points.reshape({-1}).to(at::kInt)
                                        : as_loop_values(zero_points.reshape({-1}), difference.dtype);
    dequantize_channels(src, out, product.dtype, as_loop_values(scales.reshape({-1}), product.dtype), *kind, zp,
                        num_tokens(input), token_length(input));
  }
  raise_if_failed(flag, kDequantizeTokenOp, [&] {
    check_scale_values(kDequantizeTokenOp, "scales", scales);
    check_zero_point_values(kDequantizeTokenOp, zero_points, quant_min, quant_max);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("quantize_per_token", TORCH_FN(quantize_per_token));
  m.impl("dequantize_per_token", TORCH_FN(dequantize_per_token));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
