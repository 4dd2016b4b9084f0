// CPU kernels of the torch_pt2e::out_dtype_* ops (torch_pt2e_plugin/ops/out_dtype.h).
//
// Each kernel checks its arguments, computes upstream's promoted dtype, and
// then takes one of two paths:
//  * int8/uint8/int16 operands, int32 promoted and output dtype (mm, linear,
//    2-D convolution): the integer GEMM of int8_gemm.h; mul/div of an int32
//    or float32 tensor by a single factor computing in float32 into int32:
//    one fused loop (int8_gemm_scale.h).
//  * anything else: the ATen op on the promoted tensors, then the cast, as
//    upstream's out_dtype does it.
#include <ATen/ATen.h>
#include <c10/util/accumulate.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/out_dtype_checks.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

c10::optional<IntElem> int_elem(at::ScalarType dtype) {
  switch (dtype) {
    case at::kChar:
      return IntElem::kInt8;
    case at::kByte:
      return IntElem::kUInt8;
    case at::kShort:
      return IntElem::kInt16;
    default:
      return c10::nullopt;
  }
}

// int8/uint8/int16 CPU tensors, an int32 computation and an int32 result.
bool integer_gemm_applies(at::ScalarType compute, at::ScalarType out_dtype,
                          std::initializer_list<at::Tensor> operands) {
  if (compute != at::kInt || out_dtype != at::kInt) return false;
  for (const auto& t : operands) {
    if (!t.device().is_cpu() || t.layout() != at::kStrided || !int_elem(t.scalar_type())) return false;
  }
  return true;
}

// A bias the GEMM can add itself: one integer of at most 32 bits per output.
bool int32_bias_applies(const c10::optional<at::Tensor>& bias, int64_t count) {
  if (!bias.has_value() || !bias->defined()) return true;
  const auto dtype = bias->scalar_type();
  const bool integer = dtype == at::kChar || dtype == at::kByte || dtype == at::kShort || dtype == at::kInt;
  return integer && bias->device().is_cpu() && bias->dim() == 1 && bias->size(0) == count;
}

at::Tensor int32_bias(const c10::optional<at::Tensor>& bias) {
  if (!bias.has_value() || !bias->defined()) return at::Tensor();
  return bias->to(at::kInt).contiguous();
}

const int32_t* data_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<int32_t>() : nullptr; }

IntMatrix matrix(const at::Tensor& t) {
  return IntMatrix{t.data_ptr(), *int_elem(t.scalar_type()), t.size(0), t.size(1), t.stride(0), t.stride(1)};
}

c10::optional<at::Tensor> cast(const c10::optional<at::Tensor>& t, at::ScalarType dtype) {
  if (!t.has_value() || !t->defined()) return t;
  return t->to(dtype);
}

// ---- mm / linear / convolution ------------------------------------------------

at::Tensor mm(const at::Tensor& self, const at::Tensor& mat2, at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_mm";
  const auto sizes = out_dtype_mm_sizes(op, self, mat2);
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("mat2", mat2).compute_dtype();
  if (!integer_gemm_applies(compute, out_dtype, {self, mat2})) {
    return at::mm(self.to(compute), mat2.to(compute)).to(out_dtype);
  }
  at::Tensor out = at::empty(sizes, self.options().dtype(at::kInt));
  int8_gemm(int8_gemm_isa(), matrix(self), matrix(mat2), nullptr, nullptr, out.data_ptr<int32_t>(), sizes[1]);
  return out;
}

at::Tensor linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                  at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_linear";
  const auto sizes = out_dtype_linear_sizes(op, input, weight, bias);
  const auto compute = OutDtypePromotion(op, out_dtype)
                           .tensor("input", input)
                           .tensor("weight", weight)
                           .tensor("bias", bias)
                           .compute_dtype();
  if (!integer_gemm_applies(compute, out_dtype, {input, weight}) || weight.dim() != 2 ||
      !int32_bias_applies(bias, weight.size(0))) {
    return at::linear(input.to(compute), weight.to(compute), cast(bias, compute)).to(out_dtype);
  }
  const int64_t k_size = weight.size(1), n_size = weight.size(0);
  const int64_t m_size = c10::multiply_integers(input.sizes().begin(), input.sizes().end() - 1);
  const at::Tensor rows = input.reshape({m_size, k_size});
  const at::Tensor bias32 = int32_bias(bias);
  at::Tensor out = at::empty({m_size, n_size}, input.options().dtype(at::kInt));
  // B = weight^T: B[k, n] = weight[n, k].
  const IntMatrix b{weight.data_ptr(), *int_elem(weight.scalar_type()), k_size, n_size, weight.stride(1),
                    weight.stride(0)};
  int8_gemm(int8_gemm_isa(), matrix(rows), b, nullptr, data_or_null(bias32), out.data_ptr<int32_t>(), n_size);
  return out.view(sizes);
}

