// Constant folding of weight quantization (upstream's constant_fold with
// _quant_node_constraint).
//
// Matches: quantize_per_tensor (default, .tensor) and quantize_per_channel
// nodes whose input is computed from module attributes and constants alone
// (prim::GetAttr, and pure ops such as aten::t or aten::permute on them).
//
//   GetAttr(weight) -> [t] -> quantize -> dequantize -> op
//   GetAttr(_frozen_param0: int8)      -> dequantize -> op
//
// The quantized tensor becomes a buffer `_frozen_param<N>` of the top module
// (of groups under `_frozen_param_groups` when there are very many:
// passes/attribute_groups.h); the quantize and the ops that only fed it are
// deleted. Dequantize (and
// convert_element_type) nodes are never folded. Returns the number folded.
// Precondition of this in-place pass: `module` has not run forward yet
// (TorchScript caches the optimized graph on the first run); clone a module
// that has, as convert_pt2e does.
#pragma once

#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace passes {

constexpr const char* kFrozenParamGroupsAttribute = "_frozen_param_groups";

int64_t fold_quantize(torch::jit::Module& module);

// Deletes tensor attributes the forward graph no longer reads (the fp32
// weights replaced by folded ones, batch-norm statistics folded into convs)
// from the module and its submodules, and submodules left empty (no method,
// no attribute but nn.Module's `training` and `_is_full_backward_hook`) and
// unused.
// Returns the number of attributes removed.
int64_t remove_unused_attributes(torch::jit::Module& module);

}  // namespace passes
}  // namespace torch_pt2e
