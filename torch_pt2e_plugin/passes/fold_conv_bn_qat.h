// convert_pt2e's conv + batch-norm fold for QAT models (upstream's
// _fold_conv_bn_qat), run before observers become quantize/dequantize.
//
// Matches what fuse_conv_bn_qat left, with its fake-quantize calls:
//
//   w' = [fq](aten::mul(w, ...)),  b0 = [fq](aten::zeros_like(b)) or None
//   y  = conv(x, w', b0) -> aten::div(., ...) [-> aten::add(., aten::reshape(b, ...))]
//   z  = aten::batch_norm(y, gamma, beta, running_mean, running_var, ..., eps, ...)
//
// and rewrites it to conv(x, [fq](w_fused), [fq](b_fused)) with
// fuse_conv_bn_weights (conv_bn_weights.h) on the current attributes; the
// batch norm's users read the conv. The weight's fake-quantize call stays,
// so convert quantizes the folded weight with that module's qparams, as
// upstream copies the q/dq arguments of the fused graph onto the folded one.
#pragma once

#include <utility>
#include <vector>

#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace passes {

struct FoldedConvBn {
  const torch::jit::Node* batch_norm = nullptr;  // destroyed; the pointer is only a key
  torch::jit::Node* conv = nullptr;
};

// Modifies the module in place (folded weights and biases become new
// parameters `<weight path>_fused_bn[_bias]`). Returns the pairs folded.
std::vector<FoldedConvBn> fold_conv_bn_qat(torch::jit::Module& module);

}  // namespace passes
}  // namespace torch_pt2e
