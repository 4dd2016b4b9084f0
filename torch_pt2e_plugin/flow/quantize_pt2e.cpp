#include "torch_pt2e_plugin/flow/quantize_pt2e.h"

#include <unordered_set>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include "torch_pt2e_plugin/observers/derived_observer.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/convert_observers.h"
#include "torch_pt2e_plugin/passes/duplicate_dequantize.h"
#include "torch_pt2e_plugin/passes/fold_quantize.h"
#include "torch_pt2e_plugin/passes/insert_observers.h"
#include "torch_pt2e_plugin/passes/port_metadata.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"

namespace torch_pt2e {

torch::jit::Module prepare_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer) {
  TORCH_CHECK(!model.is_training(), "prepare_pt2e expects a module in eval mode (call model.eval() first); "
                                    "quantization-aware training uses prepare_qat_pt2e");
  torch::jit::Module module = passes::canonicalize_for_annotation(model);
  module = quantizer.transform_for_annotation(module);
  quantizer::AnnotationTable annotations;
  quantizer.annotate(module, annotations);
  quantizer.validate(module, annotations);
  passes::insert_observers(module, annotations, /*is_qat=*/false);
  return module;
}

torch::jit::Module convert_pt2e(const torch::jit::Module& prepared, const ConvertOptions& options) {
  const auto state = passes::load_prepare_state(prepared);
  TORCH_CHECK(state.has_value(), "convert_pt2e expects a module returned by prepare_pt2e (it has no ",
              passes::kPrepareStateAttribute, " attribute)");
  torch::jit::Module module = prepared.clone();
  for (const auto& entry : options.derived_qparams) {
    TORCH_CHECK(module.hasattr(entry.first) && module.attr(entry.first).isObject(),
                "convert_pt2e: derived qparams given for '", entry.first, "', which is not an observer of the module");
    torch::jit::Module observer(module.attr(entry.first).toObject());
    TORCH_CHECK(observers::is_derived_observer(observer), "convert_pt2e: '", entry.first,
                "' is not a derived observer");
    observers::set_derived_qparams(observer, entry.second.first, entry.second.second);
  }
  auto graph = module.get_method("forward").graph();
  const auto annotated = passes::resolve_annotated_nodes(*graph, *state);
  std::unordered_set<const torch::jit::Node*> validly_annotated;
  for (const auto& entry : annotated) {
    if (entry.second.valid) validly_annotated.insert(entry.first);
  }

  passes::convert_observers(module);
  passes::duplicate_dequantize(*graph, validly_annotated);
  passes::port_metadata(*graph, annotated);
  if (options.fold_quantize) passes::fold_quantize(module);
  TORCH_CHECK(!options.use_reference_representation,
              "convert_pt2e: use_reference_representation=True needs the reference representation rewrite, which "
              "this build does not include yet");

  passes::remove_observer_modules(module);
  module._ivalue()->unsafeRemoveAttr(passes::kPrepareStateAttribute);
  module.type()->unsafeRemoveAttribute(passes::kPrepareStateAttribute);
  torch::jit::EliminateDeadCode(graph);
  torch::jit::ConstantPooling(graph);
  passes::remove_unused_attributes(module);
  return module;
}

}  // namespace torch_pt2e
