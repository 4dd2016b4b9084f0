// quantize_per_channel_group / dequantize_per_channel_group: a 2-D input
// whose rows are split into groups of group_size elements, one scale and
// zero point per group.
//
// C++ entry points call through the dispatcher (see per_tensor.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily per_channel_group_ops();

at::Tensor quantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                      const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype, int64_t group_size);

at::Tensor dequantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                        const c10::optional<at::Tensor>& zero_points, int64_t quant_min,
                                        int64_t quant_max, at::ScalarType dtype, int64_t group_size,
                                        at::ScalarType output_dtype);

}  // namespace ops
}  // namespace torch_pt2e
