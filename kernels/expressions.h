// Upstream's tensor expressions of the quantize/dequantize ops, evaluated
// with ATen ops on the input's device. The kernels use them for the rare
// dtype combinations that have no dedicated loop (float8 outputs, mixed
// float zero-point dtypes, narrow integer differences, ...): the result is
// then exactly upstream's, on every device. Arguments are already checked.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

namespace torch_pt2e {
namespace kernels {

at::Tensor quantize_per_tensor_expression(const at::Tensor& input, double scale, int64_t zero_point,
                                          int64_t quant_min, int64_t quant_max, at::ScalarType dtype);
at::Tensor dequantize_per_tensor_expression(const at::Tensor& input, double scale, int64_t zero_point,
                                            at::ScalarType out_dtype);

at::Tensor quantize_per_channel_expression(const at::Tensor& input, const at::Tensor& scales,
                                           const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                           int64_t quant_max, at::ScalarType dtype);
at::Tensor dequantize_per_channel_expression(const at::Tensor& input, const at::Tensor& scales,
                                             const c10::optional<at::Tensor>& zero_points, int64_t axis,
                                             at::ScalarType out_dtype);

// `sum_dtype`: the promoted dtype of input * (1 / scales) + zero_points.
at::Tensor quantize_per_token_expression(const at::Tensor& input, const at::Tensor& scales,
                                         const at::Tensor& zero_points, at::ScalarType sum_dtype, int64_t quant_min,
                                         int64_t quant_max, at::ScalarType dtype);
at::Tensor dequantize_per_token_expression(const at::Tensor& input, const at::Tensor& scales,
                                           const at::Tensor& zero_points, at::ScalarType output_dtype);

at::Tensor quantize_per_channel_group_expression(const at::Tensor& input, const at::Tensor& scales,
                                                 const at::Tensor& zero_points, int64_t group_size,
                                                 at::ScalarType sum_dtype, int64_t quant_min, int64_t quant_max,
                                                 at::ScalarType dtype);
at::Tensor dequantize_per_channel_group_expression(const at::Tensor& input, const at::Tensor& scales,
                                                   const c10::optional<at::Tensor>& zero_points,
                                                   int64_t group_size, at::ScalarType output_dtype);

}  // namespace kernels
}  // namespace torch_pt2e
