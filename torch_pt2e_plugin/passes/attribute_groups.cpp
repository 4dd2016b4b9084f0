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

std::string group_name(int64_t index) { return "g" + std::to_string(index); }

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
  {
    torch::jit::WithInsertPoint guard(graph_.param_node()->next());
    container_read_ =
        graph_.insertNode(create_get_attr(graph_, graph_.inputs()[0], container_name_, container_->type()));
    container_read_->output()->setDebugName(container_name_);
  }
  // Every group the expected attributes need is made here (see the header:
  // made one at a time, their reads would renumber the graph every ~40
  // groups). The reads go in the order groups made one at a time have, the
  // newest right after the container's read (g<n-1>, ..., g1, g0), each
  // inserted into the middle of the gap it belongs to: halving LibTorch's
  // gap between two nodes log2(groups) times instead of once per group.
  const int64_t groups = (expected + kAttributeGroupSize - 1) / kAttributeGroupSize;
  for (int64_t k = 0; k < groups; ++k) made_.push_back({make_group(k), nullptr});
  insert_reads(0, groups, container_read_->next());
}

void AttributeGroups::insert_reads(int64_t first, int64_t last, Node* before) {
  if (first >= last) return;
  const int64_t middle = first + (last - first) / 2;
  Node* read = create_read(middle);
  read->insertBefore(before);
  // Lower groups come later in the graph: between this read and `before`.
  insert_reads(first, middle, before);
  insert_reads(middle + 1, last, read);
}

AttributeGroups::~AttributeGroups() {
  // The groups made ahead and not used: their reads and their attributes
  // on the container, newest first (the container's last slots).
  for (size_t k = made_.size(); k-- > used_;) {
    if (made_[k].read != nullptr && !made_[k].read->hasUses()) made_[k].read->node()->destroy();
    const std::string name = group_name(static_cast<int64_t>(k));
    const auto slot = container_->type()->findAttributeSlot(name);
    if (!slot) continue;
    container_->_ivalue()->unsafeRemoveSlot(*slot);
    container_->type()->unsafeRemoveAttribute(name);
  }
}

torch::jit::Module AttributeGroups::make_group(int64_t index) {
  torch::jit::Module group = new_holder(module_, kGroupClass);
  jit::append_attribute(*container_, group_name(index), group.type(), group._ivalue());
  return group;
}

Node* AttributeGroups::create_read(int64_t index) {
  const std::string name = group_name(index);
  auto& group = made_[static_cast<size_t>(index)];
  Node* read = create_get_attr(graph_, container_read_->output(), name, group.module.type());
  read->output()->setDebugName(container_name_ + "_" + name);
  group.read = read->output();
  return read;
}

AttributeGroups::Holder AttributeGroups::next() {
  if (!grouped_) return {module_, graph_.inputs()[0]};
  if (used_ == 0 || in_last_group_ == kAttributeGroupSize) {
    if (used_ == made_.size()) {
      // More attributes than expected: one more group, read right after
      // the container's read (before every node that could read it).
      const auto index = static_cast<int64_t>(made_.size());
      made_.push_back({make_group(index), nullptr});
      create_read(index)->insertAfter(container_read_);
    }
    ++used_;
    in_last_group_ = 0;
  }
  ++in_last_group_;
  return made_[used_ - 1];
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
