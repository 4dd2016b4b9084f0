// Calls a generic lambda with a value of the C++ type of a runtime dtype: the
// one switch from at::ScalarType to the element types the CUDA loops are
// instantiated for. Each returns false (calling nothing) for other dtypes.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>
#include <torch/version.h>

#define TORCH_PT2E_CUDA_HAS_UINT16 ((TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2)

namespace torch_pt2e {
namespace kernels {
namespace cuda {

// The integer dtypes of quantized values.
template <typename Fn>
bool with_quant_type(at::ScalarType dtype, const Fn& fn) {
  switch (dtype) {
    case at::kByte:
      fn(uint8_t());
      return true;
    case at::kChar:
      fn(int8_t());
      return true;
    case at::kShort:
      fn(int16_t());
      return true;
    case at::kInt:
      fn(int32_t());
      return true;
#if TORCH_PT2E_CUDA_HAS_UINT16
    case at::ScalarType::UInt16:
      fn(uint16_t());
      return true;
#endif
    default:
      return false;
  }
}

// The floating dtypes of inputs and outputs.
template <typename Fn>
bool with_float_type(at::ScalarType dtype, const Fn& fn) {
  switch (dtype) {
    case at::kFloat:
      fn(float());
      return true;
    case at::kDouble:
      fn(double());
      return true;
    case at::kHalf:
      fn(c10::Half());
      return true;
    case at::kBFloat16:
      fn(c10::BFloat16());
      return true;
    default:
      return false;
  }
}

inline bool is_quant_type(at::ScalarType dtype) {
  return with_quant_type(dtype, [](auto) {});
}
inline bool is_float_type(at::ScalarType dtype) {
  return with_float_type(dtype, [](auto) {});
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
