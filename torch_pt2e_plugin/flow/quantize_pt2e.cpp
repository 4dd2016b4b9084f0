#include "torch_pt2e_plugin/flow/quantize_pt2e.h"

#include <memory>
#include <unordered_set>
#include <utility>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/observers/derived_observer.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/convert_observers.h"
#include "torch_pt2e_plugin/passes/duplicate_dequantize.h"
#include "torch_pt2e_plugin/passes/fold_conv_bn_qat.h"
#include "torch_pt2e_plugin/passes/fold_quantize.h"
#include "torch_pt2e_plugin/passes/fuse_conv_bn_qat.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/insert_observers.h"
#include "torch_pt2e_plugin/passes/pass_timer.h"
#include "torch_pt2e_plugin/passes/port_metadata.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"
#include "torch_pt2e_plugin/passes/reference_representation.h"

namespace torch_pt2e {
namespace {

// A converted QAT model is for inference: its `training` reads become False,
// and the branches they decided (batch-norm bookkeeping) go with them.
void freeze_training_flags(std::shared_ptr<torch::jit::Graph> graph) {
  for (auto it = graph->nodes().begin(); it != graph->nodes().end();) {
    torch::jit::Node* node = *it++;
    if (node->kind() != c10::prim::GetAttr || node->s(c10::attr::name) != "training") continue;
    torch::jit::WithInsertPoint guard(node);
    node->output()->replaceAllUsesWith(graph->insertConstant(false));
    node->destroy();
  }
  torch::jit::ConstantPropagationImmutableTypes(graph);
  passes::eliminate_dead_code(graph);
}

// After convert_observers, nothing may use the observers convert_pt2e did
// not clone: the converted module has no such attributes. (Unused reads go
// with dead code elimination.)
void check_no_uses_of(std::shared_ptr<torch::jit::Graph>& graph, const std::unordered_set<std::string>& observers) {
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); torch::jit::Node* node = it.next();) {
    if (node->kind() != c10::prim::GetAttr || node->input(0) != graph->inputs()[0]) continue;
    if (!node->output()->hasUses() || !observers.count(node->s(c10::attr::name))) continue;
    TORCH_CHECK(false, "convert_pt2e: the prepared graph uses observer '", node->s(c10::attr::name),
                "' in ", node->output()->uses()[0].user->kind().toQualString(),
                "; convert_pt2e converts only calls of an observer's forward in the top-level block");
  }
}

}  // namespace

torch::jit::Module prepare_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer) {
  TORCH_CHECK(!model.is_training(), "prepare_pt2e expects a module in eval mode (call model.eval() first); "
                                    "quantization-aware training uses prepare_qat_pt2e");
  torch::jit::Module module = passes::canonicalize_for_annotation(model, canonicalize_options(/*is_qat=*/false));
  module = quantizer.transform_for_annotation(module);
  quantizer::AnnotationTable annotations;
  {
    passes::PassTimer timer("prepare: annotate");
    quantizer.annotate(module, annotations);
    quantizer.validate(module, annotations);
  }
  passes::PassTimer timer("prepare: insert observers");
  passes::insert_observers(module, annotations, /*is_qat=*/false);
  return module;
}

passes::CanonicalizeOptions canonicalize_options(bool is_qat) {
  passes::CanonicalizeOptions options;
  options.fold_conv_bn = !is_qat;
  options.fold_training = !is_qat;
  return options;
}

torch::jit::Module prepare_qat_pt2e(const torch::jit::Module& model, quantizer::Quantizer& quantizer) {
  torch::jit::Module module = passes::canonicalize_for_annotation(model, canonicalize_options(/*is_qat=*/true));
  module = quantizer.transform_for_annotation(module);
  quantizer::AnnotationTable annotations;
  quantizer.annotate(module, annotations);
  quantizer.validate(module, annotations);
  // After annotation, as upstream: the fused arithmetic is not annotated.
  passes::fuse_conv_bn_qat(module, annotations);
  passes::insert_observers(module, annotations, /*is_qat=*/true);
  return module;
}