at::Tensor convolution(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                       at::IntArrayRef output_padding, int64_t groups, at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_convolution";
  const auto sizes = out_dtype_convolution_sizes(op, input, weight, bias, stride, padding, dilation, transposed,
                                                 output_padding, groups);
  const auto compute = OutDtypePromotion(op, out_dtype)
                           .tensor("input", input)
                           .tensor("weight", weight)
                           .tensor("bias", bias)
                           .integer_number()
                           .compute_dtype();
  if (!integer_gemm_applies(compute, out_dtype, {input, weight}) || weight.dim() != 4 || transposed ||
      !int32_bias_applies(bias, sizes[1])) {
    return at::convolution(input.to(compute), weight.to(compute), cast(bias, compute), stride, padding, dilation,
                           transposed, output_padding, groups)
        .to(out_dtype);
  }
  const auto strides = expand_conv_param(stride, 2), pads = expand_conv_param(padding, 2),
             dilations = expand_conv_param(dilation, 2);
  IntConv2dShape shape;
  shape.batch = input.size(0);
  shape.in_channels = input.size(1);
  shape.in_h = input.size(2);
  shape.in_w = input.size(3);
  shape.out_channels = weight.size(0);
  shape.kernel_h = weight.size(2);
  shape.kernel_w = weight.size(3);
  shape.stride_h = strides[0];
  shape.stride_w = strides[1];
  shape.pad_h = pads[0];
  shape.pad_w = pads[1];
  shape.dilation_h = dilations[0];
  shape.dilation_w = dilations[1];
  shape.groups = groups;
  const at::Tensor x = input.contiguous(), w = weight.contiguous(), bias32 = int32_bias(bias);
  at::Tensor out = at::empty(sizes, input.options().dtype(at::kInt));
  int8_conv2d(int8_gemm_isa(), shape, x.data_ptr(), *int_elem(x.scalar_type()), w.data_ptr(),
              *int_elem(w.scalar_type()), data_or_null(bias32), out.data_ptr<int32_t>());
  // As ATen's convolution: a channels-last input gives a channels-last result.
  return out.contiguous(input.suggest_memory_format());
}

// ---- mul / div ------------------------------------------------------------------

// out = truncate_to_int32(float(self) op factor), element by element.
template <bool kDivide>
at::Tensor scale_by_factor(const at::Tensor& self, float factor) {
  const at::Tensor src = dense(self);
  at::Tensor out = at::empty_like(src, src.options().dtype(at::kInt));
  const ScaleToInt32Fn fn = int8_gemm_isa().scale_to_int32[src.scalar_type() == at::kFloat][kDivide];
  const auto* in = static_cast<const char*>(src.data_ptr());
  int32_t* dst = out.data_ptr<int32_t>();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in + begin * 4, dst + begin, end - begin, factor); });
  return out;
}

// The reference representation's requantization: an int32 accumulator (or a
// float32 bias) and one factor, computing in float32, into int32.
bool scale_applies(const at::Tensor& self, at::ScalarType compute, at::ScalarType out_dtype) {
  const auto dtype = self.scalar_type();
  return out_dtype == at::kInt && compute == at::kFloat && (dtype == at::kInt || dtype == at::kFloat) &&
         self.device().is_cpu() && self.layout() == at::kStrided;
}

template <bool kDivide>
at::Tensor scale_tensor(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Tensor" : "torch_pt2e::out_dtype_mul.Tensor";
  out_dtype_broadcast_sizes(op, self, other);
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("other", other).compute_dtype();
  // One factor for every element (the result then has self's shape).
  if (scale_applies(self, compute, out_dtype) && other.numel() == 1 && other.dim() <= self.dim() &&
      other.device().is_cpu()) {
    return scale_by_factor<kDivide>(self, other.to(at::kFloat).item<float>());
  }
  const at::Tensor a = self.to(compute), b = other.to(compute);
  return (kDivide ? at::div(a, b) : at::mul(a, b)).to(out_dtype);
}

// A Python number in the computation dtype, as ATen's wrapped-number cast does it.
template <typename C>
C scalar_as(const at::Scalar& value) {
  if (value.isFloatingPoint()) return static_cast<C>(value.toDouble());
  if (value.isBoolean()) return static_cast<C>(value.toBool() ? 1 : 0);
  return static_cast<C>(value.toLong());
}

template <bool kDivide>
at::Tensor scale_scalar(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Scalar" : "torch_pt2e::out_dtype_mul.Scalar";
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).number(other).compute_dtype();
  if (scale_applies(self, compute, out_dtype) && !other.isComplex()) {
    return scale_by_factor<kDivide>(self, scalar_as<float>(other));
  }
  const at::Tensor a = self.to(compute);
  return (kDivide ? at::div(a, other) : at::mul(a, other)).to(out_dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_pt2e, CPU, m) {
  m.impl("out_dtype_mm", TORCH_FN(mm));
  m.impl("out_dtype_linear", TORCH_FN(linear));
  m.impl("out_dtype_convolution", TORCH_FN(convolution));
  m.impl("out_dtype_mul.Tensor", TORCH_FN(scale_tensor<false>));
  m.impl("out_dtype_mul.Scalar", TORCH_FN(scale_scalar<false>));
  m.impl("out_dtype_div.Tensor", TORCH_FN(scale_tensor<true>));
  m.impl("out_dtype_div.Scalar", TORCH_FN(scale_scalar<true>));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
