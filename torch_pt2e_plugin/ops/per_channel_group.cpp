#include "torch_pt2e_plugin/ops/per_channel_group.h"

#include <ATen/ATen.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schemas (tests/ops/test_schemas.py compares).
constexpr const char* kQuantize =
    "quantize_per_channel_group(Tensor input, Tensor scales, Tensor zero_points, int quant_min, int quant_max, "
    "ScalarType dtype, int group_size) -> Tensor";
constexpr const char* kDequantize =
    "dequantize_per_channel_group(Tensor input, Tensor scales, Tensor? zero_points, int quant_min, "
    "int quant_max, ScalarType dtype, int group_size, ScalarType output_dtype) -> Tensor";

at::Tensor quantize_meta(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                         int64_t quant_min, int64_t quant_max, at::ScalarType dtype, int64_t group_size) {
  constexpr const char* op = "quantized_decomposed::quantize_per_channel_group";
  k::check_floating_input(op, input);
  k::check_per_channel_group_args(op, input, scales, zero_points, group_size);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  return at::empty(input.sizes(), input.options().dtype(dtype));
}

// Upstream registers no Meta kernel for this op; the plugin's matches its CPU kernel.
at::Tensor dequantize_meta(const at::Tensor& input, const at::Tensor& scales,
                           const c10::optional<at::Tensor>& zero_points, int64_t quant_min, int64_t quant_max,
                           at::ScalarType dtype, int64_t group_size, at::ScalarType output_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_channel_group";
  k::check_dequantize_input(op, input, dtype, output_dtype);
  k::check_per_channel_group_args(op, input, scales, zero_points, group_size);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  return at::empty(input.sizes(), input.options().dtype(output_dtype));
}

}  // namespace

OpFamily per_channel_group_ops() {
  OpFamily family;
  family.name = "per_channel_group";
  family.schemas = {kQuantize, kDequantize};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "quantize_per_channel_group", c10::DispatchKey::Meta, TORCH_FN(quantize_meta));
    impl_if_defined(lib, defined, "dequantize_per_channel_group", c10::DispatchKey::Meta, TORCH_FN(dequantize_meta));
  };
  return family;
}

at::Tensor quantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                      const at::Tensor& zero_points, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype, int64_t group_size) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, at::ScalarType, int64_t)>(
      "quantized_decomposed::quantize_per_channel_group", "");
  return op.call(input, scales, zero_points, quant_min, quant_max, dtype, group_size);
}

at::Tensor dequantize_per_channel_group(const at::Tensor& input, const at::Tensor& scales,
                                        const c10::optional<at::Tensor>& zero_points, int64_t quant_min,
                                        int64_t quant_max, at::ScalarType dtype, int64_t group_size,
                                        at::ScalarType output_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                                            int64_t, int64_t, at::ScalarType, int64_t, at::ScalarType)>(
      "quantized_decomposed::dequantize_per_channel_group", "");
  return op.call(input, scales, zero_points, quant_min, quant_max, dtype, group_size, output_dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
