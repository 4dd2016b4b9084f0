#include "torch_pt2e_plugin/flow/report.h"

#include <map>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace torch_pt2e {
namespace flow {
namespace {

using nlohmann::json;
using torch::jit::Node;

json describe(Node* node) {
  const auto stack = passes::module_stack(node);
  std::string source;
  if (const auto range = node->sourceRange().file_line_col()) {
    source = std::get<0>(*range) + ":" + std::to_string(std::get<1>(*range));
  }
  return {{"kind", node->kind().toQualString()},
          {"module", stack.empty() ? std::string() : stack.back().first},
          {"source", source}};
}

void collect_blocks(Node* node, json& out) {
  for (torch::jit::Block* block : node->blocks()) {
    for (Node* inner : block->nodes()) {
      if (passes::is_operator_node(inner)) out.push_back(describe(inner));
      collect_blocks(inner, out);
    }
  }
}

}  // namespace

json prepare_report(const torch::jit::Module& prepared) {
  const auto state = passes::load_prepare_state(prepared);
  TORCH_CHECK(state.has_value(), "prepare_report expects a module returned by prepare_pt2e");
  auto graph = prepared.get_method("forward").graph();
  const auto annotated = passes::resolve_annotated_nodes(*graph, *state);
  std::map<std::string, int64_t> annotated_counts;
  json left_in_float = json::array();
  json in_control_flow = json::array();
  for (Node* node : graph->nodes()) {
    collect_blocks(node, in_control_flow);
    if (!passes::is_operator_node(node)) continue;
    if (annotated.count(node)) {
      ++annotated_counts[node->kind().toQualString()];
    } else if (!passes::is_quantize(node) && !passes::is_dequantize(node)) {
      left_in_float.push_back(describe(node));
    }
  }
  return {{"annotated", annotated_counts}, {"left_in_float", left_in_float}, {"in_control_flow", in_control_flow}};
}

}  // namespace flow
}  // namespace torch_pt2e
