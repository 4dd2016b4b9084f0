#include "torch_pt2e_plugin/passes/port_metadata.h"

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

Value* annotated_input(Node* node, const std::pair<int64_t, int64_t>& position) {
  if (position.first < 0 || position.first >= static_cast<int64_t>(node->inputs().size())) return nullptr;
  Value* input = node->input(position.first);
  if (position.second < 0) return input;
  Node* list = input->node();
  if (list->kind() != c10::prim::ListConstruct || position.second >= static_cast<int64_t>(list->inputs().size())) {
    return nullptr;
  }
  return list->input(position.second);
}

}  // namespace

bool port_metadata(torch::jit::Graph& graph, const std::unordered_map<const Node*, AnnotatedNodeRecord>& annotated) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    const auto it = annotated.find(node);
    if (it == annotated.end() || !it->second.valid) continue;
    for (const auto& position : it->second.inputs) {
      Value* input = annotated_input(node, position);
      if (!input || !is_dequantize(input->node())) continue;
      Node* dq = input->node();
      copy_metadata(node, dq);
      Node* q = dq->input(0)->node();
      if (!is_quantize(q)) continue;
      Node* source = q->input(0)->node();
      if (source->kind() == c10::prim::GetAttr) {
        copy_metadata(source, q);
      } else if (q->inputs().size() > 1 && is_choose_qparams(q->input(1)->node())) {
        copy_metadata(node, q);
        copy_metadata(node, q->input(1)->node());
      }
      changed = true;
    }
    if (it->second.output && node->outputs().size() == 1 && node->output()->uses().size() == 1) {
      Node* user = node->output()->uses()[0].user;
      if (is_quantize(user)) {
        copy_metadata(node, user);
        changed = true;
      }
    }
  }
  return changed;
}

}  // namespace passes
}  // namespace torch_pt2e
