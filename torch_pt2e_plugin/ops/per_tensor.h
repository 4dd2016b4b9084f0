// quantize_per_tensor / dequantize_per_tensor (default, .tensor, .tensor2).
//
// C++ entry points call through the dispatcher, so they reach whichever
// kernel is registered for the input's device (this plugin's CPU and CUDA
// kernels, Meta for shape inference).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily per_tensor_ops();

at::Tensor quantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                               int64_t quant_max, at::ScalarType dtype);
at::Tensor quantize_per_tensor(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                               int64_t quant_min, int64_t quant_max, at::ScalarType dtype);

at::Tensor dequantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, at::ScalarType dtype,
                                 c10::optional<at::ScalarType> out_dtype = c10::nullopt);
at::Tensor dequantize_per_tensor(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                 int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                 c10::optional<at::ScalarType> out_dtype = c10::nullopt);

}  // namespace ops
}  // namespace torch_pt2e
