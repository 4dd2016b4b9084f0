#include "torch_pt2e_plugin/passes/fuse_conv_bn_qat.h"

#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/ir.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// aten::conv* argument slots shared by every convolution form.
constexpr size_t kConvWeight = 1, kConvBias = 2;
// aten::batch_norm argument slots.
constexpr size_t kBnInput = 0, kBnWeight = 1, kBnVar = 4, kBnEps = 7;

bool is_shape_only_use(const Node* user) {
  const auto kind = user->kind();
  return kind == c10::aten::size || kind == c10::aten::dim || kind == c10::aten::len;
}

bool is_tensor(const Value* v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

// Reads attribute `path` ("bn.running_var") of the graph's self at the
// current insertion point, so the read dominates whatever follows.
Value* read_attribute(Graph& graph, const std::string& path) {
  Value* v = graph.inputs()[0];
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string field = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    v = graph.insertGetAttr(v, field);
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value* int_list(Graph& graph, const std::vector<int64_t>& values) { return graph.insertConstant(values); }

void rekey(quantizer::AnnotationTable& annotations, Node* node, Value* from, Value* to) {
  auto* annotation = annotations.find(node);
  if (!annotation) return;
  for (auto& entry : annotation->input_qspec_map) {
    if (entry.first == from) entry.first = to;
  }
}

bool fuse(Node* bn, torch::jit::Module& module, quantizer::AnnotationTable& annotations) {
  Value* conv_out = bn->input(kBnInput);
  Node* conv = conv_out->node();
  if (!is_conv(conv)) return false;
  for (const auto& use : conv_out->uses()) {
    if (use.user != bn && !is_shape_only_use(use.user)) return false;
  }
  const auto weight = attribute_tensor(conv->input(kConvWeight), module);
  const auto bn_weight = resolve_attribute(bn->input(kBnWeight), module);
  const auto running_var = resolve_attribute(bn->input(kBnVar), module);
  const auto eps = constant_value(bn->input(kBnEps));
  if (!weight || !bn_weight || !running_var || !eps || !eps->isDouble()) return false;
  if (!attribute_tensor(bn->input(kBnWeight), module) || !attribute_tensor(bn->input(kBnVar), module)) return false;
  Value* bias = conv->input(kConvBias);
  const bool has_bias = is_tensor(bias);
  if (!has_bias) {
    const auto none = constant_value(bias);
    if (!none || !none->isNone()) return false;
  }
  const bool transpose = is_conv_transpose(conv);
  if (transpose) {
    const auto groups = constant_value(conv->input(6));
    if (!groups || !groups->isInt() || groups->toInt() != 1) return false;  // out channels are not dim 1
  }

  Graph& graph = *conv->owningGraph();
  std::vector<int64_t> weight_shape(weight->dim(), 1), bias_shape(weight->dim(), 1);
  weight_shape[transpose ? 1 : 0] = -1;
  bias_shape[1] = -1;
  Value* scaled_weight = nullptr;
  Value* zero_bias = nullptr;
  Value* scale_factor = nullptr;
  Node* before_conv = conv->prev();
  {
    torch::jit::WithInsertPoint guard(conv);
    Value* var = read_attribute(graph, running_var->path);
    Value* gamma = read_attribute(graph, bn_weight->path);
    Value* std = graph.insert(c10::aten::sqrt, {graph.insert(c10::aten::add, {var, *eps})});
    scale_factor = graph.insert(c10::aten::div, {gamma, std});
    scaled_weight = graph.insert(c10::aten::mul, {conv->input(kConvWeight),
                                                  graph.insert(c10::aten::reshape,
                                                               {scale_factor, int_list(graph, weight_shape)})});
    if (has_bias) zero_bias = graph.insert(c10::aten::zeros_like, {bias});
  }
  for (Node* created = before_conv->next(); created != conv; created = created->next()) copy_metadata(conv, created);
  Value* old_weight = conv->input(kConvWeight);
  conv->replaceInput(kConvWeight, scaled_weight);
  rekey(annotations, conv, old_weight, scaled_weight);
  if (has_bias) {
    conv->replaceInput(kConvBias, zero_bias);
    rekey(annotations, conv, bias, zero_bias);
  }
  Value* rescaled = nullptr;
  Node* before_bn = bn->prev();
  {
    torch::jit::WithInsertPoint guard(bn);
    rescaled = graph.insert(c10::aten::div,
                            {conv_out, graph.insert(c10::aten::reshape, {scale_factor, int_list(graph, bias_shape)})});
    if (has_bias) {
      rescaled = graph.insert(c10::aten::add,
                              {rescaled, graph.insert(c10::aten::reshape, {bias, int_list(graph, bias_shape)})});
    }
  }
  for (Node* created = before_bn->next(); created != bn; created = created->next()) copy_metadata(conv, created);
  bn->replaceInput(kBnInput, rescaled);
  return true;
}

}  // namespace

int64_t fuse_conv_bn_qat(torch::jit::Module& module, quantizer::AnnotationTable& annotations) {
  auto graph = module.get_method("forward").graph();
  std::vector<Node*> batch_norms;
  for (Node* node : graph->nodes()) {
    if (node->kind() == c10::aten::batch_norm) batch_norms.push_back(node);
  }
  int64_t fused = 0;
  for (Node* bn : batch_norms) fused += fuse(bn, module, annotations) ? 1 : 0;
  return fused;
}

}  // namespace passes
}  // namespace torch_pt2e
