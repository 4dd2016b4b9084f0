// quantize_per_channel / dequantize_per_channel.
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

OpFamily per_channel_ops();

at::Tensor quantize_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t axis, int64_t quant_min, int64_t quant_max, at::ScalarType dtype);

at::Tensor dequantize_per_channel(const at::Tensor& input, const at::Tensor& scales,
                                  const c10::optional<at::Tensor>& zero_points, int64_t axis, int64_t quant_min,
                                  int64_t quant_max, at::ScalarType dtype,
                                  c10::optional<at::ScalarType> out_dtype = c10::nullopt);

}  // namespace ops
}  // namespace torch_pt2e
