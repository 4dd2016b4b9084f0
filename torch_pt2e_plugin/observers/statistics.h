// What the observers' forward records: each function updates an observer's
// state tensors in place from one input, reproducing the forward of the
// upstream observer named in its comment (torch/ao/quantization/observer.py,
// torch 2.6) step by step, with the same ATen operations in the same order,
// so the state is bit-identical to upstream's. Empty inputs change nothing.
// The inputs are never modified and never recorded by autograd.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace torch_pt2e {
namespace observers {

// MinMaxObserver: running min/max (0-d float32 tensors, initially +inf/-inf).
void update_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val);

// MovingAverageMinMaxObserver: the first input sets min/max, later ones move
// them by averaging_constant * (current - running).
void update_moving_average_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val,
                                   double averaging_constant);

// PerChannelMinMaxObserver: running per-channel min/max along ch_axis
// (negative counts from the end); the state starts empty and is resized to
// the number of channels by the first input.
void update_per_channel_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val,
                                int64_t ch_axis);

// MovingAveragePerChannelMinMaxObserver.
void update_moving_average_per_channel_min_max(const at::Tensor& input, const at::Tensor& min_val,
                                               const at::Tensor& max_val, int64_t ch_axis,
                                               double averaging_constant);

// HistogramObserver (torch 2.6's algorithm): +-inf values are dropped; the
// first input sets the range and the histogram; a wider range re-buckets the
// old histogram (upsampled by upsample_rate) into the new one.
void update_histogram(const at::Tensor& input, const at::Tensor& histogram, const at::Tensor& min_val,
                      const at::Tensor& max_val, int64_t bins, int64_t upsample_rate);

}  // namespace observers
}  // namespace torch_pt2e
