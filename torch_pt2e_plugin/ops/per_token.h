// quantize_per_token / dequantize_per_token: one scale and zero point per
// row of the last dimension.
//
// C++ entry points call through the dispatcher (see per_tensor.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily per_token_ops();

at::Tensor quantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                              int64_t quant_min, int64_t quant_max, at::ScalarType dtype);

at::Tensor dequantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                at::ScalarType output_dtype);

}  // namespace ops
}  // namespace torch_pt2e
