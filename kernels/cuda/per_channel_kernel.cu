// CUDA kernels of quantize_per_channel / dequantize_per_channel: the CPU
// kernels' dtype rules and layouts (kernels/cpu/per_channel_kernel.cpp), with
// the element loop of kernels/cuda/loops.cuh. The input is walked in memory
// order (contiguous, channels-last or any dense layout) and the output gets
// its strides.
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

constexpr const char* kQuantizeChannelOp = "quantized_decomposed::quantize_per_channel";
constexpr const char* kDequantizeChannelOp = "quantized_decomposed::dequantize_per_channel";

at::Tensor quantize_per_channel(const at::Tensor& input, const at::Tensor& scales_arg,
                                const at::Tensor& zero_points_arg, int64_t axis, int64_t quant_min, int64_t quant_max,
                                at::ScalarType dtype) {
  axis = check_quantize_per_channel_args(kQuantizeChannelOp, input, scales_arg, zero_points_arg, axis, quant_min, quant_max,
                                         dtype);
  check_cuda_input(kQuantizeChannelOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kQuantizeChannelOp, "scales", scales_arg, input);
  const at::Tensor zero_points = on_input_device(kQuantizeChannelOp, "zero_points", zero_points_arg, input);
  DeviceFlag flag(kQuantizeChannelOp, input);
  queue_scale_checks(flag, kQuantizeChannelOp, "scales", scales);
  queue_zero_point_checks(flag, kQuantizeChannelOp, zero_points, quant_min, quant_max);
  flag.queue_readback();

  // input (upcast to float32) * (1.0 / scales), then + zero_points: the
  // product's dtype must be the sum's for one compute type to do both.
  const Operand product = promote({at::kFloat, false}, {scales.scalar_type(), false});
  const Operand sum = promote(product, {zero_points.scalar_type(), false});
  at::Tensor out;
  if (product.dtype != sum.dtype || !has_quantize_kernel(sum.dtype, input.scalar_type(), dtype)) {
    out = quantize_per_channel_expression(input, scales, zero_points, axis, quant_min, quant_max, dtype);
  } else {
    const at::Tensor src = dense(input);
    out = at::empty_like(src, src.options().dtype(dtype));
    quantize_channels(src, out, sum.dtype, reciprocal_as_loop_values(scales, sum.dtype),
                      as_loop_values(zero_points, sum.dtype), src.size(axis), channel_run(src, axis),
                      /*add_then_round=*/false, quant_min, quant_max, nullptr);
  }
  raise_if_failed(flag, kQuantizeChannelOp, [&] {
    check_scale_values(kQuantizeChannelOp, "scales", scales);
    check_zero_point_values(kQuantizeChannelOp, zero_points, quant_min, quant_max);
  });
  return out;
}

at::Tensor dequantize_per_channel(const at::Tensor& input, const at::Tensor& scales_arg,
                                  const c10::optional<at::Tensor>& zero_points_arg, int64_t axis, int64_t quant_min,
                                  int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  const at::ScalarType out_scalar_type = out_dtype.value_or(at::kFloat);
  axis = check_dequantize_per_channel_args(kDequantizeChannelOp, input, scales_arg, zero_points_arg, axis, quant_min,
                                           quant_max, dtype, out_scalar_type);
  check_cuda_input(kDequantizeChannelOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kDequantizeChannelOp, "scales", scales_arg, input);
  const c10::optional<at::Tensor> zero_points =
      zero_points_arg ? c10::optional<at::Tensor>(on_input_device(kDequantizeChannelOp, "zero_points", *zero_points_arg, input))
                      : c10::nullopt;
  DeviceFlag flag(kDequantizeChannelOp, input);
  queue_scale_checks(flag, kDequantizeChannelOp, "scales", scales);
  if (zero_points) queue_zero_point_checks(flag, kDequantizeChannelOp, *zero_points, quant_min, quant_max);
  flag.queue_readback();

  // (input - zero_points) * scales, or input * scales: every operand is dimensioned.
  const Operand difference =
      zero_points ? promote({input.scalar_type(), false}, {zero_points->scalar_type(), false}) : operand(input);
  const Operand product = promote(difference, {scales.scalar_type(), false});
  const auto kind = zero_points ? difference_of(input.scalar_type(), difference.dtype)
                                : c10::optional<Difference>(Difference{true, at::kInt});
  at::Tensor out;
  if (!has_dequantize_kernel(kind, product.dtype, input.scalar_type(), out_scalar_type)) {
    out = dequantize_per_channel_expression(input, scales, zero_points, axis, out_scalar_type);
  } else {
    const at::Tensor src = dense(input);
    out = at::empty_like(src, src.options().dtype(out_scalar_type));
    const at::Tensor zp = !zero_points ? at::zeros({scales.numel()}, scales.options().dtype(at::kInt))
                          : kind->integer ? zero_points->to(at::kInt)
                                          : as_loop_values(*zero_points, difference.dtype);
    dequantize_channels(src, out, product.dtype, as_loop_values(scales, product.dtype), *kind, zp, src.size(axis),
                        channel_run(src, axis));
  }
  raise_if_failed(flag, kDequantizeChannelOp, [&] {
    check_scale_values(kDequantizeChannelOp, "scales", scales);
    if (zero_points) check_zero_point_values(kDequantizeChannelOp, *zero_points, quant_min, quant_max);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("quantize_per_channel", TORCH_FN(quantize_per_channel));
  m.impl("dequantize_per_channel", TORCH_FN(dequantize_per_channel));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
