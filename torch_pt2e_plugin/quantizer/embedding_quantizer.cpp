#include "torch_pt2e_plugin/quantizer/embedding_quantizer.h"

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace quantizer {

QuantizationSpecCPtr embedding_weight_spec() {
  static const QuantizationSpecCPtr spec = [] {
    auto result = std::make_shared<QuantizationSpec>();
    result->dtype = at::kByte;
    result->qscheme = c10::kPerChannelAffineFloatQParams;
    result->ch_axis = 0;
    result->observer_or_fake_quant_ctr = ObserverCtor{"PerChannelMinMaxObserver", {{"eps", 1.0 / 4096.0}}};
    result->validate();
    return result;
  }();
  return spec;
}

void EmbeddingQuantizer::annotate(torch::jit::Module& module, AnnotationTable& annotations) {
  for (torch::jit::Node* node : module.get_method("forward").graph()->nodes()) {
    if (passes::schema_name(node) != "aten::embedding") continue;
    QuantizationAnnotation annotation;
    annotation.set_input(node->input(0), embedding_weight_spec());
    annotations.set(node, std::move(annotation));
  }
}

}  // namespace quantizer
}  // namespace torch_pt2e
