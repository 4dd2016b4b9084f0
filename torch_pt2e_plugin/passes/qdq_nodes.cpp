#include "torch_pt2e_plugin/passes/qdq_nodes.h"

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {

const QdqKinds& qdq_kinds() {
  static const QdqKinds kinds{c10::Symbol::fromQualString("quantized_decomposed::quantize_per_tensor"),
                              c10::Symbol::fromQualString("quantized_decomposed::quantize_per_channel"),
                              c10::Symbol::fromQualString("quantized_decomposed::dequantize_per_tensor"),
                              c10::Symbol::fromQualString("quantized_decomposed::dequantize_per_channel"),
                              c10::Symbol::fromQualString("quantized_decomposed::convert_element_type")};
  return kinds;
}

bool is_quantize(const torch::jit::Node* node) {
  const auto& k = qdq_kinds();
  return node->kind() == k.quantize_per_tensor || node->kind() == k.quantize_per_channel;
}

bool is_dequantize(const torch::jit::Node* node) {
  const auto& k = qdq_kinds();
  return node->kind() == k.dequantize_per_tensor || node->kind() == k.dequantize_per_channel;
}

// (Kinds are compared first and overload names without building the
// qualified name: these run on every node of 100k-node graphs.)
bool has_overload(const torch::jit::Node* node, const char* overload) {
  const auto* schema = node->maybeSchema();
  return schema != nullptr && schema->overload_name() == overload;
}

bool is_duplicable_dequantize(const torch::jit::Node* node) {
  const auto& k = qdq_kinds();
  if (node->kind() == k.dequantize_per_channel) return has_overload(node, "");
  return node->kind() == k.dequantize_per_tensor && (has_overload(node, "") || has_overload(node, "tensor"));
}

bool is_choose_qparams(const torch::jit::Node* node) {
  static const c10::Symbol choose_qparams = c10::Symbol::fromQualString("quantized_decomposed::choose_qparams");
  return node->kind() == choose_qparams && has_overload(node, "tensor");
}

bool is_shape_query(const torch::jit::Node* node) {
  static const c10::Symbol numel = c10::Symbol::fromQualString("aten::numel");
  const auto kind = node->kind();
  return kind == c10::aten::size || kind == numel || kind == c10::aten::dim;
}

}  // namespace passes
}  // namespace torch_pt2e
