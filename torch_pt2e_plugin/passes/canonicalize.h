// Brings a TorchScript module to the one form quantizers match against.
//
// Matches: any scripted or traced module in eval mode. Produces a new module
// (the input is untouched) whose `forward` is a single graph: submodule calls
// inlined (each inlined node keeps its call stack, from which module paths and
// the input's class names are recovered; the inlining uses the input's own
// methods, whose optimized graphs LibTorch keeps for the next prepare or
// run), other methods dropped, non-tensor attributes such as
// `training` folded to constants and the branches they decide removed, every parameter and buffer still a `prim::GetAttr` of its module,
// traced `aten::_convolution` rewritten to `aten::conv{1,2,3}d` /
// `aten::conv_transpose{1,2,3}d`, `addmm`/`matmul`+`add` fused to
// `aten::linear`, in-place ops made functional where that is safe,
// conv + batch_norm (eval) folded into the conv's weight and bias, tensor
// constants with elements lifted to buffers `_tensor_constant_<N>` (as
// torch.export lifts them), and a traced graph's input types propagated.
#pragma once

#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace passes {

struct CanonicalizeOptions {
  // Fold eval-mode batch norms into the convolutions that feed them (PTQ).
  bool fold_conv_bn = true;
  // Fold the `training` attributes to constants. QAT keeps them as
  // prim::GetAttr reads, so module.train() / module.eval() still switch batch
  // norm and dropout (and the branches they decide stay in the graph).
  bool fold_training = true;
};

torch::jit::Module canonicalize_for_annotation(const torch::jit::Module& module,
                                               const CanonicalizeOptions& options = {});

// The graph-level rewrites (no freezing), for graphs whose attributes are
// already resolved. Returns whether the graph changed.
bool rewrite_convolution_calls(const std::shared_ptr<torch::jit::Graph>& graph, const torch::jit::Module& owner);

}  // namespace passes
}  // namespace torch_pt2e
