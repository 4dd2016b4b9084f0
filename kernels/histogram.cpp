#include "kernels/histogram.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace torch_pt2e {
namespace kernels {

void check_histc_with_extrema_args(const at::Tensor& input, int64_t bins, double min, double max) {
  constexpr const char* op = "torch_pt2e::histc_with_extrema";
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op, ": input must be a floating-point tensor, got ",
              input.scalar_type());
  TORCH_CHECK(bins >= 1, op, ": bins must be >= 1, got ", bins);
  TORCH_CHECK(std::isfinite(min) && std::isfinite(max) && min < max, op,
              ": the range must be finite with min < max, got [", min, ", ", max, "]");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool> histc_with_extrema_reference(const at::Tensor& input,
                                                                                         int64_t bins, double min,
                                                                                         double max) {
  check_histc_with_extrema_args(input, bins, min, max);
  const at::Tensor hist = at::histc(input, bins, min, max);
  const bool has_nan = at::isnan(input).any().item<bool>();
  const bool has_inf = at::isinf(input).any().item<bool>();
  const at::Tensor finite = input.masked_select(at::isfinite(input));
  if (finite.numel() == 0) {
    const double inf = std::numeric_limits<double>::infinity();
    return std::make_tuple(hist, at::scalar_tensor(inf, input.options()), at::scalar_tensor(-inf, input.options()),
                           has_nan, has_inf);
  }
  at::Tensor lo, hi;
  std::tie(lo, hi) = at::aminmax(finite);
  return std::make_tuple(hist, lo, hi, has_nan, has_inf);
}

}  // namespace kernels
}  // namespace torch_pt2e
