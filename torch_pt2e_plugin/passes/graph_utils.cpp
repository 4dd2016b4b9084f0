#include "torch_pt2e_plugin/passes/graph_utils.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/node_hashing.h>
#include <torch/csrc/jit/ir/scope.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"

namespace torch_pt2e {
namespace passes {

using torch::jit::Node;
using torch::jit::Value;

namespace {

// Whether some node of `graph`, nested blocks included, satisfies `predicate`.
template <typename Predicate>
bool any_node(const std::shared_ptr<torch::jit::Graph>& graph, Predicate predicate) {
  std::shared_ptr<torch::jit::Graph> walked = graph;  // (the iterator takes a non-const reference)
  for (torch::jit::DepthFirstGraphNodeIterator it(walked); Node* node = it.next();) {
    if (predicate(node)) return true;
  }
  return false;
}

}  // namespace

// ClassType's attribute lookup by name scans every attribute, which makes a
// pass over an nn.Sequential of N blocks quadratic (the top class has N
// attributes). Slots are cached per class; a cached slot is used only after
// checking the slot still has that name, so a stale entry can only cost a rebuild.
c10::optional<size_t> attribute_slot(const c10::ClassType& type, const std::string& name) {
  thread_local std::unordered_map<const c10::ClassType*, std::unordered_map<std::string, size_t>> cache;
  auto& slots = cache[&type];
  auto it = slots.find(name);
  if (it != slots.end() && it->second < type.numAttributes() && type.getAttributeName(it->second) == name) {
    return it->second;
  }
  slots.clear();
  for (size_t i = 0; i < type.numAttributes(); ++i) slots.emplace(type.getAttributeName(i), i);
  it = slots.find(name);
  if (it == slots.end()) return c10::nullopt;
  return it->second;
}

c10::optional<AttributeRef> resolve_attribute(Value* v, const torch::jit::Module& owner) {
  std::vector<std::string> names;
  Value* current = v;
  while (current->node()->kind() == c10::prim::GetAttr) {
    names.push_back(current->node()->s(c10::attr::name));
    current = current->node()->input();
  }
  const auto& graph_inputs = v->owningGraph()->inputs();
  if (names.empty() || graph_inputs.empty() || current != graph_inputs[0]) return c10::nullopt;
  c10::intrusive_ptr<c10::ivalue::Object> holder = owner._ivalue();
  std::string path;
  for (size_t i = names.size(); i-- > 1;) {
    const auto slot = attribute_slot(*holder->type(), names[i]);
    if (!slot) return c10::nullopt;
    const c10::IValue& child = holder->getSlot(*slot);
    if (!child.isObject()) return c10::nullopt;
    holder = child.toObject();
    path += names[i] + ".";
  }
  if (!attribute_slot(*holder->type(), names[0])) return c10::nullopt;
  return AttributeRef{torch::jit::Module(holder), names[0], path + names[0]};
}

c10::optional<AttributeSlot> resolve_attribute_slot(Value* v, const torch::jit::Module& owner) {
  Node* get = v->node();
  if (get->kind() != c10::prim::GetAttr) return c10::nullopt;
  Value* object = get->input();
  c10::intrusive_ptr<c10::ivalue::Object> holder;
  if (object->node()->kind() == c10::prim::GetAttr) {
    const auto parent = resolve_attribute_slot(object, owner);
    if (!parent) return c10::nullopt;
    const c10::IValue& child = parent->holder->getSlot(parent->slot);
    if (!child.isObject()) return c10::nullopt;
    holder = child.toObject();
  } else {
    const auto& graph_inputs = v->owningGraph()->inputs();
    if (graph_inputs.empty() || object != graph_inputs[0]) return c10::nullopt;
    holder = owner._ivalue();
  }
  const auto slot = attribute_slot(*holder->type(), get->s(c10::attr::name));
  if (!slot) return c10::nullopt;
  return AttributeSlot{std::move(holder), *slot};
}

c10::optional<c10::IValue> attribute_value(Value* v, const torch::jit::Module& owner) {
  const auto slot = resolve_attribute_slot(v, owner);
  if (!slot) return c10::nullopt;
  return slot->holder->getSlot(slot->slot);
}

c10::optional<at::Tensor> attribute_tensor(Value* v, const torch::jit::Module& owner) {
  const auto value = attribute_value(v, owner);
  if (!value || !value->isTensor()) return c10::nullopt;
  return value->toTensor();
}

c10::optional<c10::IValue> constant_value(Value* v) { return torch::jit::toIValue(v); }

void eliminate_dead_code(const std::shared_ptr<torch::jit::Graph>& graph) {
  // Dead code needs a node none of whose outputs is used (or an if/loop with
  // an unused output, whose block returns dead code elimination also trims):
  // following uses from any other node leads to the graph's return. Without
  // one, neither version below would remove anything, and the check costs
  // far less than either (no operator lookups, no alias analysis).
  const bool may_be_dead = any_node(graph, [](Node* node) {
    const auto outputs = node->outputs();
    const auto used = [](const Value* output) { return output->hasUses(); };
    return node->blocks().empty() ? std::none_of(outputs.begin(), outputs.end(), used)
                                  : !std::all_of(outputs.begin(), outputs.end(), used);
  });
  if (!may_be_dead) return;
  const bool writes = any_node(graph, [](Node* node) {
    const c10::FunctionSchema* schema = node->maybeSchema();
    // (an op without a schema is not known not to write)
    return schema != nullptr ? schema->is_mutable() : !node->kind().is_prim();
  });
  if (writes) {
    torch::jit::EliminateDeadCode(graph);
  } else {
    torch::jit::EliminateDeadCode(graph->block(), /*recurse=*/true);
  }
}

namespace {

// Types alias analysis gives no memory location: a constant of one of them
// can merge with an equal constant whatever the graph does. A whitelist (the
// library does not export AliasDb::isMutableType), so anything else counts
// as mutable and goes to ConstantPooling.
bool is_immutable_constant_type(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::IntType:
    case c10::TypeKind::FloatType:
    case c10::TypeKind::ComplexType:
    case c10::TypeKind::BoolType:
    case c10::TypeKind::StringType:
    case c10::TypeKind::NoneType:
    case c10::TypeKind::DeviceObjType:
      return true;
    case c10::TypeKind::TupleType:
      for (const c10::TypePtr& element : type->containedTypes()) {
        if (!is_immutable_constant_type(element)) return false;
      }
      return true;
    default:
      return false;
  }
}

void pool_block_constants(torch::jit::Block* block,
                          std::unordered_set<Node*, torch::jit::HashNode, torch::jit::EqualNode>& kept,
                          torch::jit::Block* top) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* node = *it;
    ++it;  // (node may move or die below)
    if (!node->blocks().empty()) {
      for (torch::jit::Block* nested : node->blocks()) pool_block_constants(nested, kept, top);
      continue;
    }
    if (node->kind() != c10::prim::Constant) continue;
    const auto inserted = kept.insert(node);
    if (!inserted.second) {
      node->replaceAllUsesWith(*inserted.first);
      node->destroy();
      continue;
    }
    // A kept constant stays where it is (it comes before every duplicate,
    // which the walk meets later); one in a nested block moves right before
    // the graph-level node holding that block, to reach the duplicates after
    // it. (See pool_constants in graph_utils.h for why not to the front.)
    if (node->owningBlock() != top) {
      Node* holder = node;
      while (holder->owningBlock() != top) holder = holder->owningBlock()->owningNode();
      node->moveBefore(holder);
    }
  }
}

}  // namespace

