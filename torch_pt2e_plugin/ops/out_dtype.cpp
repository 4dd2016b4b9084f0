#include "torch_pt2e_plugin/ops/out_dtype.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>

#include "kernels/out_dtype_checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

constexpr const char* kMm = "out_dtype_mm(Tensor self, Tensor mat2, ScalarType out_dtype) -> Tensor";
constexpr const char* kLinear =
    "out_dtype_linear(Tensor input, Tensor weight, Tensor? bias, ScalarType out_dtype) -> Tensor";
constexpr const char* kConvolution =
    "out_dtype_convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, "
    "bool transposed, int[] output_padding, int groups, ScalarType out_dtype) -> Tensor";
constexpr const char* kConv2d =
    "out_dtype_conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, "
    "int groups, ScalarType out_dtype) -> Tensor";
constexpr const char* kMulTensor = "out_dtype_mul.Tensor(Tensor self, Tensor other, ScalarType out_dtype) -> Tensor";
constexpr const char* kMulScalar = "out_dtype_mul.Scalar(Tensor self, Scalar other, ScalarType out_dtype) -> Tensor";
constexpr const char* kDivTensor = "out_dtype_div.Tensor(Tensor self, Tensor other, ScalarType out_dtype) -> Tensor";
constexpr const char* kDivScalar = "out_dtype_div.Scalar(Tensor self, Scalar other, ScalarType out_dtype) -> Tensor";

// ---- Meta kernels: the same checks and promotion as the device kernels ------

at::Tensor mm_meta(const at::Tensor& self, const at::Tensor& mat2, at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_mm";
  const auto sizes = k::out_dtype_mm_sizes(op, self, mat2);
  k::OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("mat2", mat2).compute_dtype();
  return at::empty(sizes, self.options().dtype(out_dtype));
}

at::Tensor linear_meta(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_linear";
  const auto sizes = k::out_dtype_linear_sizes(op, input, weight, bias);
  k::OutDtypePromotion(op, out_dtype).tensor("input", input).tensor("weight", weight).tensor("bias", bias)
      .compute_dtype();
  return at::empty(sizes, input.options().dtype(out_dtype));
}

at::Tensor convolution_meta(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                            bool transposed, at::IntArrayRef output_padding, int64_t groups,
                            at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_convolution";
  const auto sizes = k::out_dtype_convolution_sizes(op, input, weight, bias, stride, padding, dilation, transposed,
                                                    output_padding, groups);
  k::OutDtypePromotion(op, out_dtype).tensor("input", input).tensor("weight", weight).tensor("bias", bias)
      .integer_number().compute_dtype();
  const auto format = input.dim() == 4 ? input.suggest_memory_format() : at::MemoryFormat::Contiguous;
  return at::empty(sizes, input.options().dtype(out_dtype).memory_format(format));
}

template <bool kDivide>
at::Tensor scale_tensor_meta(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Tensor" : "torch_pt2e::out_dtype_mul.Tensor";
  const auto sizes = k::out_dtype_broadcast_sizes(op, self, other);
  k::OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("other", other).compute_dtype();
  return at::empty(sizes, self.options().dtype(out_dtype));
}

template <bool kDivide>
at::Tensor scale_scalar_meta(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Scalar" : "torch_pt2e::out_dtype_mul.Scalar";
  k::OutDtypePromotion(op, out_dtype).tensor("self", self).number(other).compute_dtype();
  return at::empty(self.sizes(), self.options().dtype(out_dtype));
}

// conv2d is convolution with its defaults, plus unbatched (3-D) inputs, as
// aten::conv2d; it decomposes, so every device and Meta get it.
at::Tensor conv2d_composite(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                            at::ScalarType out_dtype) {
  TORCH_CHECK(input.dim() == 3 || input.dim() == 4,
              "torch_pt2e::out_dtype_conv2d: expected a 3-D (unbatched) or 4-D (batched) input, got shape ",
              input.sizes());
  const bool unbatched = input.dim() == 3;
  const at::Tensor out = out_dtype_convolution(unbatched ? input.unsqueeze(0) : input, weight, bias, stride, padding,
                                               dilation, false, {0}, groups, out_dtype);
  return unbatched ? out.squeeze(0) : out;
}

