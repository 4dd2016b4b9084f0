// ComposableQuantizer (upstream's composable_quantizer.py): quantizers run in
// order on one annotation table, each transform_for_annotation feeding the
// next. Once a quantizer has annotated a node, a later quantizer that changes
// (other inputs, specs or sharing) or removes that annotation is an error
// naming the node and both quantizers. Setting `_annotated` on an existing
// annotation is not a change (upstream's _mark_nodes_as_annotated does that).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "torch_pt2e_plugin/quantizer/quantizer.h"

namespace torch_pt2e {
namespace quantizer {

class ComposableQuantizer : public Quantizer {
 public:
  // Names default to the quantizers' C++ class names.
  explicit ComposableQuantizer(std::vector<std::shared_ptr<Quantizer>> quantizers,
                               std::vector<std::string> names = {});

  torch::jit::Module transform_for_annotation(torch::jit::Module module) override;
  void annotate(torch::jit::Module& module, AnnotationTable& annotations) override;
  void validate(const torch::jit::Module& module, const AnnotationTable& annotations) override;

 private:
  std::vector<std::shared_ptr<Quantizer>> quantizers_;
  std::vector<std::string> names_;
};

}  // namespace quantizer
}  // namespace torch_pt2e