void pool_constants(const std::shared_ptr<torch::jit::Graph>& graph) {
  const bool mutable_constant = any_node(graph, [](Node* node) {
    return node->kind() == c10::prim::Constant && !is_immutable_constant_type(node->output()->type());
  });
  if (mutable_constant) {
    torch::jit::ConstantPooling(graph);
    return;
  }
  std::unordered_set<Node*, torch::jit::HashNode, torch::jit::EqualNode> kept;
  pool_block_constants(graph->block(), kept, graph->block());
}

Node* create_get_attr(torch::jit::Graph& graph, Value* object, const std::string& name, const c10::TypePtr& type) {
  Node* get = graph.create(c10::prim::GetAttr, {object});
  get->s_(c10::attr::name, name);
  get->output()->setType(type);
  return get;
}

Value* insert_attribute_read(torch::jit::Graph& graph, Value* holder, const std::string& name,
                             const c10::TypePtr& type) {
  Node* get = create_get_attr(graph, holder, name, type);
  get->insertAfter(holder->node());  // for `self`, the param node: the graph's start
  get->output()->setDebugName(name);
  return get->output();
}

std::string unique_attribute_name(const torch::jit::Module& module, const std::string& base) {
  std::string name = base;
  for (int i = 1; module.hasattr(name); ++i) {
    name = base + "_" + std::to_string(i);
  }
  return name;
}

