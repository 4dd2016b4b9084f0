#include "torch_pt2e_plugin/flow/flow_ops.h"

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/passes/shape_analysis.h>

#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/flow/report.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/fuse_conv_bn_qat.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/reference_representation.h"
#include "torch_pt2e_plugin/passes/insert_observers.h"
#include "torch_pt2e_plugin/quantizer/annotation_json.h"

namespace torch_pt2e {
namespace flow {
namespace {

using nlohmann::json;

torch::jit::Module as_module(const char* op, const c10::IValue& value) {
  TORCH_CHECK(value.isObject() && value.toObject()->type()->is_module(), op,
              ": expected a TorchScript module (a ScriptModule's `_c`), got ", value.tagKind());
  return torch::jit::Module(value.toObject());
}

c10::IValue canonicalize(const c10::IValue& module, bool is_qat) {
  const auto m = as_module("torch_pt2e::canonicalize", module);
  TORCH_CHECK(is_qat || !m.is_training(), "prepare_pt2e expects a module in eval mode (call model.eval() first)");
  return passes::canonicalize_for_annotation(m, canonicalize_options(is_qat))._ivalue();
}

// Types of the graph inputs from example inputs, then dtype/shape propagation,
// so annotators can see which values are float tensors.
void propagate_types(const c10::IValue& module, const std::vector<at::Tensor>& example_inputs) {
  auto m = as_module("torch_pt2e::propagate_types", module);
  auto graph = m.get_method("forward").graph();
  TORCH_CHECK(graph->inputs().size() == example_inputs.size() + 1, "prepare_pt2e: forward takes ",
              graph->inputs().size() - 1, " inputs, but ", example_inputs.size(), " example inputs were given");
  for (size_t i = 0; i < example_inputs.size(); ++i) {
    graph->inputs()[i + 1]->setType(c10::TensorType::create(example_inputs[i]));
  }
  torch::jit::PropagateInputShapes(graph);
}

c10::IValue insert_observers(const c10::IValue& module, const std::string& annotations, bool is_qat) {
  auto m = as_module("torch_pt2e::insert_observers", module);
  auto graph = m.get_method("forward").graph();
  auto table = quantizer::annotations_from_json(*graph, json::parse(annotations));
  // prepare_qat_pt2e's order (quantize_pt2e.cpp): fuse after annotation.
  if (is_qat) passes::fuse_conv_bn_qat(m, table);
  passes::insert_observers(m, table, is_qat);
  return m._ivalue();
}

c10::IValue convert(const c10::IValue& module, const c10::Dict<std::string, c10::List<at::Tensor>>& derived_qparams,
                    bool use_reference_representation, bool fold_quantize, const std::string& reference_numerics) {
  ConvertOptions options;
  for (const auto& entry : derived_qparams) {
    TORCH_CHECK(entry.value().size() == 2, "torch_pt2e::convert: derived_qparams['", entry.key(),
                "'] must be [scale, zero_point], got ", entry.value().size(), " tensors");
    options.derived_qparams[entry.key()] = {entry.value().get(0), entry.value().get(1)};
  }
  options.use_reference_representation = use_reference_representation;
  options.reference_numerics = passes::parse_reference_numerics(reference_numerics);
  TORCH_CHECK(use_reference_representation || options.reference_numerics == passes::ReferenceNumerics::kUpstream,
              "torch_pt2e::convert: reference_numerics='", reference_numerics,
              "' is the arithmetic of the reference representation; pass use_reference_representation=True too");
  options.fold_quantize = fold_quantize;
  return convert_pt2e(as_module("torch_pt2e::convert", module), options)._ivalue();
}

// Per top-level node: the module path/type stack it was inlined from and its
// source location, for the Python graph view's meta["nn_module_stack"].
std::string node_info(const c10::IValue& module) {
  auto m = as_module("torch_pt2e::node_info", module);
  auto graph = m.get_method("forward").graph();
  json nodes = json::array();
  for (torch::jit::Node* node : graph->nodes()) {
    json stack = json::array();
    for (const auto& entry : passes::module_stack(node)) stack.push_back({entry.first, entry.second});
    std::string source;
    if (const auto range = node->sourceRange().file_line_col()) {
      source = std::get<0>(*range) + ":" + std::to_string(std::get<1>(*range));
    }
    nodes.push_back({{"module_stack", stack}, {"source", source}});
  }
  return nodes.dump();
}


std::string report(const c10::IValue& module) {
  return prepare_report(as_module("torch_pt2e::prepare_report", module)).dump();
}

}  // namespace

ops::OpFamily flow_ops() {
  ops::OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "flow";
  family.schemas = {
      "canonicalize(Any module, bool is_qat=False) -> Any",
      "propagate_types(Any module, Tensor[] example_inputs) -> ()",
      "insert_observers(Any module, str annotations, bool is_qat=False) -> Any",
      "convert(Any module, Dict(str, Tensor[]) derived_qparams, bool use_reference_representation=False, "
      "bool fold_quantize=True, str reference_numerics=\"upstream\") -> Any",
      "node_info(Any module) -> str",
      "prepare_report(Any module) -> str",
  };
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    auto impl = [&](const char* name, auto&& fn) {
      if (ops::defined_by_plugin(defined, name)) lib.impl(name, std::forward<decltype(fn)>(fn));
    };
    impl("canonicalize", TORCH_FN(canonicalize));
    impl("propagate_types", TORCH_FN(propagate_types));
    impl("insert_observers", TORCH_FN(insert_observers));
    impl("convert", TORCH_FN(convert));
    impl("node_info", TORCH_FN(node_info));
    impl("prepare_report", TORCH_FN(report));
  };
  return family;
}

}  // namespace flow
}  // namespace torch_pt2e