torch::jit::Module convert_pt2e(const torch::jit::Module& prepared, const ConvertOptions& options) {
  const auto state = passes::load_prepare_state(prepared);
  TORCH_CHECK(state.has_value(), "convert_pt2e expects a module returned by prepare_pt2e (it has no ",
              passes::kPrepareStateAttribute, " attribute)");
  // New types and graphs, shared tensors (see canonicalize_for_annotation).
  // The observers are not cloned: convert only reads them (on `prepared`)
  // and the result drops them, and cloning each observer's class costs more
  // than converting it. Derived observers given qparams here are cloned, so
  // that setting those leaves `prepared` as it was.
  auto clone_timer = std::make_unique<passes::PassTimer>("convert: clone");
  std::unordered_set<std::string> observer_names;
  for (auto& name : passes::observer_attribute_names(prepared)) {
    if (!options.derived_qparams.count(name)) observer_names.insert(std::move(name));
  }
  // QAT folds conv + bn on the copy before its observers become q/dq; PTQ
  // converts them while copying forward (passes/convert_observers.h), so the
  // clone's classes come without it.
  // (jit::clone_module, unlike Module::clone, drops attributes that forward
  // still reads: convert replaces those reads.)
  const bool copy_converting = !state->is_qat;
  jit::ClassClones classes;
  torch::jit::Module module =
      jit::clone_module(prepared, /*ignored_methods=*/copy_converting ? std::unordered_set<std::string>{"forward"}
                                                                       : std::unordered_set<std::string>{},
                        observer_names, &classes);
  clone_timer.reset();
  for (const auto& entry : options.derived_qparams) {
    TORCH_CHECK(module.hasattr(entry.first) && module.attr(entry.first).isObject(),
                "convert_pt2e: derived qparams given for '", entry.first, "', which is not an observer of the module");
    torch::jit::Module observer(module.attr(entry.first).toObject());
    TORCH_CHECK(observers::is_derived_observer(observer), "convert_pt2e: '", entry.first,
                "' is not a derived observer");
    observers::set_derived_qparams(observer, entry.second.first, entry.second.second);
  }
  std::unordered_map<const torch::jit::Node*, passes::AnnotatedNodeRecord> annotated;
  if (copy_converting) {
    // Operator ordinals are the same in prepared's graph and the copy (observer
    // calls and reads are not operators), so the records resolve there and
    // follow the nodes to their copies.
    const auto on_prepared = passes::resolve_annotated_nodes(*prepared.get_method("forward").graph(), *state);
    passes::PassTimer timer("convert: observers to q/dq");
    passes::copy_converting_observers(module, prepared, classes,
                                      [&](const torch::jit::Node* from, torch::jit::Node* to) {
                                        const auto it = on_prepared.find(from);
                                        if (it != on_prepared.end()) annotated.emplace(to, it->second);
                                      });
  } else {
    annotated = passes::resolve_annotated_nodes(*module.get_method("forward").graph(), *state);
    freeze_training_flags(module.get_method("forward").graph());
    for (const auto& folded : passes::fold_conv_bn_qat(module)) annotated.erase(folded.batch_norm);
    passes::PassTimer timer("convert: observers to q/dq");
    passes::convert_observers(module, prepared);
  }
  auto graph = module.get_method("forward").graph();
  check_no_uses_of(graph, observer_names);
  std::unordered_set<const torch::jit::Node*> validly_annotated;
  for (const auto& entry : annotated) {
    if (entry.second.valid) validly_annotated.insert(entry.first);
  }
  {
    passes::PassTimer timer("convert: duplicate dq, metadata");
    passes::duplicate_dequantize(*graph, validly_annotated);
    passes::port_metadata(*graph, annotated);
  }
  if (options.fold_quantize) {
    passes::PassTimer timer("convert: fold quantize");
    passes::fold_quantize(module);
  }
  if (options.use_reference_representation) passes::reference_representation(graph, options.reference_numerics);

  passes::PassTimer timer("convert: clean up");
  {
    passes::PassTimer step("clean up: observer modules");
    passes::remove_observer_modules(module);
    module._ivalue()->unsafeRemoveAttr(passes::kPrepareStateAttribute);
    module.type()->unsafeRemoveAttribute(passes::kPrepareStateAttribute);
  }
  {
    // remove_unused_attributes eliminates dead code first; pooling constants
    // after it gives the graph that eliminating, pooling, then removing gave.
    passes::PassTimer step("clean up: unused attributes");
    passes::remove_unused_attributes(module);
  }
  passes::PassTimer step("clean up: constant pooling");
  passes::pool_constants(graph);
  return module;
}

}  // namespace torch_pt2e
