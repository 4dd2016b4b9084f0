// XNNPACKQuantizer.transform_for_annotation (upstream's _convert_scalars_to_attrs):
// scalar operands of add and mul become observable.
//
// Matches, in the forward graph of a canonical module:
//   aten::add.Scalar(x, s[, alpha]) / aten::mul.Scalar(x, s)   (a literal s)
//   aten::add.Tensor / aten::mul.Tensor with a 0-d prim::Constant tensor
//     operand (how tracing records `x + 2`)
// and reads the operand instead from a new float32 0-d buffer
// `_tensor_constant_<N>` of the top module (prim::GetAttr placed before the
// op), rewriting .Scalar to .Tensor. An op whose other operand is known not to
// be a float tensor is left alone: a float32 operand would change its result
// dtype (upstream converts it anyway).
#pragma once

#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace quantizer {

// Returns whether the graph changed.
bool convert_scalars_to_attrs(torch::jit::Module& module);

}  // namespace quantizer
}  // namespace torch_pt2e
