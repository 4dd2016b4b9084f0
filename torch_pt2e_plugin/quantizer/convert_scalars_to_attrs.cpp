#include "torch_pt2e_plugin/quantizer/convert_scalars_to_attrs.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace quantizer {
namespace {

using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

// The literal an operand holds: a number constant, or a 0-d constant tensor.
c10::optional<double> literal_of(Value* value) {
  if (value->node()->kind() != c10::prim::Constant) return c10::nullopt;
  const auto constant = passes::constant_value(value);
  if (!constant) return c10::nullopt;
  if (constant->isDouble()) return constant->toDouble();
  if (constant->isInt()) return static_cast<double>(constant->toInt());
  if (constant->isBool()) return constant->toBool() ? 1.0 : 0.0;
  if (constant->isTensor() && constant->toTensor().dim() == 0) return constant->toTensor().item<double>();
  return c10::nullopt;
}

bool known_non_float(Value* value) {
  const auto type = value->type()->cast<c10::TensorType>();
  if (!type) return false;
  const auto dtype = type->scalarType();
  return dtype.has_value() && !at::isFloatingType(*dtype);
}

std::string fresh_constant_name(const Module& module) {
  for (int64_t i = 0;; ++i) {
    const std::string name = "_tensor_constant_" + std::to_string(i);
    if (!module.hasattr(name) && !module.type()->hasAttribute(name)) return name;
  }
}

// A float32 0-d buffer holding `literal`, read right before `node`.
Value* buffer_before(Module& module, Node* node, double literal) {
  const at::Tensor tensor = at::scalar_tensor(literal, at::kFloat);
  const std::string name = fresh_constant_name(module);
  module.register_buffer(name, tensor);
  Graph& graph = *node->owningGraph();
  torch::jit::WithInsertPoint guard(node);
  Node* get = graph.insertNode(graph.createGetAttr(graph.inputs()[0], name));
  get->output()->setType(c10::TensorType::create(tensor));
  get->output()->setDebugName(name);
  passes::copy_metadata(node, get);
  return get->output();
}

}  // namespace

bool convert_scalars_to_attrs(Module& module) {
  auto graph = module.get_method("forward").graph();
  const std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
  bool changed = false;
  for (Node* node : nodes) {
    const std::string name = passes::schema_name(node);
    const bool scalar_overload = name == "aten::add.Scalar" || name == "aten::mul.Scalar";
    const bool tensor_overload = name == "aten::add.Tensor" || name == "aten::mul.Tensor";
    if (!scalar_overload && !tensor_overload) continue;
    if (scalar_overload) {
      const auto literal = literal_of(node->input(1));
      if (!literal || known_non_float(node->input(0))) continue;
      Value* buffer = buffer_before(module, node, *literal);
      // Recreated so the node resolves to the .Tensor schema.
      std::vector<Value*> inputs(node->inputs().begin(), node->inputs().end());
      inputs[1] = buffer;
      torch::jit::WithInsertPoint guard(node);
      Node* replacement = graph->insertNode(graph->create(node->kind(), inputs));
      replacement->output()->setType(node->output()->type());
      passes::copy_metadata(node, replacement);
      node->output()->replaceAllUsesWith(replacement->output());
      node->destroy();
      TORCH_CHECK(passes::schema_name(replacement) == name.substr(0, name.find('.')) + ".Tensor",
                  "convert_scalars_to_attrs: ", name, " did not become a .Tensor call");
      changed = true;
      continue;
    }
    for (size_t i = 0; i < 2; ++i) {
      const auto literal = literal_of(node->input(i));
      if (!literal || !node->input(i)->type()->isSubtypeOf(*c10::TensorType::get())) continue;
      if (known_non_float(node->input(1 - i))) continue;
      node->replaceInput(i, buffer_before(module, node, *literal));
      changed = true;
    }
  }
  return changed;
}

}  // namespace quantizer
}  // namespace torch_pt2e
