// TorchScript-callable forms of upstream's `out_dtype` higher-order op
// (torch.ops.higher_order.out_dtype(op, out_dtype, *args)), one op per
// wrapped ATen op, in the plugin's own namespace:
//
//   torch_pt2e::out_dtype_mm(Tensor self, Tensor mat2, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_linear(Tensor input, Tensor weight, Tensor? bias, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding,
//       int[] dilation, bool transposed, int[] output_padding, int groups, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[2] padding,
//       int[2] dilation, int groups, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_mul.Tensor(Tensor self, Tensor other, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_mul.Scalar(Tensor self, Scalar other, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_div.Tensor(Tensor self, Tensor other, ScalarType out_dtype) -> Tensor
//   torch_pt2e::out_dtype_div.Scalar(Tensor self, Scalar other, ScalarType out_dtype) -> Tensor
//
// `out_dtype_X(args..., out_dtype)` equals `out_dtype(aten.X, out_dtype, args...)`: every tensor
// argument is cast to the dtype upstream's type promotion picks over the arguments and a
// one-element tensor of out_dtype (kernels/out_dtype_checks.h), the ATen op runs, and the result
// is cast to out_dtype. So int8/int16 x int8/int16 -> int32 mm, linear and convolution are exact
// integer products (modulo 2^32, as upstream's int32 matmul), and mul/div of an int32 accumulator
// by a float compute in float32 and truncate toward zero. int8/uint8/int16 operands with an int32
// result run on the plugin's integer GEMM (kernels/cpu/int8_gemm.h); everything else runs the
// ATen op on the promoted tensors. Gradients are not implemented (an error at backward time, as
// upstream).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Optional.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily out_dtype_ops();

at::Tensor out_dtype_mm(const at::Tensor& self, const at::Tensor& mat2, at::ScalarType out_dtype);
at::Tensor out_dtype_linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::ScalarType out_dtype);
at::Tensor out_dtype_convolution(const at::Tensor& input, const at::Tensor& weight,
                                 const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                                 at::IntArrayRef output_padding, int64_t groups, at::ScalarType out_dtype);
at::Tensor out_dtype_conv2d(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                            at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                            at::ScalarType out_dtype);
at::Tensor out_dtype_mul(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype);
at::Tensor out_dtype_mul(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype);
at::Tensor out_dtype_div(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype);
at::Tensor out_dtype_div(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype);

}  // namespace ops
}  // namespace torch_pt2e
