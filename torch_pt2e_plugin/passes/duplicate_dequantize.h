// DuplicateDQ (upstream's quantizer/duplicate_dq_pass.py): one dequantize per
// annotated user.
//
// Matches: dequantize_per_tensor (default, .tensor) and dequantize_per_channel
// nodes with more than one user (shape queries such as aten::size ignored),
// except the dynamic chain choose_qparams.tensor -> quantize.tensor -> dq.
//
//   q -> dq -> {conv, add, mul}   with conv and add annotated
//   q -> dq  -> mul
//     \> dq' -> conv
//     \> dq''-> add
//
// A dequantize left without users is deleted. Returns whether the graph changed.
#pragma once

#include <unordered_set>

#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

bool duplicate_dequantize(torch::jit::Graph& graph, const std::unordered_set<const torch::jit::Node*>& annotated);

}  // namespace passes
}  // namespace torch_pt2e
