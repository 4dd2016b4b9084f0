#include "torch_pt2e_plugin/ops/per_tensor.h"

#include <ATen/ATen.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schemas (tests/ops/test_schemas.py compares).
constexpr const char* kQuantize =
    "quantize_per_tensor(Tensor input, float scale, int zero_point, int quant_min, int quant_max, "
    "ScalarType dtype) -> Tensor";
constexpr const char* kQuantizeTensor =
    "quantize_per_tensor.tensor(Tensor input, Tensor scale, Tensor zero_point, int quant_min, int quant_max, "
    "ScalarType dtype) -> Tensor";
constexpr const char* kQuantizeTensor2 =
    "quantize_per_tensor.tensor2(Tensor input, Tensor scale, Tensor zero_point, Tensor quant_min, "
    "Tensor quant_max, ScalarType dtype) -> Tensor";
constexpr const char* kDequantize =
    "dequantize_per_tensor(Tensor input, float scale, int zero_point, int quant_min, int quant_max, "
    "ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor";
constexpr const char* kDequantizeTensor =
    "dequantize_per_tensor.tensor(Tensor input, Tensor scale, Tensor zero_point, int quant_min, int quant_max, "
    "ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor";
constexpr const char* kDequantizeTensor2 =
    "dequantize_per_tensor.tensor2(Tensor input, Tensor scale, Tensor zero_point, Tensor quant_min, "
    "Tensor quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor";

// ---- Meta kernels: every check that does not need tensor data ---------------

at::Tensor quantize_meta(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                         int64_t quant_max, at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::quantize_per_tensor";
  k::check_quantize_input(op, input);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  k::check_scale(op, scale);
  k::check_zero_point(op, zero_point, quant_min, quant_max);
  return at::empty_like(input, input.options().dtype(dtype));
}

at::Tensor quantize_tensor_meta(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::quantize_per_tensor.tensor";
  k::check_quantize_input(op, input);
  k::check_single_element(op, "scale", scale);
  k::check_single_element(op, "zero_point", zero_point);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  return at::empty_like(input, input.options().dtype(dtype));
}

at::Tensor quantize_tensor2_meta(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                 const at::Tensor& quant_min, const at::Tensor& quant_max, at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::quantize_per_tensor.tensor2";
  k::check_quantize_input(op, input);
  k::check_single_element(op, "scale", scale);
  k::check_single_element(op, "zero_point", zero_point);
  k::check_single_element(op, "quant_min", quant_min);
  k::check_single_element(op, "quant_max", quant_max);
  return at::empty_like(input, input.options().dtype(dtype));
}

at::Tensor dequantize_meta(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                           int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_tensor";
  const auto out = out_dtype.value_or(at::kFloat);
  k::check_dequantize_input(op, input, dtype, out);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  k::check_scale(op, scale);
  k::check_zero_point(op, zero_point, quant_min, quant_max);
  return at::empty_like(input, input.options().dtype(out));
}

at::Tensor dequantize_tensor_meta(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                  int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                  c10::optional<at::ScalarType> out_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_tensor.tensor";
  const auto out = out_dtype.value_or(at::kFloat);
  k::check_dequantize_input(op, input, dtype, out);
  k::check_single_element(op, "scale", scale);
  k::check_single_element(op, "zero_point", zero_point);
  k::check_quant_range(op, quant_min, quant_max, dtype);
  return at::empty_like(input, input.options().dtype(out));
}

at::Tensor dequantize_tensor2_meta(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                   const at::Tensor& quant_min, const at::Tensor& quant_max, at::ScalarType dtype,
                                   c10::optional<at::ScalarType> out_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_tensor.tensor2";
  const auto out = out_dtype.value_or(at::kFloat);
  k::check_dequantize_input(op, input, dtype, out);
  k::check_single_element(op, "scale", scale);
  k::check_single_element(op, "zero_point", zero_point);
  k::check_single_element(op, "quant_min", quant_min);
  k::check_single_element(op, "quant_max", quant_max);
  return at::empty_like(input, input.options().dtype(out));
}

void register_meta(torch::Library& lib, const std::vector<std::string>& defined) {
  impl_if_defined(lib, defined, "quantize_per_tensor", c10::DispatchKey::Meta, TORCH_FN(quantize_meta));
  impl_if_defined(lib, defined, "quantize_per_tensor.tensor", c10::DispatchKey::Meta, TORCH_FN(quantize_tensor_meta));
  impl_if_defined(lib, defined, "quantize_per_tensor.tensor2", c10::DispatchKey::Meta, TORCH_FN(quantize_tensor2_meta));
  impl_if_defined(lib, defined, "dequantize_per_tensor", c10::DispatchKey::Meta, TORCH_FN(dequantize_meta));
  impl_if_defined(lib, defined, "dequantize_per_tensor.tensor", c10::DispatchKey::Meta, TORCH_FN(dequantize_tensor_meta));
  impl_if_defined(lib, defined, "dequantize_per_tensor.tensor2", c10::DispatchKey::Meta, TORCH_FN(dequantize_tensor2_meta));
}

}  // namespace

OpFamily per_tensor_ops() {
  OpFamily family;
  family.name = "per_tensor";
  family.schemas = {kQuantize, kQuantizeTensor, kQuantizeTensor2, kDequantize, kDequantizeTensor, kDequantizeTensor2};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    register_meta(lib, defined);
  };
  return family;
}

at::Tensor quantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                               int64_t quant_max, at::ScalarType dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, double, int64_t, int64_t, int64_t, at::ScalarType)>(
      "quantized_decomposed::quantize_per_tensor", "");
  return op.call(input, scale, zero_point, quant_min, quant_max, dtype);
}

at::Tensor quantize_per_tensor(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                               int64_t quant_min, int64_t quant_max, at::ScalarType dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, at::ScalarType)>("quantized_decomposed::quantize_per_tensor",
                                                                      "tensor");
  return op.call(input, scale, zero_point, quant_min, quant_max, dtype);
}

at::Tensor dequantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, double, int64_t, int64_t, int64_t, at::ScalarType,
                                            c10::optional<at::ScalarType>)>(
      "quantized_decomposed::dequantize_per_tensor", "");
  return op.call(input, scale, zero_point, quant_min, quant_max, dtype, out_dtype);
}

at::Tensor dequantize_per_tensor(const at::Tensor& input, const at::Tensor& scale, const at::Tensor& zero_point,
                                 int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                 c10::optional<at::ScalarType> out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, at::ScalarType,
                         c10::optional<at::ScalarType>)>("quantized_decomposed::dequantize_per_tensor", "tensor");
  return op.call(input, scale, zero_point, quant_min, quant_max, dtype, out_dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
