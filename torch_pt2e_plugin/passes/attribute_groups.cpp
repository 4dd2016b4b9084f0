#include "torch_pt2e_plugin/passes/attribute_groups.h"

#include <cstdlib>
#include <utility>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Node;
using torch::jit::Value;

constexpr const char* kGroupClass = "__torch__.torch_pt2e.AttributeGroup";
constexpr const char* kContainerClass = "__torch__.torch_pt2e.AttributeGroups";

// A module of a class of its own, with the `training` flag every module has.
torch::jit::Module new_holder(const torch::jit::Module& owner, const char* class_name) {
  torch::jit::Module holder(c10::QualifiedName(class_name), owner._ivalue()->compilation_unit(),
                            /*shouldMangle=*/true);
  jit::append_attribute(holder, "training", c10::BoolType::get(), owner.is_training());
  return holder;
}

bool is_group_name(const std::string& name) {
  if (name.size() < 2 || name[0] != 'g') return false;
  for (size_t i = 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  return true;
}

}  // namespace

int64_t flat_attribute_limit() {
  static const int64_t limit = [] {
    const char* text = std::getenv("TORCH_PT2E_FLAT_ATTRIBUTE_LIMIT");
    if (text == nullptr || *text == '\0') return kFlatAttributeLimit;
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    TORCH_CHECK(end != text && *end == '\0' && value >= 0, "TORCH_PT2E_FLAT_ATTRIBUTE_LIMIT must be a ",
                "non-negative integer, got '", text, "'");
    return static_cast<int64_t>(value);
  }();
  return limit;
}

AttributeGroups::AttributeGroups(torch::jit::Module& module, torch::jit::Graph& graph, std::string container,
                                 int64_t expected, int64_t flat_limit)
    : module_(module), graph_(graph), container_name_(std::move(container)), grouped_(expected > flat_limit) {
  if (!grouped_) return;
  TORCH_CHECK(!module_.type()->findAttributeSlot(container_name_) && !module_.type()->hasConstant(container_name_),
              "AttributeGroups: the module already has an attribute named '", container_name_, "'");
  container_ = new_holder(module_, kContainerClass);
  jit::append_attribute(module_, container_name_, container_->type(), container_->_ivalue());
  torch::jit::WithInsertPoint guard(graph_.param_node()->next());
  container_read_ =
      graph_.insertNode(create_get_attr(graph_, graph_.inputs()[0], container_name_, container_->type()));
  container_read_->output()->setDebugName(container_name_);
}

void AttributeGroups::add_group() {
  last_group_ = new_holder(module_, kGroupClass);
  const std::string name = "g" + std::to_string(groups_++);
  jit::append_attribute(*container_, name, last_group_.type(), last_group_._ivalue());
  // Right after the container's read: before every node that could read the group.
  torch::jit::WithInsertPoint guard(container_read_->next());
  Node* read = graph_.insertNode(create_get_attr(graph_, container_read_->output(), name, last_group_.type()));
  read->output()->setDebugName(container_name_ + "_" + name);
  last_group_read_ = read->output();
  in_last_group_ = 0;
}

AttributeGroups::Holder AttributeGroups::next() {
  if (!grouped_) return {module_, graph_.inputs()[0]};
  if (last_group_read_ == nullptr || in_last_group_ == kAttributeGroupSize) add_group();
  ++in_last_group_;
  return {last_group_, last_group_read_};
}

torch::jit::Value* AttributeGroups::add(const std::string& name, const c10::TypePtr& type, c10::IValue value,
                                        c10::AttributeKind kind) {
  Holder holder = next();
  jit::append_attribute(holder.module, name, type, std::move(value), kind);
  return holder.read;
}

std::vector<torch::jit::Module> attribute_holders(const torch::jit::Module& module, const std::string& container) {
  std::vector<torch::jit::Module> holders{module};
  const auto slot = module.type()->findAttributeSlot(container);
  if (!slot || !module._ivalue()->getSlot(*slot).isObject()) return holders;
  const torch::jit::Module groups(module._ivalue()->getSlot(*slot).toObject());
  for (size_t i = 0; i < groups.type()->numAttributes(); ++i) {
    const c10::IValue& group = groups._ivalue()->getSlot(i);
    if (group.isObject() && is_group_name(groups.type()->getAttributeName(i))) holders.emplace_back(group.toObject());
  }
  return holders;
}

bool reads_attribute_group(const Node* get, const std::string& container) {
  if (get->kind() != c10::prim::GetAttr) return false;
  const Value* self = get->owningGraph()->inputs().empty() ? nullptr : get->owningGraph()->inputs()[0];
  if (get->input() == self) return get->s(c10::attr::name) == container;
  const Node* parent = get->input()->node();
  return is_group_name(get->s(c10::attr::name)) && parent->kind() == c10::prim::GetAttr &&
         parent->input() == self && parent->s(c10::attr::name) == container;
}

}  // namespace passes
}  // namespace torch_pt2e