namespace {

// Registers `value` under `name`, which no attribute of `module` has yet.
Value* register_tensor_attribute(torch::jit::Module& module, torch::jit::Graph& graph, const std::string& name,
                                 const at::Tensor& value, bool is_parameter) {
  jit::append_attribute(module, name, c10::TensorType::get(), value,
                        is_parameter ? c10::AttributeKind::PARAMETER : c10::AttributeKind::BUFFER);
  return insert_attribute_read(graph, graph.inputs()[0], name, c10::TensorType::get());
}

}  // namespace

Value* add_tensor_attribute(torch::jit::Module& module, torch::jit::Graph& graph, const std::string& base,
                            const at::Tensor& value, bool is_parameter) {
  return register_tensor_attribute(module, graph, unique_attribute_name(module, base), value, is_parameter);
}

AttributeNames::AttributeNames(const torch::jit::Module& module) {
  const auto& type = *module.type();
  names_.reserve(type.numAttributes() + type.numConstants());
  for (size_t i = 0; i < type.numAttributes(); ++i) names_.insert(type.getAttributeName(i));
  for (size_t i = 0; i < type.numConstants(); ++i) names_.insert(type.getConstantName(i));
}

std::string AttributeNames::take_unique(const std::string& base) {
  std::string name = base;
  for (int i = 1; names_.count(name); ++i) name = base + "_" + std::to_string(i);
  names_.insert(name);
  return name;
}

Value* add_tensor_attribute(torch::jit::Module& module, torch::jit::Graph& graph, AttributeNames& names,
                            const std::string& base, const at::Tensor& value, bool is_parameter) {
  return register_tensor_attribute(module, graph, names.take_unique(base), value, is_parameter);
}

bool is_conv(const Node* node) {
  const auto kind = node->kind();
  return kind == c10::aten::conv1d || kind == c10::aten::conv2d || kind == c10::aten::conv3d ||
         is_conv_transpose(node);
}

bool is_conv_transpose(const Node* node) {
  const auto kind = node->kind();
  return kind == c10::aten::conv_transpose1d || kind == c10::aten::conv_transpose2d ||
         kind == c10::aten::conv_transpose3d;
}

std::string schema_name(const Node* node) {
  const auto* schema = node->maybeSchema();
  if (schema == nullptr) return "";
  return schema->overload_name().empty() ? schema->name() : schema->name() + "." + schema->overload_name();
}

void copy_metadata(Node* from, Node* to) {
  to->setSourceRange(from->sourceRange());
  to->setScope(from->scope());
  if (from->callstack()) to->setCallStack(*from->callstack());
}

std::vector<std::pair<std::string, std::string>> module_stack(const Node* node) {
  std::vector<std::pair<std::string, std::string>> stack;
  auto callstack = node->callstack();
  std::string path;
  while (callstack) {
    const auto& entry = *callstack;
    const auto instance = entry->module_instance();
    // "SELF" is a call of another method of the same module (Conv2d.forward -> _conv_forward).
    if (instance && instance->instance_name() != "SELF") {
      const std::string name = instance->instance_name();
      path = path.empty() ? name : path + "." + name;
      const auto type = instance->class_type();
      stack.emplace_back(path, type && type->name() ? type->name()->qualifiedName() : std::string());
    }
    auto callee = entry->callee();
    if (!callee) break;
    callstack = *callee;
  }
  return stack;
}

}  // namespace passes
}  // namespace torch_pt2e
