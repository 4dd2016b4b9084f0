#include "torch_pt2e_plugin/jit/class_attributes.h"

#include <memory>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/function_impl.h>

namespace torch_pt2e {
namespace jit {
namespace {

// ClassType::addAttribute(ClassAttribute) appends an attribute without
// checking its name; the public overload adds that check (a scan of every
// name) in front of it. The unchecked one is private, so a pointer to it is
// taken the one way C++ allows without being its friend: naming it in an
// explicit instantiation, where access is not checked ([temp.explicit]). Its
// signature is fixed by the LibTorch headers this file is compiled with
// (1.13 and 2.x declare it alike); a LibTorch without it fails to compile
// here, not at run time.
using AppendMember = void (c10::ClassType::*)(c10::ClassAttribute);
AppendMember unchecked_append();
template <AppendMember Member>
struct UncheckedAppend {
  friend AppendMember unchecked_append() { return Member; }
};
template struct UncheckedAppend<&c10::ClassType::addAttribute>;

bool may_be_parameter_or_buffer(const c10::TypePtr& type) {
  if (type->kind() == c10::TypeKind::TensorType || type->kind() == c10::TypeKind::NoneType) return true;
  const auto optional = type->cast<c10::OptionalType>();
  return optional && optional->getElementType()->kind() == c10::TypeKind::TensorType;
}

// Decision: the clone's classes and methods go into a compilation unit of
// its own, not the original's (as Module::clone does). A unit owns its
// classes and their methods and never drops one, so every clone made into
// the input model's unit stayed there as long as the model did: each
// prepare_pt2e / convert_pt2e of one model left its whole result behind
// (about 0.9 GB per prepare and convert of a 97k-node graph), and each repeat
// ran slower in the grown heap. In a unit of its own, the clone's classes,
// methods and graphs go when the last module or object of them does (as with
// torch.jit.load, whose every call makes a unit).
//
// The new unit keeps the units of the original's modules alive as long as it
// lives (its deleter owns them), because what the clone keeps may point into
// them without owning them: inlined nodes' call stacks hold raw pointers to
// the original's functions, and a class type holds its unit only weakly and
// its methods not at all (a TorchScript class or function of the model that a
// cloned graph uses).
class CloneUnit {
 public:
  CloneUnit()
      : kept_(std::make_shared<std::vector<std::shared_ptr<torch::jit::CompilationUnit>>>()),
        // (released in the call, not when the deleter goes: that waits for the
        // unit's last weak reference, which a class type of it holds)
        unit_(new torch::jit::CompilationUnit(), [kept = kept_](torch::jit::CompilationUnit* unit) mutable {
          delete unit;
          kept.reset();
        }) {}

  const std::shared_ptr<torch::jit::CompilationUnit>& unit() const { return unit_; }

  // Keeps `module`'s unit alive while the clone's lives.
  void keep_unit_of(const torch::jit::Module& module) {
    std::shared_ptr<torch::jit::CompilationUnit> unit = module._ivalue()->compilation_unit();
    if (unit && seen_.insert(unit.get()).second) kept_->push_back(std::move(unit));
  }

 private:
  std::shared_ptr<std::vector<std::shared_ptr<torch::jit::CompilationUnit>>> kept_;
  std::shared_ptr<torch::jit::CompilationUnit> unit_;
  std::unordered_set<const torch::jit::CompilationUnit*> seen_;
};

class Cloner {
 public:
  Cloner(const torch::jit::Module& top, const std::unordered_set<std::string>& ignored_methods,
         const std::unordered_set<std::string>& ignored_attributes)
      : top_(top), ignored_methods_(ignored_methods), ignored_attributes_(ignored_attributes) {}

  torch::jit::Module run(ClassClones* classes) {
    clone_class(top_);
    torch::jit::Module clone = clone_objects();
    // Methods once every class has its clone, which their graphs refer to.
    for (const auto& first : first_instances_) {
      for (torch::jit::Function* method : first.first.type()->methods()) {
        if (first.first.type() == top_.type() && ignored_methods_.count(method->name())) continue;
        add_cloned_method(first.second, *method, torch::jit::toGraphFunction(*method).graph()->copy(), clones_);
      }
    }
    for (const auto& first : first_instances_) run_setstate(first.second);
    if (classes != nullptr) *classes = clones_;
    return clone;
  }

