// CUDA kernels of quantize_per_channel_group / dequantize_per_channel_group:
// the CPU kernels' rules (kernels/cpu/per_channel_group_kernel.cpp), a 2-D
// input seen as rows of group_size elements, one scale and zero point per
// row; the output is contiguous. The quantize kernel also detects NaN inputs
// (upstream asserts there are none), so the host waits for it.
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

constexpr const char* kQuantizeGroupOp = "quantized_decomposed::quantize_per_channel_group";
constexpr const char* kDequantizeGroupOp = "quantized_decomposed::dequantize_per_channel_group";

// One value per group: a single value broadcasts to all of them.
at::Tensor per_group(const at::Tensor& loop_values, int64_t groups) { return loop_values.reshape({-1}).expand({groups}); }

at::Tensor quantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales_arg,
                                      const at::Tensor& zero_points_arg, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype, int64_t group_size) {
  check_floating_input(kQuantizeGroupOp, input);
  group_size = check_per_channel_group_args(kQuantizeGroupOp, input, scales_arg, zero_points_arg, group_size);
  check_quant_range(kQuantizeGroupOp, quant_min, quant_max, dtype);
  check_cuda_input(kQuantizeGroupOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kQuantizeGroupOp, "scales", scales_arg, input);
  const at::Tensor zero_points = on_input_device(kQuantizeGroupOp, "zero_points", zero_points_arg, input);
  DeviceFlag flag(kQuantizeGroupOp, input);
  queue_scale_checks(flag, kQuantizeGroupOp, "scales", scales);
  queue_zero_point_checks(flag, kQuantizeGroupOp, zero_points, quant_min, quant_max);

  // to_quant.mul(1.0 / scales).add(zero_points): [groups, group_size] with [groups, 1] operands.
  const Operand product = promote({input.scalar_type(), false}, {scales.scalar_type(), false});
  const Operand sum = promote(product, {zero_points.scalar_type(), false});
  const int64_t groups = input.numel() / group_size;
  at::Tensor out;
  bool scanned_for_nan = false;
  if (product.dtype != sum.dtype || !has_quantize_kernel(sum.dtype, input.scalar_type(), dtype)) {
    out = quantize_per_channel_group_expression(input, scales, zero_points, group_size, sum.dtype, quant_min,
                                                quant_max, dtype);
  } else {
    const at::Tensor src = input.contiguous();
    out = at::empty(input.sizes(), input.options().dtype(dtype));
    quantize_channels(src, out, sum.dtype, per_group(reciprocal_as_loop_values(scales, sum.dtype), groups),
                      per_group(as_loop_values(zero_points, sum.dtype), groups), groups, group_size,
                      /*add_then_round=*/true, quant_min, quant_max, flag.get());
    scanned_for_nan = true;
  }
  const int status = flag.result();
  if (status & kBadParameter) {
    check_scale_values(kQuantizeGroupOp, "scales", scales);
    check_zero_point_values(kQuantizeGroupOp, zero_points, quant_min, quant_max);
    TORCH_INTERNAL_ASSERT(false, kQuantizeGroupOp, ": a device-side check failed but the host check found nothing");
  }
  // The expression path has no NaN scan of its own (rare dtypes).
  check_no_nan(kQuantizeGroupOp, input,
               scanned_for_nan ? (status & kNanInput) != 0 : input.numel() > 0 && at::isnan(input).any().item<bool>());
  return out;
}

at::Tensor dequantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales_arg,
                                        const c10::optional<at::Tensor>& zero_points_arg, int64_t quant_min,
                                        int64_t quant_max, at::ScalarType dtype, int64_t group_size,
                                        at::ScalarType output_dtype) {
  check_dequantize_input(kDequantizeGroupOp, input, dtype, output_dtype);
  group_size = check_per_channel_group_args(kDequantizeGroupOp, input, scales_arg, zero_points_arg, group_size);
  check_quant_range(kDequantizeGroupOp, quant_min, quant_max, dtype);
  check_cuda_input(kDequantizeGroupOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const at::Tensor scales = on_input_device(kDequantizeGroupOp, "scales", scales_arg, input);
  const c10::optional<at::Tensor> zero_points =
      zero_points_arg ? c10::optional<at::Tensor>(on_input_device(kDequantizeGroupOp, "zero_points", *zero_points_arg, input))
                      : c10::nullopt;
  DeviceFlag flag(kDequantizeGroupOp, input);
  queue_scale_checks(flag, kDequantizeGroupOp, "scales", scales);
  if (zero_points) queue_zero_point_checks(flag, kDequantizeGroupOp, *zero_points, quant_min, quant_max);
  flag.queue_readback();

  // w.sub(zp).mul(scales); a missing zp is a 0-d int32 zero, which leaves the
  // input's dtype and values as they are.
  const Operand difference =
      zero_points ? promote({input.scalar_type(), false}, {zero_points->scalar_type(), false}) : operand(input);
  const Operand product = promote(difference, {scales.scalar_type(), false});
  const auto kind = zero_points ? difference_of(input.scalar_type(), difference.dtype)
                                : c10::optional<Difference>(Difference{true, at::kInt});
  const int64_t groups = input.numel() / group_size;
  at::Tensor out;
  if (!has_dequantize_kernel(kind, product.dtype, input.scalar_type(), output_dtype)) {
    out = dequantize_per_channel_group_expression(input, scales, zero_points, group_size, output_dtype);
  } else {
    const at::Tensor src = input.contiguous();
    out = at::empty(input.sizes(), input.options().dtype(output_dtype));
    const at::Tensor zp = !zero_points ? at::zeros({groups}, input.options().dtype(at::kInt))
                          : kind->integer ? per_group(zero_points->to(at::kInt), groups)
                                          : per_group(as_loop_values(*zero_points, difference.dtype), groups);
    dequantize_channels(src, out, product.dtype, per_group(as_loop_values(scales, product.dtype), groups), *kind, zp,
                        groups, group_size);
  }
  raise_if_failed(flag, kDequantizeGroupOp, [&] {
    check_scale_values(kDequantizeGroupOp, "scales", scales);
    if (zero_points) check_zero_point_values(kDequantizeGroupOp, *zero_points, quant_min, quant_max);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("quantize_per_channel_group", TORCH_FN(quantize_per_channel_group));
  m.impl("dequantize_per_channel_group", TORCH_FN(dequantize_per_channel_group));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
