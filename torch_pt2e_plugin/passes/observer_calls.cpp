#include "torch_pt2e_plugin/passes/observer_calls.h"

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {

using torch::jit::Node;
using torch::jit::Value;

Value* insert_observer_call(torch::jit::Graph& graph, const std::string& attribute, const c10::TypePtr& type,
                            Value* input) {
  Node* after = input->node();
  Node* insert_before =
      after->kind() == c10::prim::Param ? graph.block()->nodes().front() : after->next();
  torch::jit::WithInsertPoint guard(insert_before);
  Node* get = graph.insertNode(create_get_attr(graph, graph.inputs()[0], attribute, type));
  Node* call = graph.insertNode(graph.create(c10::prim::CallMethod, {get->output(), input}));
  call->s_(c10::attr::name, "forward");
  call->output()->setType(input->type());
  call->setSourceRange(after->sourceRange());
  return call->output();
}

c10::optional<std::string> observer_call_name(const Node* node) {
  if (node->kind() != c10::prim::CallMethod || node->s(c10::attr::name) != "forward" || node->inputs().size() != 2) {
    return c10::nullopt;
  }
  const Node* get = node->input(0)->node();
  if (get->kind() != c10::prim::GetAttr || get->input() != node->owningGraph()->inputs()[0]) return c10::nullopt;
  return get->s(c10::attr::name);
}

}  // namespace passes
}  // namespace torch_pt2e
