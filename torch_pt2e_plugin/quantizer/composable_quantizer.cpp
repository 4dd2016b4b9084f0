#include "torch_pt2e_plugin/quantizer/composable_quantizer.h"

#include <typeinfo>
#include <unordered_map>

#include <c10/util/Exception.h>
#include <c10/util/Type.h>

namespace torch_pt2e {
namespace quantizer {
namespace {

bool same_annotation(const QuantizationAnnotation& a, const QuantizationAnnotation& b) {
  return a.input_qspec_map == b.input_qspec_map && a.output_qspec == b.output_qspec &&
         a.allow_implicit_sharing == b.allow_implicit_sharing;
}

std::string describe(const torch::jit::Node* node) {
  const std::string value = node->outputs().empty() ? std::string("") : "%" + node->output(0)->debugName() + " ";
  return value + "(" + node->kind().toQualString() + ")";
}

}  // namespace

ComposableQuantizer::ComposableQuantizer(std::vector<std::shared_ptr<Quantizer>> quantizers,
                                         std::vector<std::string> names)
    : quantizers_(std::move(quantizers)), names_(std::move(names)) {
  TORCH_CHECK(names_.empty() || names_.size() == quantizers_.size(), "ComposableQuantizer: ", quantizers_.size(),
              " quantizers but ", names_.size(), " names");
  for (size_t i = 0; i < quantizers_.size(); ++i) {
    TORCH_CHECK(quantizers_[i] != nullptr, "ComposableQuantizer: quantizer ", i, " is null");
    if (names_.size() < quantizers_.size()) {
      const Quantizer& q = *quantizers_[i];
      names_.push_back(c10::demangle(typeid(q).name()));
    }
  }
}

torch::jit::Module ComposableQuantizer::transform_for_annotation(torch::jit::Module module) {
  for (auto& quantizer : quantizers_) module = quantizer->transform_for_annotation(module);
  return module;
}

void ComposableQuantizer::annotate(torch::jit::Module& module, AnnotationTable& annotations) {
  auto graph = module.get_method("forward").graph();
  // Per node: the quantizer that annotated it and what it recorded.
  std::unordered_map<const torch::jit::Node*, std::pair<size_t, QuantizationAnnotation>> recorded;
  for (size_t i = 0; i < quantizers_.size(); ++i) {
    quantizers_[i]->annotate(module, annotations);
    for (torch::jit::Node* node : graph->nodes()) {
      const auto* annotation = annotations.find(node);
      const auto it = recorded.find(node);
      if (it == recorded.end()) {
        if (annotation) recorded.emplace(node, std::make_pair(i, *annotation));
        continue;
      }
      const std::string& owner = names_[it->second.first];
      TORCH_CHECK(annotation != nullptr, "ComposableQuantizer: quantizer ", i, " (", names_[i],
                  ") removed the annotation that quantizer ", it->second.first, " (", owner, ") made on node ",
                  describe(node));
      TORCH_CHECK(same_annotation(*annotation, it->second.second), "ComposableQuantizer: quantizer ", i, " (",
                  names_[i], ") changed the annotation that quantizer ", it->second.first, " (", owner,
                  ") made on node ", describe(node));
    }
  }
}

void ComposableQuantizer::validate(const torch::jit::Module& module, const AnnotationTable& annotations) {
  for (auto& quantizer : quantizers_) quantizer->validate(module, annotations);
}

}  // namespace quantizer
}  // namespace torch_pt2e
