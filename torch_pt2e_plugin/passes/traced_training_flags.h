// prepare_qat_pt2e's fix for traced modules: tracing records batch norm's
// `training` and dropout's `train` arguments as constants (and batch norm's
// `num_batches_tracked += 1` unconditionally), so `train()` / `eval()` would
// change nothing on a traced QAT model. Scripted modules read the flags.
//
// Matches, in a traced module's inlined forward graph: a constant bool as
// aten::batch_norm's `training` (unless running_mean / running_var are None:
// such a batch norm always uses batch statistics), as `train` of
// aten::{dropout,feature_dropout,alpha_dropout,feature_alpha_dropout}[_] and
// as `training` of aten::rrelu[_]. Rewrites each to a read of the top
// module's `training` attribute (one prim::GetAttr at the start of the graph),
// and an aten::add_ on a `num_batches_tracked` buffer into
// `if training: add_`, as nn.BatchNorm's forward does.
//
// Run by canonicalize_for_annotation when it keeps the training flags (QAT).

#pragma once

#include <cstdint>

#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace passes {

// True when every input of forward has a complete tensor type (what tracing records).
bool is_traced_module(const torch::jit::Module& module);

// Rewrites the constant flags of `module`'s forward graph as above; returns how many.
int64_t read_training_flags_from_module(torch::jit::Module& module);

}  // namespace passes
}  // namespace torch_pt2e
