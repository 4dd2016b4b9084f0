// Small queries on TorchScript graphs shared by the passes.
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include <ATen/core/ivalue.h>
#include <c10/util/Optional.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// The module attribute a value reads: `v` is the output of a chain of
// `prim::GetAttr` nodes rooted at the graph's first input (`self` of `owner`).
struct AttributeRef {
  torch::jit::Module holder;  // the module whose slot holds the attribute
  std::string name;           // slot name in `holder`
  std::string path;           // dotted path from the top module, e.g. "layer1.0.conv1.weight"
};
c10::optional<AttributeRef> resolve_attribute(torch::jit::Value* v, const torch::jit::Module& owner);

// The object and slot a value reads: resolve_attribute without the names
// and path, for passes that look up every read of a large graph.
struct AttributeSlot {
  c10::intrusive_ptr<c10::ivalue::Object> holder;
  size_t slot;
};
c10::optional<AttributeSlot> resolve_attribute_slot(torch::jit::Value* v, const torch::jit::Module& owner);
// The slot of attribute `name` of `type`, from a per-class cache of slots by
// name (ClassType::findAttributeSlot scans every attribute).
c10::optional<size_t> attribute_slot(const c10::ClassType& type, const std::string& name);

// The attribute's current value (tensor, module, ...), if `v` reads one.
c10::optional<c10::IValue> attribute_value(torch::jit::Value* v, const torch::jit::Module& owner);

// A tensor held by a module attribute, if `v` reads one.
c10::optional<at::Tensor> attribute_tensor(torch::jit::Value* v, const torch::jit::Module& owner);

// `prim::Constant` value of `v`, if it is one.
c10::optional<c10::IValue> constant_value(torch::jit::Value* v);

// torch::jit::EliminateDeadCode(graph), faster on graphs where no node
// writes to its inputs. torch's DCE asks alias analysis, built for the whole
// graph (about 1 s for 30k nodes), whether a dead node writes to a live
// value; only nodes whose schema marks an input written (or conservative
// ops, which count as side effects and stay anyway) can, so when none does
// the answer is always no and the block-level DCE, which does not build
// alias analysis, removes exactly the same nodes.
void eliminate_dead_code(const std::shared_ptr<torch::jit::Graph>& graph);

// torch::jit::ConstantPooling(graph)'s merges, without its alias analysis
// where it cannot matter and without its moves. ConstantPooling merges equal
// constants and moves each kept one to the front of the graph; it builds
// alias analysis for the whole graph (about 0.1 s per 10k nodes) only to
// decide whether two equal constants of a mutable type (tensors, lists) may
// become one value. For constants of immutable types (numbers, strings,
// None, devices, tuples of those) the answer is always yes, so on graphs with
// only those this walk merges what ConstantPooling merges; any other graph
// goes to ConstantPooling itself.
//
// A kept constant stays where it first appears (one in a nested block moves
// out, before the graph-level node holding it), so ConstantPooling run on the
// result gives ConstantPooling's own result. Why not to the front: LibTorch
// numbers a block's nodes for Node::isBefore and renumbers the whole block
// (Block::reIndexTopology) when an insertion finds no free position.
// Renumbering gives the first node the lowest position allowed, so after one
// renumbering every insertion before the first node renumbers the block
// again: O(nodes) per move. After convert, which had renumbered its graph, the
// moves took 56 s on a 70k-node graph with 20k distinct constants; passes
// that add many nodes put them at their point of use for the same reason.
void pool_constants(const std::shared_ptr<torch::jit::Graph>& graph);

// A `prim::GetAttr` of `object`'s attribute `name`, of the given type, not
// inserted. Graph::createGetAttr looks the attribute's type up by name, a scan
// of every attribute of the class; the flow adds thousands of attributes to
// one module, so it passes the type it already has.
torch::jit::Node* create_get_attr(torch::jit::Graph& graph, torch::jit::Value* object, const std::string& name,
                                  const c10::TypePtr& type);

// A read of `holder`'s attribute `name` (of type `type`), inserted where
// `holder` is defined: at the graph's start for `self`, right after the
// node that produces it otherwise.
torch::jit::Value* insert_attribute_read(torch::jit::Graph& graph, torch::jit::Value* holder, const std::string& name,
                                         const c10::TypePtr& type);

// A name not yet used by an attribute or submodule of `module`: `base`, or
// `base_1`, `base_2`, ...
std::string unique_attribute_name(const torch::jit::Module& module, const std::string& base);

// Registers `value` as a buffer of `module` under a fresh name derived from
// `base` and returns a `prim::GetAttr` of it inserted at the graph's start.
torch::jit::Value* add_tensor_attribute(torch::jit::Module& module, torch::jit::Graph& graph, const std::string& base,
                                        const at::Tensor& value, bool is_parameter);

// The names a module's class uses (attributes and constants) in a hash set,
// for passes that add many attributes to one module: unique_attribute_name
// asks the class, a scan of all its attributes per name. Valid while the
// module gets new attributes only under names taken here.
class AttributeNames {
 public:
  explicit AttributeNames(const torch::jit::Module& module);
  // `base`, or `base_1`, `base_2`, ...: the first name not taken, which is
  // taken from then on.
  std::string take_unique(const std::string& base);

 private:
  std::unordered_set<std::string> names_;
};

// add_tensor_attribute with the fresh name chosen from `names`.
torch::jit::Value* add_tensor_attribute(torch::jit::Module& module, torch::jit::Graph& graph, AttributeNames& names,
                                        const std::string& base, const at::Tensor& value, bool is_parameter);

// aten::conv{1,2,3}d and aten::conv_transpose{1,2,3}d, the forms canonicalize
// gives every convolution (is_conv includes the transposed ones).
bool is_conv(const torch::jit::Node* node);
bool is_conv_transpose(const torch::jit::Node* node);

// The schema's "name.overload" (or "name") of a node, "" for nodes without a schema.
std::string schema_name(const torch::jit::Node* node);

// Copies source range, scope and inlined call stack (the TorchScript form of
// node metadata) from `from` to `to`.
void copy_metadata(torch::jit::Node* from, torch::jit::Node* to);

// Module path ("layer1.0.conv1") and types ("__torch__...Conv2d", outermost
// first) of the submodule calls a node was inlined from.
std::vector<std::pair<std::string, std::string>> module_stack(const torch::jit::Node* node);

}  // namespace passes
}  // namespace torch_pt2e
