#include "torch_pt2e_plugin/passes/duplicate_dequantize.h"

#include <vector>

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"
#include "torch_pt2e_plugin/passes/sharing_groups.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool is_dynamic_chain(const Node* dq) {
  const Node* q = dq->input(0)->node();
  return is_quantize(q) && q->inputs().size() > 1 && is_choose_qparams(q->input(1)->node());
}

// Replaces the uses of `from` by `user` (directly, or inside the list it consumes) with `to`.
void rewire(Node* user, Value* from, Value* to) {
  for (size_t i = 0; i < user->inputs().size(); ++i) {
    Value* input = user->input(i);
    if (input == from) {
      user->replaceInput(i, to);
    } else if (input->node()->kind() == c10::prim::ListConstruct && input->uses().size() == 1) {
      Node* list = input->node();
      for (size_t j = 0; j < list->inputs().size(); ++j) {
        if (list->input(j) == from) list->replaceInput(j, to);
      }
    }
  }
}

}  // namespace

bool duplicate_dequantize(torch::jit::Graph& graph, const std::unordered_set<const Node*>& annotated) {
  std::vector<Node*> candidates;
  for (Node* node : graph.nodes()) {
    if (is_duplicable_dequantize(node) && !is_dynamic_chain(node)) candidates.push_back(node);
  }
  bool changed = false;
  for (Node* dq : candidates) {
    std::vector<Node*> users;
    for (Node* user : effective_users(dq->output())) {
      if (!is_shape_query(user)) users.push_back(user);
    }
    if (users.size() <= 1) continue;
    for (Node* user : users) {
      if (annotated.count(user) == 0) continue;
      Node* copy = graph.createClone(dq, [](Value* v) { return v; });
      copy->insertAfter(dq);
      copy_metadata(dq, copy);
      rewire(user, dq->output(), copy->output());
      changed = true;
    }
    if (!dq->hasUses()) dq->destroy();
  }
  return changed;
}

}  // namespace passes
}  // namespace torch_pt2e
