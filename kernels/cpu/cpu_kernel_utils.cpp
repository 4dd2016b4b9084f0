#include "kernels/cpu/cpu_kernel_utils.h"

#include <cmath>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

c10::optional<FloatType> float_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return FloatType::kFloat;
    case at::kHalf:
      return FloatType::kHalf;
    case at::kBFloat16:
      return FloatType::kBFloat16;
    case at::kDouble:
      return FloatType::kDouble;
    default:
      return c10::nullopt;
  }
}

c10::optional<QuantType> quant_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kByte:
      return QuantType::kUInt8;
    case at::kChar:
      return QuantType::kInt8;
    case at::kShort:
      return QuantType::kInt16;
    case at::kInt:
      return QuantType::kInt32;
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
    case at::ScalarType::UInt16:
      return QuantType::kUInt16;
#endif
    default:
      return c10::nullopt;
  }
}

at::Tensor dense(const at::Tensor& t) { return t.is_non_overlapping_and_dense() ? t : t.contiguous(); }

double read_scale(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  return value.item<double>();
}

int64_t read_integer(const char* op, const char* name, const at::Tensor& value) {
  check_single_element(op, name, value);
  if (at::isFloatingType(value.scalar_type())) {
    const double v = value.item<double>();
    TORCH_CHECK(std::isfinite(v) && v == std::nearbyint(v) && std::fabs(v) < 9.2e18, op, ": ", name,
                " must hold an integer value, got ", v);
    return static_cast<int64_t>(v);
  }
  return value.item<int64_t>();
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
