#include "torch_pt2e_plugin/ops/per_token.h"

#include <ATen/ATen.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schemas (tests/ops/test_schemas.py compares).
constexpr const char* kQuantize =
    "quantize_per_token(Tensor input, Tensor scales, Tensor zero_points, int quant_min, int quant_max, "
    "ScalarType dtype) -> Tensor";
constexpr const char* kDequantize =
    "dequantize_per_token(Tensor input, Tensor scales, Tensor zero_points, int quant_min, int quant_max, "
    "ScalarType dtype, ScalarType output_dtype) -> Tensor";

// The CPU kernels return contiguous tensors of the input's shape.
at::Tensor quantize_meta(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                         int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  k::check_quantize_per_token_args("quantized_decomposed::quantize_per_token", input, scales, zero_points, quant_min,
                                   quant_max, dtype);
  return at::empty(input.sizes(), input.options().dtype(dtype));
}

at::Tensor dequantize_meta(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                           int64_t quant_min, int64_t quant_max, at::ScalarType dtype, at::ScalarType output_dtype) {
  k::check_dequantize_per_token_args("quantized_decomposed::dequantize_per_token", input, scales, zero_points,
                                     quant_min, quant_max, dtype, output_dtype);
  return at::empty(input.sizes(), input.options().dtype(output_dtype));
}

}  // namespace

OpFamily per_token_ops() {
  OpFamily family;
  family.name = "per_token";
  family.schemas = {kQuantize, kDequantize};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "quantize_per_token", c10::DispatchKey::Meta, TORCH_FN(quantize_meta));
    impl_if_defined(lib, defined, "dequantize_per_token", c10::DispatchKey::Meta, TORCH_FN(dequantize_meta));
  };
  return family;
}

at::Tensor quantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                              int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, at::ScalarType)>("quantized_decomposed::quantize_per_token", "");
  return op.call(input, scales, zero_points, quant_min, quant_max, dtype);
}

at::Tensor dequantize_per_token(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                at::ScalarType output_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, at::ScalarType, at::ScalarType)>(
      "quantized_decomposed::dequantize_per_token", "");
  return op.call(input, scales, zero_points, quant_min, quant_max, dtype, output_dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
