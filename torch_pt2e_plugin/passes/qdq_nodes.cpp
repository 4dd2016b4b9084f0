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

bool is_duplicable_dequantize(const torch::jit::Node* node) {
  if (!is_dequantize(node)) return false;
  const std::string name = schema_name(node);
  return name == "quantized_decomposed::dequantize_per_tensor" ||
         name == "quantized_decomposed::dequantize_per_tensor.tensor" ||
         name == "quantized_decomposed::dequantize_per_channel";
}

bool is_choose_qparams(const torch::jit::Node* node) {
  return schema_name(node) == "quantized_decomposed::choose_qparams.tensor";
}

bool is_shape_query(const torch::jit::Node* node) {
  static const c10::Symbol numel = c10::Symbol::fromQualString("aten::numel");
  const auto kind = node->kind();
  return kind == c10::aten::size || kind == numel || kind == c10::aten::dim;
}

}  // namespace passes
}  // namespace torch_pt2e
