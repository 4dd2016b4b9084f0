#include "kernels/per_channel_minmax.h"

#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace kernels {

int64_t check_per_channel_aminmax_args(const at::Tensor& input, int64_t axis) {
  constexpr const char* op = "torch_pt2e::per_channel_aminmax";
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), op, ": input must be a floating-point tensor, got ",
              input.scalar_type());
  TORCH_CHECK(input.dim() >= 2, op, ": input must have at least 2 dimensions (the channel axis and the ones "
              "flattened into each channel), got a ", input.dim(), "-d input of shape ", input.sizes());
  TORCH_CHECK(input.numel() > 0, op, ": input must not be empty, got shape ", input.sizes());
  return check_axis(op, axis, input.dim());
}

std::tuple<at::Tensor, at::Tensor> per_channel_aminmax_reference(const at::Tensor& input, int64_t axis) {
  const int64_t dim = check_per_channel_aminmax_args(input, axis);
  std::vector<int64_t> order(input.dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[0], order[dim]);
  const at::Tensor rows = at::flatten(input.permute(order).to(at::kFloat), 1);
  return at::aminmax(rows, 1);
}

}  // namespace kernels
}  // namespace torch_pt2e
