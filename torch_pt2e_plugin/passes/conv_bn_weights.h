// The arithmetic of torch.nn.utils.fusion.fuse_conv_bn_weights, in one place
// for the eval-mode fold (canonicalize) and the QAT fold (fold_conv_bn_qat),
// so folded weights are bit-identical with upstream's.
#pragma once

#include <utility>

#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include "torch_pt2e_plugin/passes/weight_arena.h"

namespace torch_pt2e {
namespace passes {

// (weight, bias) of the convolution that computes batch_norm(conv(x, w, b))
// with the batch norm's running statistics. A missing bias counts as zeros,
// a missing gamma/beta as ones/zeros. `transpose`: the weight's output
// channels are dimension 1. With an `arena`, a contiguous float32 weight is
// written into memory from it (same values; see weight_arena.h for why).
std::pair<at::Tensor, at::Tensor> fuse_conv_bn_weights(const at::Tensor& conv_w, const c10::optional<at::Tensor>& conv_b,
                                                       const at::Tensor& running_mean, const at::Tensor& running_var,
                                                       double eps, const c10::optional<at::Tensor>& gamma,
                                                       const c10::optional<at::Tensor>& beta, bool transpose,
                                                       WeightArena* arena = nullptr);

}  // namespace passes
}  // namespace torch_pt2e
