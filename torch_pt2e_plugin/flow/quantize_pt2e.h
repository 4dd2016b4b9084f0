// The PT2E flow on TorchScript modules: prepare_pt2e and convert_pt2e, each
// one readable pass order (upstream's torchao quantize_pt2e.py).
#pragma once

#include <string>
#include <unordered_map>
#include <utility>

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/reference_representation.h"
#include "torch_pt2e_plugin/quantizer/quantizer.h"

namespace torch_pt2e {

// Returns a new module (the input is untouched) in canonical form, annotated
// by `quantizer`, with observers inserted. Calibrate it by running forward.
// The module must be in eval mode.
torch::jit::Module prepare_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer);

// Quantization-aware training: returns a new module in canonical form that
// keeps its `training` reads (module.train() / eval() switch batch norm and
// dropout), annotated by `quantizer` (a QAT config), with conv + batch norm
// fused the QAT way (passes/fuse_conv_bn_qat.h) and fake-quantize modules
// (observers/fake_quantize.h) where the specs name them. Train it, then
// convert_pt2e, which folds the batch norms.
torch::jit::Module prepare_qat_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer);

// What prepare_pt2e and prepare_qat_pt2e canonicalize with.
passes::CanonicalizeOptions canonicalize_options(bool is_qat);

struct ConvertOptions {
  // Rewrite int8 quantized patterns into integer arithmetic
  // (passes/reference_representation.h, docs/reference_representation.md).
  bool use_reference_representation = false;
  // Its arithmetic: upstream's (default, bit for bit) or the q/dq ops' rounding.
  passes::ReferenceNumerics reference_numerics = passes::ReferenceNumerics::kUpstream;
  bool fold_quantize = true;
  // (scale, zero point) of derived observers, by observer name, computed by
  // the caller (the Python package runs Python derive functions); others use
  // functions registered with quantizer::register_derive_qparams_fn.
  std::unordered_map<std::string, std::pair<at::Tensor, at::Tensor>> derived_qparams;
};

// Returns a new module where observers (and fake-quantize modules) became
// quantized_decomposed quantize/dequantize pairs (the prepared module is
// untouched); for a QAT model, conv + batch norm are folded first
// (passes/fold_conv_bn_qat.h).
torch::jit::Module convert_pt2e(const torch::jit::Module& prepared, const ConvertOptions& options = {});

}  // namespace torch_pt2e
