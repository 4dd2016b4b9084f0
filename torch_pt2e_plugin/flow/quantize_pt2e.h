// The PT2E flow on TorchScript modules: prepare_pt2e and convert_pt2e, each
// one readable pass order (upstream's torchao quantize_pt2e.py).
#pragma once

#include <string>
#include <unordered_map>
#include <utility>

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantizer.h"

namespace torch_pt2e {

// Returns a new module (the input is untouched) in canonical form, annotated
// by `quantizer`, with observers inserted. Calibrate it by running forward.
// The module must be in eval mode.
torch::jit::Module prepare_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer);

struct ConvertOptions {
  bool use_reference_representation = false;
  bool fold_quantize = true;
  // (scale, zero point) of derived observers, by observer name, computed by
  // the caller (the Python package runs Python derive functions); others use
  // functions registered with quantizer::register_derive_qparams_fn.
  std::unordered_map<std::string, std::pair<at::Tensor, at::Tensor>> derived_qparams;
};

// Returns a new module where observers became quantized_decomposed
// quantize/dequantize pairs (the prepared module is untouched).
torch::jit::Module convert_pt2e(const torch::jit::Module& prepared, const ConvertOptions& options = {});

}  // namespace torch_pt2e
