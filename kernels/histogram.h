// torch_pt2e::histc_with_extrema(input, bins, min, max): torch.histc(input,
// bins, min, max) together with what HistogramObserver's forward needs from
// the same input: the minimum and maximum of its finite values (+inf/-inf
// when there are none, in the input's dtype) and whether it holds NaN or
// +-inf. The CPU kernel reads the input once.
//
// The range must be finite with min < max (torch.histc itself widens an empty
// range and takes min == max from the data; callers use it for that case).
// The counts equal torch.histc's as long as no bin receives more than 2^24
// values (torch.histc counts in float32, per thread). NaN is not counted, as
// in torch 2.x (torch 1.13's histc puts NaN in the first bin).
#pragma once

#include <cstdint>
#include <tuple>

#include <ATen/core/Tensor.h>

namespace torch_pt2e {
namespace kernels {

void check_histc_with_extrema_args(const at::Tensor& input, int64_t bins, double min, double max);

// torch.histc and aminmax over the finite values: several passes, any device
// and floating dtype (the CompositeExplicitAutograd kernel, and the CPU
// kernel's fallback).
std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool> histc_with_extrema_reference(const at::Tensor& input,
                                                                                         int64_t bins, double min,
                                                                                         double max);

}  // namespace kernels
}  // namespace torch_pt2e
