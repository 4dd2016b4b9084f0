// fake_quant_per_channel: quantize then dequantize per channel in float32,
// with a straight-through gradient (grad * (quant_min <= t <= quant_max)).
//
// Where the plugin defines the op (no Python definition, e.g. torch 1.x or a
// C++ program) it registers its own Autograd kernel, which calls
// torch_pt2e::fake_quant_per_channel_forward to get the output and the
// gradient mask in one pass. With torch 2.x's Python definition, upstream's
// Autograd kernel runs and the plugin's CPU kernel serves below autograd.
#pragma once

#include <tuple>

#include <ATen/core/Tensor.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

// quantized_decomposed::fake_quant_per_channel.
OpFamily fake_quant_ops();
// torch_pt2e::fake_quant_per_channel_forward (the plugin's own namespace).
OpFamily fake_quant_forward_ops();

at::Tensor fake_quant_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                  int64_t axis, int64_t quant_min, int64_t quant_max);

// (output, mask): the forward of fake_quant_per_channel and its gradient mask.
std::tuple<at::Tensor, at::Tensor> fake_quant_per_channel_forward(const at::Tensor& input, const at::Tensor& scales,
                                                                  const at::Tensor& zero_points, int64_t axis,
                                                                  int64_t quant_min, int64_t quant_max);

}  // namespace ops
}  // namespace torch_pt2e