void register_definer_kernels(torch::Library& lib, const std::vector<std::string>& defined) {
  impl_if_defined(lib, defined, "out_dtype_mm", c10::DispatchKey::Meta, TORCH_FN(mm_meta));
  impl_if_defined(lib, defined, "out_dtype_linear", c10::DispatchKey::Meta, TORCH_FN(linear_meta));
  impl_if_defined(lib, defined, "out_dtype_convolution", c10::DispatchKey::Meta, TORCH_FN(convolution_meta));
  impl_if_defined(lib, defined, "out_dtype_mul.Tensor", c10::DispatchKey::Meta, TORCH_FN(scale_tensor_meta<false>));
  impl_if_defined(lib, defined, "out_dtype_mul.Scalar", c10::DispatchKey::Meta, TORCH_FN(scale_scalar_meta<false>));
  impl_if_defined(lib, defined, "out_dtype_div.Tensor", c10::DispatchKey::Meta, TORCH_FN(scale_tensor_meta<true>));
  impl_if_defined(lib, defined, "out_dtype_div.Scalar", c10::DispatchKey::Meta, TORCH_FN(scale_scalar_meta<true>));
  impl_if_defined(lib, defined, "out_dtype_conv2d", c10::DispatchKey::CompositeImplicitAutograd,
                  TORCH_FN(conv2d_composite));
  // Upstream's out_dtype has no derivative either: backward through it raises.
  for (const char* name : {"out_dtype_mm", "out_dtype_linear", "out_dtype_convolution", "out_dtype_mul.Tensor",
                           "out_dtype_mul.Scalar", "out_dtype_div.Tensor", "out_dtype_div.Scalar"}) {
    impl_if_defined(lib, defined, name, c10::DispatchKey::Autograd,
                    torch::autograd::autogradNotImplementedFallback());
  }
}

}  // namespace

OpFamily out_dtype_ops() {
  OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "out_dtype";
  family.schemas = {kMm, kLinear, kConvolution, kConv2d, kMulTensor, kMulScalar, kDivTensor, kDivScalar};
  family.register_definer_kernels = register_definer_kernels;
  return family;
}

at::Tensor out_dtype_mm(const at::Tensor& self, const at::Tensor& mat2, at::ScalarType out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, at::ScalarType)>("torch_pt2e::out_dtype_mm", "");
  return op.call(self, mat2, out_dtype);
}

at::Tensor out_dtype_linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::ScalarType out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, at::ScalarType)>(
          "torch_pt2e::out_dtype_linear", "");
  return op.call(input, weight, bias, out_dtype);
}

at::Tensor out_dtype_convolution(const at::Tensor& input, const at::Tensor& weight,
                                 const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                                 at::IntArrayRef output_padding, int64_t groups, at::ScalarType out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, at::IntArrayRef,
                         at::IntArrayRef, at::IntArrayRef, bool, at::IntArrayRef, int64_t, at::ScalarType)>(
          "torch_pt2e::out_dtype_convolution", "");
  return op.call(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups, out_dtype);
}

at::Tensor out_dtype_conv2d(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                            at::ScalarType out_dtype) {
  static const auto op =
      find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, at::IntArrayRef,
                         at::IntArrayRef, at::IntArrayRef, int64_t, at::ScalarType)>("torch_pt2e::out_dtype_conv2d",
                                                                                     "");
  return op.call(input, weight, bias, stride, padding, dilation, groups, out_dtype);
}

at::Tensor out_dtype_mul(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, at::ScalarType)>(
      "torch_pt2e::out_dtype_mul", "Tensor");
  return op.call(self, other, out_dtype);
}

at::Tensor out_dtype_mul(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Scalar&, at::ScalarType)>(
      "torch_pt2e::out_dtype_mul", "Scalar");
  return op.call(self, other, out_dtype);
}

at::Tensor out_dtype_div(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, at::ScalarType)>(
      "torch_pt2e::out_dtype_div", "Tensor");
  return op.call(self, other, out_dtype);
}

at::Tensor out_dtype_div(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Scalar&, at::ScalarType)>(
      "torch_pt2e::out_dtype_div", "Scalar");
  return op.call(self, other, out_dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
