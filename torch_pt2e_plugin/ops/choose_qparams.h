// choose_qparams.tensor, choose_qparams_symmetric.tensor (per tensor),
// choose_qparams_per_token, _choose_qparams_per_token_asymmetric_impl and
// choose_qparams_per_token_asymmetric (per row of the last dimension).
//
// C++ entry points call through the dispatcher (see per_tensor.h). Each
// returns (scales, zero_points); docs/numerics.md gives their dtypes.
#pragma once

#include <tuple>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily choose_qparams_ops();

std::tuple<at::Tensor, at::Tensor> choose_qparams(const at::Tensor& input, int64_t quant_min, int64_t quant_max,
                                                  double eps, at::ScalarType dtype);
std::tuple<at::Tensor, at::Tensor> choose_qparams_symmetric(const at::Tensor& input, int64_t quant_min,
                                                            int64_t quant_max, double eps, at::ScalarType dtype);
std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token(const at::Tensor& input, at::ScalarType dtype);
std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token_asymmetric(const at::Tensor& input,
                                                                       at::ScalarType dtype);

}  // namespace ops
}  // namespace torch_pt2e