 private:
  bool ignored(const torch::jit::Module& module, const std::string& attribute) const {
    return module.type() == top_.type() && ignored_attributes_.count(attribute) != 0;
  }

  // A new class for `instance`'s class (after those of its children, whose
  // clones type its attributes), unless it has one.
  void clone_class(const torch::jit::Module& instance) {
    if (clones_.count(instance.type())) return;
    const c10::ClassType& type = *instance.type();
    unit_.keep_unit_of(instance);  // (once per class: its methods live in that unit)
    torch::jit::Module clone(*type.name(), unit_.unit(), /*shouldMangle=*/true);
    clones_.emplace(instance.type(), clone.type());
    c10::ClassType& cloned_type = *clone.type();
    for (size_t slot = 0; slot < type.numAttributes(); ++slot) {
      const std::string& name = type.getAttributeName(slot);
      if (ignored(instance, name)) continue;
      c10::TypePtr attribute_type = type.getAttribute(slot);
      // (a module behind an interface type keeps that type, as in Module::clone)
      if (attribute_type->is_module() && attribute_type->cast<c10::ClassType>()) {
        const torch::jit::Module child(instance._ivalue()->getSlot(slot).toObject());
        clone_class(child);
        attribute_type = clones_.at(child.type());
      }
      const c10::AttributeKind kind = type.is_parameter(slot) ? c10::AttributeKind::PARAMETER
                                      : type.is_buffer(slot)  ? c10::AttributeKind::BUFFER
                                                              : c10::AttributeKind::REGULAR_ATTRIBUTE;
      append_attribute(cloned_type, name, attribute_type, kind);
    }
    for (size_t i = 0; i < type.numConstants(); ++i) {
      cloned_type.addConstant(type.getConstantName(i), type.getConstant(i));
    }
  }

  // One new object per module of the tree, holding the original's values
  // (tensors shared) and the clones of its children.
  torch::jit::Module clone_objects() {
    std::vector<std::pair<torch::jit::Module, torch::jit::Module>> stack;
    const torch::jit::Module top_clone = new_object(top_);
    stack.emplace_back(top_, top_clone);
    while (!stack.empty()) {
      const auto [original, clone] = stack.back();
      stack.pop_back();
      const c10::ClassType& type = *original.type();
      size_t to = 0;
      for (size_t from = 0; from < type.numAttributes(); ++from) {
        if (ignored(original, type.getAttributeName(from))) continue;
        const c10::IValue& value = original._ivalue()->getSlot(from);
        if (type.getAttribute(from)->is_module()) {
          const torch::jit::Module child(value.toObject());
          clone_class(child);  // (a module behind an interface type may be of a class not seen yet)
          const torch::jit::Module child_clone = new_object(child);
          clone._ivalue()->setSlot(to, child_clone._ivalue());
          stack.emplace_back(child, child_clone);
        } else {
          clone._ivalue()->setSlot(to, value);
        }
        ++to;
      }
    }
    return top_clone;
  }

  torch::jit::Module new_object(const torch::jit::Module& original) {
    const auto cloned_type = clones_.at(original.type())->expect<c10::ClassType>();
    torch::jit::Module clone(unit_.unit(), cloned_type);
    if (seen_classes_.insert(cloned_type.get()).second) first_instances_.emplace_back(original, clone);
    return clone;
  }

  // Module::clone runs __setstate__(__getstate__()) on the first instance of
  // each cloned class, for custom-class members.
  static void run_setstate(const torch::jit::Module& module) {
    const auto setstate = module.find_method("__setstate__");
    if (!setstate) return;
    const auto getstate = module.find_method("__getstate__");
    TORCH_CHECK(getstate, "clone_module: ", module.type()->repr_str(), " has __setstate__ but no __getstate__");
    c10::IValue state = (*getstate)(std::vector<c10::IValue>{});
    (*setstate)(std::vector<c10::IValue>{std::move(state)});
  }

