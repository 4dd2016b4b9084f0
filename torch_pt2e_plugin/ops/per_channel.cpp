#include "torch_pt2e_plugin/ops/per_channel.h"

#include <ATen/ATen.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schemas (tests/ops/test_schemas.py compares).
constexpr const char* kQuantize =
    "quantize_per_channel(Tensor input, Tensor scales, Tensor zero_points, int axis, int quant_min, "
    "int quant_max, ScalarType dtype) -> Tensor";
constexpr const char* kDequantize =
    "dequantize_per_channel(Tensor input, Tensor scales, Tensor? zero_points, int axis, int quant_min, "
    "int quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor";

at::Tensor quantize_meta(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                         int64_t axis, int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  k::check_quantize_per_channel_args("quantized_decomposed::quantize_per_channel", input, scales, zero_points, axis,
                                     quant_min, quant_max, dtype);
  return at::empty_like(input, input.options().dtype(dtype));
}

at::Tensor dequantize_meta(const at::Tensor& input, const at::Tensor& scales,
                           const c10::optional<at::Tensor>& zero_points, int64_t axis, int64_t quant_min,
                           int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  const auto out = out_dtype.value_or(at::kFloat);
  k::check_dequantize_per_channel_args("quantized_decomposed::dequantize_per_channel", input, scales, zero_points,
                                       axis, quant_min, quant_max, dtype, out);
  return at::empty_like(input, input.options().dtype(out));
}

}  // namespace

OpFamily per_channel_ops() {
  OpFamily family;
  family.name = "per_channel";
  family.schemas = {kQuantize, kDequantize};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "quantize_per_channel", c10::DispatchKey::Meta, TORCH_FN(quantize_meta));
    impl_if_defined(lib, defined, "dequantize_per_channel", c10::DispatchKey::Meta, TORCH_FN(dequantize_meta));
  };
  return family;
}

at::Tensor quantize_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                int64_t axis, int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, int64_t, at::ScalarType)>(
      "quantized_decomposed::quantize_per_channel", "");
  return op.call(input, scales, zero_points, axis, quant_min, quant_max, dtype);
}

at::Tensor dequantize_per_channel(const at::Tensor& input, const at::Tensor& scales,
                                  const c10::optional<at::Tensor>& zero_points, int64_t axis, int64_t quant_min,
                                  int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, int64_t, int64_t,
                         int64_t, at::ScalarType, c10::optional<at::ScalarType>)>(
          "quantized_decomposed::dequantize_per_channel", "");
  return op.call(input, scales, zero_points, axis, quant_min, quant_max, dtype, out_dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
