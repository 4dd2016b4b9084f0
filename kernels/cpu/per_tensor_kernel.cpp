// CPU kernels of quantize_per_tensor / dequantize_per_tensor (all overloads).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/loops.h"
#include "kernels/expressions.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

at::Tensor quantize(const char* op, const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                    int64_t quant_max, at::ScalarType dtype) {
  check_quantize_input(op, input);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_scale(op, scale);
  check_zero_point(op, zero_point, quant_min, quant_max);
  const auto in_type = float_type(input.scalar_type());
  const auto out_type = quant_type(dtype);
  // float8 outputs have no loop: upstream's expression, exact by construction.
  if (!out_type) return quantize_per_tensor_expression(input, scale, zero_point, quant_min, quant_max, dtype);

  const at::Tensor src = dense(input);
  at::Tensor out = at::empty_like(src, src.options().dtype(dtype));
  AffineQuantParams params;
  params.inv_scale = numerics::per_tensor_inv_scale(scale);
  params.zero_point = static_cast<float>(zero_point);
  params.quant_min = static_cast<float>(quant_min);
  params.quant_max = static_cast<float>(quant_max);
  params.quant_min_int = quant_min;
  params.quant_max_int = quant_max;
  const QuantizeFn fn = loops().quantize_per_tensor[static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  const auto* in_ptr = static_cast<const char*>(src.data_ptr());
  auto* out_ptr = static_cast<char*>(out.data_ptr());
  const int64_t in_size = src.element_size(), out_size = out.element_size();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) {
    fn(in_ptr + begin * in_size, out_ptr + begin * out_size, end - begin, params);
  });
  return out;
}

at::Tensor dequantize(const char* op, const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                      int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  const at::ScalarType out_scalar_type = out_dtype.value_or(at::kFloat);
  check_dequantize_input(op, input, dtype, out_scalar_type);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_scale(op, scale);
  check_zero_point(op, zero_point, quant_min, quant_max);
  const auto in_type = quant_type(dtype);
  const auto out_type = float_type(out_scalar_type);
  if (!in_type || !out_type) return dequantize_per_tensor_expression(input, scale, zero_point, out_scalar_type);

  const at::Tensor src = dense(input);
  at::Tensor out = at::empty_like(src, src.options().dtype(out_scalar_type));
  AffineDequantParams params;
  params.scale = static_cast<float>(scale);
  params.zero_point = static_cast<float>(zero_point);
  params.scale_double = scale;
  params.zero_point_double = static_cast<double>(zero_point);
  const DequantizeFn fn = loops().dequantize_per_tensor[static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  const auto* in_ptr = static_cast<const char*>(src.data_ptr());
  auto* out_ptr = static_cast<char*>(out.data_ptr());
  const int64_t in_size = src.element_size(), out_size = out.element_size();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) {
    fn(in_ptr + begin * in_size, out_ptr + begin * out_size, end - begin, params);
  });
  return out;
}

at::Tensor quantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                               int64_t quant_max, at::ScalarType dtype) {
  return quantize("quantized_decomposed::quantize_per_tensor", input, scale, zero_point, quant_min, quant_max,
                  dtype);
}

at::Tensor quantize_per_tensor_tensor(const at::Tensor& input, const at::Tensor& scale,
                                      const at::Tensor& zero_point, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::quantize_per_tensor.tensor";
  return quantize(op, input, read_scale(op, "scale", scale), read_integer(op, "zero_point", zero_point), quant_min,
                  quant_max, dtype);
}

at::Tensor quantize_per_tensor_tensor2(const at::Tensor& input, const at::Tensor& scale,
                                       const at::Tensor& zero_point, const at::Tensor& quant_min,
                                       const at::Tensor& quant_max, at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::quantize_per_tensor.tensor2";
  return quantize(op, input, read_scale(op, "scale", scale), read_integer(op, "zero_point", zero_point),
                  read_integer(op, "quant_min", quant_min), read_integer(op, "quant_max", quant_max), dtype);
}

at::Tensor dequantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  return dequantize("quantized_decomposed::dequantize_per_tensor", input, scale, zero_point, quant_min, quant_max,
                    dtype, out_dtype);
}

at::Tensor dequantize_per_tensor_tensor(const at::Tensor& input, const at::Tensor& scale,
                                        const at::Tensor& zero_point, int64_t quant_min, int64_t quant_max,
                                        at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_tensor.tensor";
  return dequantize(op, input, read_scale(op, "scale", scale), read_integer(op, "zero_point", zero_point),
                    quant_min, quant_max, dtype, out_dtype);
}

at::Tensor dequantize_per_tensor_tensor2(const at::Tensor& input, const at::Tensor& scale,
                                         const at::Tensor& zero_point, const at::Tensor& quant_min,
                                         const at::Tensor& quant_max, at::ScalarType dtype,
                                         c10::optional<at::ScalarType> out_dtype) {
  constexpr const char* op = "quantized_decomposed::dequantize_per_tensor.tensor2";
  return dequantize(op, input, read_scale(op, "scale", scale), read_integer(op, "zero_point", zero_point),
                    read_integer(op, "quant_min", quant_min), read_integer(op, "quant_max", quant_max), dtype,
                    out_dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("quantize_per_tensor", TORCH_FN(quantize_per_tensor));
  m.impl("quantize_per_tensor.tensor", TORCH_FN(quantize_per_tensor_tensor));
  m.impl("quantize_per_tensor.tensor2", TORCH_FN(quantize_per_tensor_tensor2));
  m.impl("dequantize_per_tensor", TORCH_FN(dequantize_per_tensor));
  m.impl("dequantize_per_tensor.tensor", TORCH_FN(dequantize_per_tensor_tensor));
  m.impl("dequantize_per_tensor.tensor2", TORCH_FN(dequantize_per_tensor_tensor2));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
