#include "torch_pt2e_plugin/passes/fold_quantize.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <torch/csrc/jit/runtime/graph_iterator.h>

#include <ATen/core/stack.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/constants.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/passes/attribute_groups.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

bool is_never_folded(const Node* node) {
  return is_dequantize(node) || node->kind() == qdq_kinds().convert_element_type;
}

// Evaluates values computed from attributes and constants only.
class ConstantEvaluator {
 public:
  ConstantEvaluator(const Module& module, size_t expected_values) : module_(module) {
    cache_.reserve(4 * expected_values);
  }

  c10::optional<c10::IValue> evaluate(Value* value) {
    const auto cached = cache_.find(value);
    if (cached != cache_.end()) return cached->second;
    c10::optional<c10::IValue> result = compute(value);
    cache_[value] = result;
    return result;
  }

 private:
  c10::optional<c10::IValue> compute(Value* value) {
    Node* node = value->node();
    if (node->kind() == c10::prim::Constant) return torch::jit::toIValue(value);
    if (node->kind() == c10::prim::GetAttr) return attribute_of(node);
    if (node->kind() == c10::prim::unchecked_cast) return evaluate(node->input());
    if (node->kind() == c10::prim::Param || node->blocks().size() > 0 || is_never_folded(node) ||
        node->kind() == c10::prim::CallMethod || node->kind() == c10::prim::CallFunction) {
      return c10::nullopt;
    }
    // The inputs before the checks that look the operator up (matching the
    // node against its kind's schemas): most nodes the walk meets compute
    // from the model's input, and each input is evaluated once.
    torch::jit::Stack stack;
    for (Value* input : node->inputs()) {
      auto evaluated = evaluate(input);
      if (!evaluated) return c10::nullopt;
      stack.push_back(*evaluated);
    }
    if (node->hasSideEffects() || node->isNondeterministic()) return c10::nullopt;
    if (node->kind() != c10::prim::ListConstruct && node->kind() != c10::prim::TupleConstruct &&
        node->maybeOperator() == nullptr) {
      return c10::nullopt;
    }
    if (node->kind() == c10::prim::ListConstruct) {
      // Typed lists, as the interpreter builds them.
      auto list_type = node->output()->type()->expect<c10::ListType>();
      c10::impl::GenericList list(list_type->getElementType());
      for (auto& item : stack) list.push_back(item);
      stack.clear();
      stack.emplace_back(std::move(list));
    } else if (node->kind() == c10::prim::TupleConstruct) {
      auto tuple = c10::ivalue::Tuple::create(std::vector<c10::IValue>(stack.begin(), stack.end()));
      stack.clear();
      stack.emplace_back(std::move(tuple));
    } else {
      node->getOperation()(stack);
    }
    TORCH_CHECK(stack.size() == node->outputs().size(), "fold_quantize: ", node->kind().toQualString(), " returned ",
                stack.size(), " values for ", node->outputs().size(), " outputs");
    for (size_t i = 0; i < node->outputs().size(); ++i) cache_[node->output(i)] = stack[i];
    return cache_.at(value);
  }

  // attribute_value's result, one step from the (cached) holder object: the
  // module for a read of the graph's self, else the holder read's value.
  c10::optional<c10::IValue> attribute_of(Node* get) {
    Value* object = get->input();
    c10::intrusive_ptr<c10::ivalue::Object> holder;
    const auto& graph_inputs = get->owningGraph()->inputs();
    if (!graph_inputs.empty() && object == graph_inputs[0]) {
      holder = module_._ivalue();
    } else if (object->node()->kind() == c10::prim::GetAttr) {
      const auto parent = evaluate(object);
      if (!parent || !parent->isObject()) return c10::nullopt;
      holder = parent->toObject();
    } else {
      return c10::nullopt;
    }
    const auto slot = attribute_slot(*holder->type(), get->s(c10::attr::name));
    if (!slot) return c10::nullopt;
    return holder->getSlot(*slot);
  }

  const Module& module_;
  std::unordered_map<Value*, c10::optional<c10::IValue>> cache_;
};

