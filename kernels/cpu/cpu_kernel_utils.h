// Helpers shared by the ATen-facing CPU kernels: dtype mapping to the loop
// tables, reading tensor quantization parameters, and running a loop over
// the memory of a tensor on all threads.
#pragma once

#include <cstdint>

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "kernels/cpu/loops.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Elements per parallel task: large enough to hide the thread start-up cost.
constexpr int64_t kParallelGrain = 1 << 15;

c10::optional<FloatType> float_type(at::ScalarType dtype);
c10::optional<QuantType> quant_type(at::ScalarType dtype);

// The same tensor if its elements occupy one dense block of memory (any
// dimension order, e.g. channels-last), else a contiguous copy. Element-wise
// loops then walk the block in memory order, and `empty_like` outputs get
// the same layout, as upstream's element-wise ops produce.
at::Tensor dense(const at::Tensor& t);

// `tensor.item()` of a one-element scale, checked to be one element.
double read_scale(const char* op, const char* name, const at::Tensor& value);

// `tensor.item()` of a one-element integer parameter (zero point, bound).
// Floating tensors are accepted when they hold an integral value.
int64_t read_integer(const char* op, const char* name, const at::Tensor& value);

// Runs fn(begin, end) over [0, n) on ATen's intra-op thread pool.
template <typename Fn>
void parallel_over(int64_t n, const Fn& fn) {
  at::parallel_for(0, n, kParallelGrain, fn);
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