  const torch::jit::Module& top_;
  CloneUnit unit_;  // the clone's classes and methods
  const std::unordered_set<std::string>& ignored_methods_;
  const std::unordered_set<std::string>& ignored_attributes_;
  ClassClones clones_;  // original class -> its clone
  std::unordered_set<const c10::ClassType*> seen_classes_;
  // (original, clone) of each class's first instance, in the order met.
  std::vector<std::pair<torch::jit::Module, torch::jit::Module>> first_instances_;
};

}  // namespace

size_t append_attribute(c10::ClassType& type, const std::string& name, const c10::TypePtr& attribute_type,
                        c10::AttributeKind kind) {
  if (kind != c10::AttributeKind::REGULAR_ATTRIBUTE) {
    TORCH_CHECK(type.is_module(), "append_attribute: only module classes have parameters and buffers; ",
                type.repr_str(), " is not one (attribute '", name, "')");
    TORCH_CHECK(may_be_parameter_or_buffer(attribute_type), "append_attribute: a parameter or buffer must be a ",
                "Tensor, Optional[Tensor] or None, got ", attribute_type->repr_str(), " for '", name, "'");
  }
  const size_t slot = type.numAttributes();
  (type.*unchecked_append())(c10::ClassAttribute(kind, attribute_type, name));
  return slot;
}

size_t append_attribute(const torch::jit::Module& module, const std::string& name, const c10::TypePtr& type,
                        c10::IValue value, c10::AttributeKind kind) {
  const size_t slot = append_attribute(*module.type(), name, type, kind);
  module._ivalue()->setSlot(slot, std::move(value));
  return slot;
}

AttributeIndex::AttributeIndex(const c10::ClassType& type) {
  taken_.reserve(type.numAttributes() + type.numConstants());
  slots_.reserve(type.numAttributes());
  for (size_t i = 0; i < type.numAttributes(); ++i) {
    taken_.insert(type.getAttributeName(i));
    slots_.emplace(type.getAttributeName(i), i);
  }
  for (size_t i = 0; i < type.numConstants(); ++i) taken_.insert(type.getConstantName(i));
}

c10::optional<size_t> AttributeIndex::slot(const std::string& name) const {
  const auto it = slots_.find(name);
  if (it == slots_.end()) return c10::nullopt;
  return it->second;
}

std::string AttributeIndex::unique_name(const std::string& base) const {
  std::string name = base;
  for (int i = 1; contains(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

size_t AttributeIndex::add(const torch::jit::Module& module, const std::string& name, const c10::TypePtr& type,
                           c10::IValue value, c10::AttributeKind kind) {
  TORCH_CHECK(!contains(name), "AttributeIndex::add: ", module.type()->repr_str(), " already has an attribute or ",
              "constant named '", name, "'");
  const size_t slot = append_attribute(module, name, type, std::move(value), kind);
  taken_.insert(name);
  slots_.emplace(name, slot);
  return slot;
}

torch::jit::Module clone_module(const torch::jit::Module& module, const std::unordered_set<std::string>& ignored_methods,
                                const std::unordered_set<std::string>& ignored_attributes, ClassClones* classes) {
  return Cloner(module, ignored_methods, ignored_attributes).run(classes);
}

// Module::clone_method's retyping, for any graph.
void add_cloned_method(const torch::jit::Module& target, const torch::jit::Function& like,
                       std::shared_ptr<torch::jit::Graph> graph, const ClassClones& classes) {
  const auto remap = [&](c10::TypePtr type) {
    const auto it = classes.find(type);
    return it == classes.end() ? type : it->second;
  };
  graph->remapTypes(remap);
  torch::jit::Function* added = target._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*target.type()->name(), like.name()), std::move(graph));
  target.type()->addMethod(added);
  added->setSchema(like.getSchema().cloneWithRemappedTypes(remap));
}

}  // namespace jit
}  // namespace torch_pt2e
