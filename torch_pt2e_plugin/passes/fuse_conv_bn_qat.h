// prepare_qat_pt2e's conv + batch-norm fusion (upstream's _fuse_conv_bn_qat,
// the approximate form of nniqat.ConvBn2d), run after annotation.
//
// Matches: conv{1,2,3}d / conv_transpose{1,2,3}d -> aten::batch_norm, where
// the batch norm alone reads the conv output (shape queries aside), the conv
// weight and the batch norm's weight and running_var are module attributes
// and eps is a constant. Rewrites, keeping the conv and batch-norm nodes:
//
//   scale_factor = bn.weight / sqrt(bn.running_var + eps)
//   conv(x, w, b) -> conv(x, w * scale_factor.reshape(weight_shape), zeros_like(b))
//                    / scale_factor.reshape(bias_shape) + b.reshape(bias_shape) -> batch_norm (unchanged)
//
// so the weight fake-quantizer sees the weight scaled as it will be folded,
// while the batch norm keeps training on the conv's unscaled output. The
// conv's annotation follows its inputs (weight -> scaled weight, bias ->
// zero bias), as upstream's _update_conv_input_qspec_map_after_replacement.
#pragma once

#include <cstdint>

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace passes {

// Modifies the module's forward graph in place; returns the number of
// conv + batch-norm pairs fused.
int64_t fuse_conv_bn_qat(torch::jit::Module& module, quantizer::AnnotationTable& annotations);

}  // namespace passes
}  // namespace torch_pt2e