// Deletes the folded quantize nodes and, walking up, the nodes that only fed
// them. A whole-graph EliminateDeadCode would do the same but builds an
// AliasDb of the graph, once per convert; this walk touches only those nodes.
void remove_folded_chains(const std::vector<Node*>& folded) {
  std::vector<Node*> work(folded.begin(), folded.end());
  std::unordered_set<Node*> queued;
  queued.reserve(2 * folded.size());
  queued.insert(folded.begin(), folded.end());
  while (!work.empty()) {
    Node* node = work.back();
    work.pop_back();
    queued.erase(node);
    const bool used = std::any_of(node->outputs().begin(), node->outputs().end(),
                                  [](const Value* output) { return output->hasUses(); });
    const bool mutates = node->maybeSchema() != nullptr && node->schema().is_mutable();
    if (used || mutates || node->hasSideEffects() || !node->blocks().empty() ||
        node->kind() == c10::prim::Param) {
      continue;
    }
    std::vector<Node*> producers;
    for (Value* input : node->inputs()) producers.push_back(input->node());
    node->destroy();
    for (Node* producer : producers) {
      if (producer->kind() != c10::prim::Param && queued.insert(producer).second) work.push_back(producer);
    }
  }
}

}  // namespace

int64_t fold_quantize(Module& module) {
  auto graph = module.get_method("forward").graph();
  std::vector<Node*> quantizes;
  for (Node* node : graph->nodes()) {
    if (is_quantize(node) && !(node->kind() == qdq_kinds().quantize_per_tensor && has_overload(node, "tensor2"))) {
      quantizes.push_back(node);
    }
  }
  ConstantEvaluator evaluator(module, quantizes.size());
  AttributeNames names(module);
  // On the module, or in groups when there are very many (passes/attribute_groups.h).
  AttributeGroups holders(module, *graph, kFrozenParamGroupsAttribute, static_cast<int64_t>(quantizes.size()));
  int64_t folded = 0;
  std::vector<Node*> folded_nodes;
  for (Node* q : quantizes) {
    const auto input = evaluator.evaluate(q->input(0));
    if (!input || !input->isTensor()) continue;
    const auto result = evaluator.evaluate(q->output());
    if (!result || !result->isTensor()) continue;
    const std::string name = names.take_unique("_frozen_param" + std::to_string(folded));
    const AttributeGroups::Holder holder = holders.next();
    jit::append_attribute(holder.module, name, c10::TensorType::get(), result->toTensor(),
                          c10::AttributeKind::BUFFER);
    // Read where the quantize was, not at the graph's start (see pool_constants
    // in graph_utils.h: insertions there can renumber the graph each time).
    Node* read = create_get_attr(*graph, holder.read, name, c10::TensorType::get());
    read->insertBefore(q);
    read->output()->setDebugName(name);
    Value* attribute = read->output();
    copy_metadata(q, attribute->node());
    q->output()->replaceAllUsesWith(attribute);
    folded_nodes.push_back(q);
    ++folded;
  }
  remove_folded_chains(folded_nodes);
  return folded;
}

namespace {

// An object that holds nothing: a class without attributes, or a module
// class without methods whose only attributes are nn.Module's bookkeeping
// that scripting records (`training`, `_is_full_backward_hook`). That is
// what a submodule becomes once forward is inlined and its weights are
// folded away (ResNet-18's batch norms, ReLUs and poolings), and each one
// left costs torch's Python wrapper and every save and load a module.
bool is_empty_class(const c10::TypePtr& type) {
  const auto cls = type->cast<c10::ClassType>();
  if (!cls) return false;
  if (cls->numAttributes() == 0) return true;
  if (!cls->is_module() || !cls->methods().empty()) return false;
  for (size_t slot = 0; slot < cls->numAttributes(); ++slot) {
    const std::string& name = cls->getAttributeName(slot);
    const auto& attribute_type = *cls->getAttribute(slot);
    static const c10::TypePtr optional_bool = c10::OptionalType::create(c10::BoolType::get());
    const bool bookkeeping = (name == "training" && attribute_type == *c10::BoolType::get()) ||
                             (name == "_is_full_backward_hook" && attribute_type.isSubtypeOf(*optional_bool));
    if (!bookkeeping) return false;
  }
  return true;
}

}  // namespace

