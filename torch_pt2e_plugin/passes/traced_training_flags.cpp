#include "torch_pt2e_plugin/passes/traced_training_flags.h"

#include <unordered_map>
#include <vector>

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// Op -> index of its training flag.
const std::unordered_map<c10::Symbol, size_t>& flag_inputs() {
  static const std::unordered_map<c10::Symbol, size_t> flags = [] {
    std::unordered_map<c10::Symbol, size_t> map{{c10::aten::batch_norm, 5}};
    for (const char* op : {"dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout"}) {
      map[c10::Symbol::aten(op)] = 2;
      map[c10::Symbol::aten(std::string(op) + "_")] = 2;
    }
    map[c10::Symbol::aten("rrelu")] = 3;
    map[c10::Symbol::aten("rrelu_")] = 3;
    return map;
  }();
  return flags;
}

bool is_none(Value* value) { return value->type()->kind() == c10::TypeKind::NoneType; }

bool is_constant_bool(Value* value) {
  const auto constant = torch::jit::toIValue(value);
  return constant && constant->isBool();
}

bool reads_attribute(Value* value, const char* name) {
  return value->node()->kind() == c10::prim::GetAttr && value->node()->s(c10::attr::name) == name;
}

}  // namespace

// True for a module made by torch.jit.trace: every input of its forward
// graph but `self` has a complete tensor type (dtype and sizes), which
// scripted graphs never record.
bool is_traced_module(const torch::jit::Module& module) {
  const auto inputs = module.get_method("forward").graph()->inputs();
  if (inputs.size() < 2) return false;
  for (size_t i = 1; i < inputs.size(); ++i) {
    const auto type = inputs[i]->type()->cast<c10::TensorType>();
    if (!type || !type->scalarType() || !type->sizes().concrete_sizes()) return false;
  }
  return true;
}

// Modifies `module`'s forward graph in place (the graph must be inlined);
// returns how many flags it rewrote.
int64_t read_training_flags_from_module(torch::jit::Module& module) {
  auto graph = module.get_method("forward").graph();
  std::vector<std::pair<Node*, size_t>> flags;
  std::vector<Node*> counter_updates;
  for (Node* node : graph->nodes()) {
    if (node->kind() == c10::aten::add_ && reads_attribute(node->input(0), "num_batches_tracked")) {
      counter_updates.push_back(node);
      continue;
    }
    const auto found = flag_inputs().find(node->kind());
    if (found == flag_inputs().end() || found->second >= node->inputs().size()) continue;
    if (!is_constant_bool(node->input(found->second))) continue;
    if (node->kind() == c10::aten::batch_norm && (is_none(node->input(3)) || is_none(node->input(4)))) continue;
    flags.emplace_back(node, found->second);
  }
  if (flags.empty()) return 0;
  Value* training = [&] {
    torch::jit::WithInsertPoint guard(graph->block()->nodes().front());
    return graph->insertGetAttr(graph->inputs()[0], "training");
  }();
  for (const auto& flag : flags) flag.first->replaceInput(flag.second, training);
  for (Node* update : counter_updates) {
    torch::jit::WithInsertPoint guard(update);
    Node* branch = graph->insertNode(graph->create(c10::prim::If, {training}, /*num_outputs=*/0));
    branch->addBlock()->appendNode(graph->createClone(update, [](Value* v) { return v; }));
    branch->addBlock();
    update->output()->replaceAllUsesWith(update->input(0));  // add_ returns its self
    update->destroy();
  }
  return static_cast<int64_t>(flags.size());
}

}  // namespace passes
}  // namespace torch_pt2e
