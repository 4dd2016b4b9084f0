// The Quantizer interface (upstream's torchao Quantizer), on TorchScript
// modules in the canonical form of passes/canonicalize.h.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace quantizer {

class Quantizer {
 public:
  virtual ~Quantizer() = default;

  // May rewrite the module before annotation (e.g. turn scalar operands into
  // observable attributes). Runs on the canonical form; returns the module to annotate.
  virtual torch::jit::Module transform_for_annotation(torch::jit::Module module) { return module; }

  // Records annotations for nodes of `module`'s forward graph.
  virtual void annotate(torch::jit::Module& module, AnnotationTable& annotations) = 0;

  // Checks the annotations (e.g. that a backend supports them); throws if not.
  virtual void validate(const torch::jit::Module& module, const AnnotationTable& annotations) {}
};

}  // namespace quantizer
}  // namespace torch_pt2e
