// Reading the values of small CPU tensors (quantization parameters) with
// plain C++ loops. Each ATen op costs microseconds of fixed overhead
// (dispatch, TensorIterator, allocation) whatever the size, which dominates
// the checks and parameter preparation of an op on a few dozen values; a
// loop over the elements costs nanoseconds. Callers keep their ATen
// expression for what these helpers do not read (other devices, rare
// dtypes, large tensors) and for building error messages.
#pragma once

#include <cstdint>
#include <utility>

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <c10/util/SmallVector.h>

namespace torch_pt2e {
namespace kernels {

// Above this many elements ATen's vectorized, multi-threaded ops are as
// cheap as a scalar loop, and the CPU kernels' parameter layouts never
// expand per-entry values (cpu_kernel_utils.cpp), so callers keep ATen.
constexpr int64_t kMaxHostLoopElements = int64_t{1} << 16;

// Whether visit_host_values can read t: a strided CPU tensor with storage of
// a real dtype (uint8, int8, int16, int32, int64, float16, bfloat16, float32,
// float64), no lazy negation, at most kMaxHostLoopElements elements.
inline bool host_readable(const at::Tensor& t) {
  if (!t.defined() || !t.is_cpu() || t.layout() != at::kStrided || !t.has_storage() || t.is_neg() ||
      t._is_zerotensor() || t.numel() > kMaxHostLoopElements) {
    return false;
  }
  switch (t.scalar_type()) {
    case at::kByte:
    case at::kChar:
    case at::kShort:
    case at::kInt:
    case at::kLong:
    case at::kHalf:
    case at::kBFloat16:
    case at::kFloat:
    case at::kDouble:
      return true;
    default:
      return false;
  }
}

namespace detail {

// fn(i, value) for the elements of t in row-major order (any strides).
template <typename T, typename Fn>
void for_each_element(const at::Tensor& t, Fn& fn) {
  const T* data = t.data_ptr<T>();
  const int64_t n = t.numel();
  if (t.is_contiguous()) {
    for (int64_t i = 0; i < n; ++i) fn(i, data[i]);
    return;
  }
  const int64_t dims = t.dim();
  const auto sizes = t.sizes();
  const auto strides = t.strides();
  c10::SmallVector<int64_t, 6> index(static_cast<size_t>(dims), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < n; ++i) {
    fn(i, data[offset]);
    for (int64_t d = dims - 1; d >= 0; --d) {
      if (++index[d] < sizes[d]) {
        offset += strides[d];
        break;
      }
      offset -= (sizes[d] - 1) * strides[d];
      index[d] = 0;
    }
  }
}

}  // namespace detail

// Calls fn(int64_t i, value) for every element of t in row-major order (the
// order of t.reshape(-1)), value of the element's C++ type (uint8_t, ...,
// c10::Half, c10::BFloat16, float, double). Returns false, calling nothing,
// when !host_readable(t).
template <typename Fn>
bool visit_host_values(const at::Tensor& t, Fn&& fn) {
  if (!host_readable(t)) return false;
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, t.scalar_type(), "visit_host_values",
                             [&] { detail::for_each_element<scalar_t>(t, fn); });
  return true;
}

}  // namespace kernels
}  // namespace torch_pt2e
