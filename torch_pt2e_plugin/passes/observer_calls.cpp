#include "torch_pt2e_plugin/passes/observer_calls.h"

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/passes/attribute_groups.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {

using torch::jit::Node;
using torch::jit::Value;

Value* insert_observer_call(torch::jit::Graph& graph, Value* holder, const std::string& attribute,
                            const c10::TypePtr& type, Value* input) {
  // The later definition of the two; a graph input or `self` is defined before every node.
  Node* after = input->node();
  if (after->kind() == c10::prim::Param || (holder->node()->kind() != c10::prim::Param &&
                                            after->owningBlock() == holder->node()->owningBlock() &&
                                            after->isBefore(holder->node()))) {
    after = holder->node();
  }
  Node* insert_before = after->kind() == c10::prim::Param ? graph.block()->nodes().front() : after->next();
  torch::jit::WithInsertPoint guard(insert_before);
  Node* get = graph.insertNode(create_get_attr(graph, holder, attribute, type));
  Node* call = graph.insertNode(graph.create(c10::prim::CallMethod, {get->output(), input}));
  call->s_(c10::attr::name, "forward");
  call->output()->setType(input->type());
  call->setSourceRange(input->node()->sourceRange());
  return call->output();
}

c10::optional<std::string> observer_call_name(const Node* node) {
  if (node->kind() != c10::prim::CallMethod || node->s(c10::attr::name) != "forward" || node->inputs().size() != 2) {
    return c10::nullopt;
  }
  const Node* get = node->input(0)->node();
  if (get->kind() != c10::prim::GetAttr) return c10::nullopt;
  const Value* holder = get->input();
  const bool on_self = holder == node->owningGraph()->inputs()[0];
  if (!on_self && !reads_attribute_group(holder->node(), kObserverGroupsAttribute)) return c10::nullopt;
  if (!on_self && holder->node()->s(c10::attr::name) == kObserverGroupsAttribute) return c10::nullopt;
  return get->s(c10::attr::name);
}

void destroy_observer_call(Node* call) {
  TORCH_CHECK(!call->output()->hasUses(), "internal: destroy_observer_call on a call whose output is used");
  Node* read = call->input(0)->node();
  call->destroy();
  // The observer's read, then its group's and the container's, while unused.
  while (read->kind() == c10::prim::GetAttr && !read->output()->hasUses()) {
    Node* parent = read->input()->node();
    read->destroy();
    if (!reads_attribute_group(parent, kObserverGroupsAttribute)) break;
    read = parent;
  }
}

}  // namespace passes
}  // namespace torch_pt2e
