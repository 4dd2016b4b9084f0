// torch_pt2e::per_channel_aminmax(input, axis): the minimum and maximum of
// every slice input.select(axis, c), as float32 tensors of size
// input.size(axis). This is the statistic of upstream's per-channel
// observers, whose forward computes it as
//   aminmax(flatten(input.permute(<swap 0 and axis>).to(float32), 1), dim=1);
// NaN in a slice makes both its minimum and maximum NaN.
#pragma once

#include <cstdint>
#include <tuple>

#include <ATen/core/Tensor.h>

namespace torch_pt2e {
namespace kernels {

// Checks shared by every device: a floating input with at least 2 dims
// (upstream flattens the dims after the channel), no zero-size dims, axis in
// range. Returns the axis made non-negative.
int64_t check_per_channel_aminmax_args(const at::Tensor& input, int64_t axis);

// Upstream's tensor expression, for any device and dtype (the
// CompositeExplicitAutograd kernel, and the CPU kernel's fallback for inputs
// its loops do not cover).
std::tuple<at::Tensor, at::Tensor> per_channel_aminmax_reference(const at::Tensor& input, int64_t axis);

}  // namespace kernels
}  // namespace torch_pt2e
