#include "torch_pt2e_plugin/passes/fold_conv_bn_qat.h"

#include <string>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/ir.h>

#include "torch_pt2e_plugin/passes/conv_bn_weights.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/observer_calls.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

constexpr size_t kConvWeight = 1, kConvBias = 2;
constexpr size_t kBnInput = 0, kBnWeight = 1, kBnBias = 2, kBnMean = 3, kBnVar = 4, kBnEps = 7;
// prim::CallMethod of an observer: (module, input).
constexpr size_t kCallInput = 1;

// The observer/fake-quantize call producing `v`, if any.
Node* observer_call_of(Value* v) { return observer_call_name(v->node()) ? v->node() : nullptr; }

// The value a conv input carries before its fake-quantize call.
Value* before_observer(Value* v) {
  Node* call = observer_call_of(v);
  return call ? call->input(kCallInput) : v;
}

// An optional tensor argument: an attribute's tensor (also read through the
// prim::unchecked_cast canonicalize puts on Optional[Tensor] attributes), or None.
bool optional_tensor(Value* v, const Module& module, c10::optional<at::Tensor>& out) {
  if (v->node()->kind() == c10::prim::unchecked_cast) v = v->node()->input(0);
  if (const auto t = attribute_tensor(v, module)) {
    out = *t;
    return true;
  }
  const auto c = constant_value(v);
  return c && c->isNone();
}

bool fold(Node* bn, Module& module, std::vector<FoldedConvBn>& folded) {
  Value* y = bn->input(kBnInput);
  Value* conv_bias = nullptr;
  if (y->node()->kind() == c10::aten::add) {
    Node* reshape = y->node()->input(1)->node();
    if (reshape->kind() != c10::aten::reshape) return false;
    conv_bias = reshape->input(0);
    y = y->node()->input(0);
  }
  Node* div = y->node();
  if (div->kind() != c10::aten::div || !is_conv(div->input(0)->node())) return false;
  Node* conv = div->input(0)->node();
  Node* mul = before_observer(conv->input(kConvWeight))->node();
  if (mul->kind() != c10::aten::mul) return false;
  const auto weight = attribute_tensor(mul->input(0), module);
  const auto mean = attribute_tensor(bn->input(kBnMean), module);
  const auto var = attribute_tensor(bn->input(kBnVar), module);
  const auto eps = constant_value(bn->input(kBnEps));
  if (!weight || !mean || !var || !eps || !eps->isDouble()) return false;
  c10::optional<at::Tensor> bias, gamma, beta;
  if (conv_bias && !optional_tensor(conv_bias, module, bias)) return false;
  if (!optional_tensor(bn->input(kBnWeight), module, gamma) || !optional_tensor(bn->input(kBnBias), module, beta)) {
    return false;
  }
  const bool transpose = is_conv_transpose(conv);
  const auto fused = fuse_conv_bn_weights(*weight, bias, *mean, *var, eps->toDouble(), gamma, beta, transpose);

  Graph& graph = *conv->owningGraph();
  const auto weight_ref = resolve_attribute(mul->input(0), module);
  std::string base = weight_ref ? weight_ref->path : std::string("conv.weight");
  for (auto& c : base) c = c == '.' ? '_' : c;
  Value* new_weight = add_tensor_attribute(module, graph, base + "_fused_bn", fused.first, /*is_parameter=*/true);
  Value* new_bias = add_tensor_attribute(module, graph, base + "_fused_bn_bias", fused.second, /*is_parameter=*/true);
  if (Node* call = observer_call_of(conv->input(kConvWeight))) {
    call->replaceInput(kCallInput, new_weight);
  } else {
    conv->replaceInput(kConvWeight, new_weight);
  }
  if (Node* call = observer_call_of(conv->input(kConvBias))) {
    call->replaceInput(kCallInput, new_bias);
  } else {
    conv->replaceInput(kConvBias, new_bias);
  }
  bn->output()->replaceAllUsesWith(conv->output());
  folded.push_back({bn, conv});
  bn->destroy();
  return true;
}

}  // namespace

std::vector<FoldedConvBn> fold_conv_bn_qat(Module& module) {
  auto graph = module.get_method("forward").graph();
  std::vector<Node*> batch_norms;
  for (Node* node : graph->nodes()) {
    if (node->kind() == c10::aten::batch_norm) batch_norms.push_back(node);
  }
  std::vector<FoldedConvBn> folded;
  for (Node* bn : batch_norms) fold(bn, module, folded);
  return folded;
}

}  // namespace passes
}  // namespace torch_pt2e
