// Module attributes in time independent of how many a class already has.
//
// LibTorch's ClassType keeps attributes in a vector: addAttribute compares
// the new name with every existing one (checkNotExist), and every lookup by
// name (Module::attr, hasattr, register_*, setattr, Module::clone) scans it.
// The PT2E flow gives one module tens of thousands of attributes (observers,
// folded weights, the children of a long nn.Sequential), where those scans
// made prepare and convert quadratic. The functions here add attributes
// whose names the caller knows to be fresh, find slots through a hash index,
// and clone a module tree with each attribute copied once.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>

#include <ATen/core/class_type.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace jit {

// Appends an attribute to `type` and returns its slot. Precondition: no
// attribute or constant of `type` is called `name` (ClassType::addAttribute
// checks that with a scan of every name; callers here know it from a name
// set such as AttributeIndex). Parameters and buffers must be tensors (or
// optional tensors), as addAttribute requires; that is checked.
size_t append_attribute(c10::ClassType& type, const std::string& name, const c10::TypePtr& attribute_type,
                        c10::AttributeKind kind);

// append_attribute on `module`'s class, with `value` in the new slot of
// `module`. The class must be `module`'s own (other instances of a shared
// class would get an empty slot).
size_t append_attribute(const torch::jit::Module& module, const std::string& name, const c10::TypePtr& type,
                        c10::IValue value, c10::AttributeKind kind = c10::AttributeKind::REGULAR_ATTRIBUTE);

// Names and slots of one class's attributes (and its constant names) in hash
// tables, for passes that look up or add many attributes of one module. Valid
// while attributes of the class are added only through `add` and none is
// removed.
class AttributeIndex {
 public:
  explicit AttributeIndex(const c10::ClassType& type);

  bool contains(const std::string& name) const { return taken_.count(name) != 0; }
  // The slot of attribute `name`, or nullopt (constants have none).
  c10::optional<size_t> slot(const std::string& name) const;
  // `base`, or `base_1`, `base_2`, ...: the first name not taken (as
  // Module's unique names are chosen). Not reserved until `add`.
  std::string unique_name(const std::string& base) const;
  // append_attribute(module, ...) under `name`, which must not be taken.
  size_t add(const torch::jit::Module& module, const std::string& name, const c10::TypePtr& type,
             c10::IValue value, c10::AttributeKind kind = c10::AttributeKind::REGULAR_ATTRIBUTE);

 private:
  std::unordered_set<std::string> taken_;              // attribute and constant names
  std::unordered_map<std::string, size_t> slots_;      // attribute name -> slot
};

// Module::clone(/*inplace=*/true, ignored_methods, ignored_attributes) in
// linear time: new classes (one per class of the tree, shared as the
// original's are) in a compilation unit of the clone's own (freed with the
// clone, which keeps the original's units alive meanwhile), new method
// graphs with every module type mapped to its clone's, the same attribute
// values (tensors shared, not copied). Unlike Module::clone, methods that
// read an ignored attribute may be kept (the caller rewrites them;
// convert_pt2e drops observers its forward still calls until it replaces
// those calls). Ignored attributes are the top module's only.
// With `classes`, it receives each original class -> its clone.
using ClassClones = std::unordered_map<c10::TypePtr, c10::TypePtr>;
torch::jit::Module clone_module(const torch::jit::Module& module,
                                const std::unordered_set<std::string>& ignored_methods = {},
                                const std::unordered_set<std::string>& ignored_attributes = {},
                                ClassClones* classes = nullptr);

// Adds `graph` to the class of `target` (a clone made by clone_module) as a
// method named and typed like `like`, a method of the class `target` was
// cloned from; every module type in `graph` and the schema is mapped to its
// clone through `classes` (`graph` itself is retyped).
void add_cloned_method(const torch::jit::Module& target, const torch::jit::Function& like,
                       std::shared_ptr<torch::jit::Graph> graph, const ClassClones& classes);

}  // namespace jit
}  // namespace torch_pt2e
