#include "kernels/expressions.h"

#include <vector>

#include <ATen/ATen.h>

#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace {

// Per-channel parameters viewed to broadcast along `axis`.
at::Tensor along_axis(const at::Tensor& per_channel, const at::Tensor& input, int64_t axis) {
  std::vector<int64_t> shape(input.dim(), 1);
  shape[axis] = per_channel.numel();
  return per_channel.reshape(shape);
}

}  // namespace

at::Tensor quantize_per_tensor_expression(const at::Tensor& input, double scale, int64_t zero_point,
                                          int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  const float inv_scale = numerics::per_tensor_inv_scale(scale);
  return at::clamp(at::round(input.to(at::kFloat) * inv_scale) + zero_point, quant_min, quant_max).to(dtype);
}

at::Tensor dequantize_per_tensor_expression(const at::Tensor& input, double scale, int64_t zero_point,
                                            at::ScalarType out_dtype) {
  return (input.to(out_dtype) - zero_point) * scale;
}

at::Tensor quantize_per_channel_expression(const at::Tensor& input, const at::Tensor& scales,
                                           const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                           int64_t quant_max, at::ScalarType dtype) {
  const at::Tensor x = input.to(at::kFloat);
  const at::Tensor zp = along_axis(zero_points, x, axis);
  const at::Tensor unclamped = at::round(x * at::reciprocal(along_axis(scales, x, axis))) + zp;
  return finish_quantize_expression(unclamped, zp, quant_min, quant_max, dtype);
}

at::Tensor dequantize_per_channel_expression(const at::Tensor& input, const at::Tensor& scales,
                                             const c10::optional<at::Tensor>& zero_points, int64_t axis,
                                             at::ScalarType out_dtype) {
  const at::Tensor s = along_axis(scales, input, axis);
  const at::Tensor shifted = zero_points ? input - along_axis(*zero_points, input, axis) : input;
  return (shifted * s).to(out_dtype);
}

at::Tensor quantize_per_token_expression(const at::Tensor& input, const at::Tensor& scales,
                                         const at::Tensor& zero_points, at::ScalarType sum_dtype, int64_t quant_min,
                                         int64_t quant_max, at::ScalarType dtype) {
  const at::Tensor unclamped = input.mul(at::reciprocal(scales)).add(zero_points).round();
  return finish_quantize_expression(unclamped, at::round(zero_points.to(sum_dtype)), quant_min, quant_max, dtype);
}

at::Tensor dequantize_per_token_expression(const at::Tensor& input, const at::Tensor& scales,
                                           const at::Tensor& zero_points, at::ScalarType output_dtype) {
  return ((input - zero_points) * scales).to(output_dtype);
}

at::Tensor quantize_per_channel_group_expression(const at::Tensor& input, const at::Tensor& scales,
                                                 const at::Tensor& zero_points, int64_t group_size,
                                                 at::ScalarType sum_dtype, int64_t quant_min, int64_t quant_max,
                                                 at::ScalarType dtype) {
  const at::Tensor zp = zero_points.reshape({-1, 1});
  const at::Tensor unclamped =
      input.reshape({-1, group_size}).mul(at::reciprocal(scales.reshape({-1, 1}))).add(zp).round();
  return finish_quantize_expression(unclamped, at::round(zp.to(sum_dtype)), quant_min, quant_max, dtype)
      .reshape(input.sizes());
}

at::Tensor dequantize_per_channel_group_expression(const at::Tensor& input, const at::Tensor& scales,
                                                   const c10::optional<at::Tensor>& zero_points,
                                                   int64_t group_size, at::ScalarType output_dtype) {
  const at::Tensor grouped = input.reshape({-1, group_size});
  const at::Tensor zp = zero_points ? zero_points->reshape({-1, 1}) : at::zeros({}, input.options().dtype(at::kInt));
  return grouped.sub(zp).mul(scales.reshape({-1, 1})).reshape(input.sizes()).to(output_dtype);
}

}  // namespace kernels
}  // namespace torch_pt2e