int64_t remove_unused_attributes(Module& module) {
  auto graph = module.get_method("forward").graph();
  eliminate_dead_code(graph);
  // (object, slot) pairs the graph reads, including module-valued ones;
  // sorted, for lookups by binary search (a hash set costs an allocation
  // per read, and a converted graph has one read per weight and qparam).
  using Read = std::pair<const c10::ivalue::Object*, size_t>;
  std::vector<Read> used;
  // Every block (a read inside a branch keeps its attribute too), in order:
  // a module-valued read is resolved before the reads of its attributes, so
  // each read resolves from its holder's object in one step.
  std::unordered_map<const Value*, c10::ivalue::Object*> objects{{graph->inputs()[0], module._ivalue().get()}};
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); Node* node = it.next();) {
    if (node->kind() != c10::prim::GetAttr) continue;
    const auto holder = objects.find(node->input());
    if (holder == objects.end()) continue;
    c10::ivalue::Object* object = holder->second;
    const auto slot = attribute_slot(*object->type(), node->s(c10::attr::name));
    if (!slot) continue;
    used.emplace_back(object, *slot);
    const c10::IValue& value = object->getSlot(*slot);
    if (value.isObject()) objects.emplace(node->output(), value.toObject().get());
  }
  std::sort(used.begin(), used.end());
  // Instances by type: an attribute leaves a type only when no instance of
  // that type is read (types are shared between instances).
  std::unordered_map<const c10::ClassType*, std::vector<Module>> instances;
  std::vector<Module> stack{module};
  while (!stack.empty()) {
    const Module current = stack.back();
    stack.pop_back();
    instances[current.type().get()].push_back(current);
    const auto& type = *current.type();
    for (size_t slot = 0; slot < type.numAttributes(); ++slot) {
      const c10::IValue& value = current._ivalue()->getSlot(slot);
      if (type.getAttribute(slot)->is_module() && value.isObject()) stack.emplace_back(value.toObject());
    }
  }
  // Types children first (post-order over the types' module attributes): a
  // type whose instances are emptied here is empty before any type that
  // holds it is visited, also where two parent types share a child type.
  std::vector<const c10::ClassType*> order;
  std::unordered_set<const c10::ClassType*> visited;
  std::vector<std::pair<const c10::ClassType*, size_t>> path{{module.type().get(), 0}};
  visited.insert(module.type().get());
  while (!path.empty()) {
    auto& [type, next_slot] = path.back();
    if (next_slot == type->numAttributes()) {
      order.push_back(type);
      path.pop_back();
      continue;
    }
    const auto child = type->getAttribute(next_slot++)->cast<c10::ClassType>();
    if (child && instances.count(child.get()) && visited.insert(child.get()).second) {
      path.emplace_back(child.get(), 0);
    }
  }
  int64_t removed = 0;
  for (const c10::ClassType* visited_type : order) {
    const auto& all = instances.at(visited_type);
    const auto type = all.front().type();
    // Methods other than the top module's forward may read attributes.
    if (!type->methods().empty() && type != module.type()) continue;
    // Last slot first, so that removing one leaves the slots still to visit where they are.
    for (size_t slot = type->numAttributes(); slot-- > 0;) {
      const auto& attribute_type = type->getAttribute(slot);
      const bool tensor_like = attribute_type->isSubtypeOf(*c10::TensorType::get()) ||
                               attribute_type->isSubtypeOf(*c10::OptionalType::ofTensor());
      const bool empty_module = is_empty_class(attribute_type);
      if (!tensor_like && !empty_module) continue;
      const bool read = std::any_of(all.begin(), all.end(), [&](const Module& instance) {
        return std::binary_search(used.begin(), used.end(), Read(instance._ivalue().get(), slot));
      });
      if (read) continue;
      const std::string name = type->getAttributeName(slot);
      for (const Module& instance : all) instance._ivalue()->unsafeRemoveSlot(slot);
      type->unsafeRemoveAttribute(name);
      ++removed;
    }
  }
  return removed;
}

}  // namespace passes
}  // namespace torch_pt2e
