// jit/class_attributes: appending attributes without name scans, the hash
// index of a class's names, and clone_module against Module::clone.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"

namespace {

using torch::jit::Module;
using torch_pt2e::jit::AttributeIndex;
using torch_pt2e::jit::append_attribute;
using torch_pt2e::jit::clone_module;

Module leaf(const std::string& class_name, int64_t features) {
  Module m(class_name);
  m.register_attribute("training", c10::BoolType::get(), false);
  m.register_parameter("weight", at::randn({features, features}), false);
  m.register_buffer("offset", at::randn({features}));
  m.register_attribute("scale", c10::FloatType::get(), 0.5);
  m.define(R"(
def forward(self, x):
    return torch.matmul(x, self.weight) * self.scale + self.offset
)");
  return m;
}

// top -> (a: Leaf, b: Leaf sharing a's class, inner: Inner -> leaf: Leaf2), a constant.
Module tree() {
  Module a = leaf("Leaf", 4);
  Module b(a._ivalue()->compilation_unit(), a.type());  // a second instance of a's class
  b.register_attribute("training", c10::BoolType::get(), false);
  b.register_parameter("weight", at::randn({4, 4}), false);
  b.register_buffer("offset", at::randn({4}));
  b.register_attribute("scale", c10::FloatType::get(), 2.0);
  Module inner("Inner");
  inner.register_attribute("training", c10::BoolType::get(), false);
  inner.register_module("leaf", leaf("Leaf2", 4));
  inner.define(R"(
def forward(self, x):
    return self.leaf.forward(x) + 1
)");
  Module top("Top");
  top.register_attribute("training", c10::BoolType::get(), false);
  top.register_module("a", a);
  top.register_module("b", b);
  top.register_module("inner", inner);
  top.register_attribute("extra", c10::TensorType::get(), at::ones({4}));
  top.type()->addConstant("factor", int64_t(3));  // (C++ define does not resolve module constants; cloned all the same)
  top.define(R"(
def forward(self, x):
    return self.inner.forward(self.b.forward(self.a.forward(x))) * 3 + self.extra
def helper(self, x):
    return x + 3
)");
  return top;
}

// Names, kinds and values of every attribute of both trees agree; module
// children are compared recursively. `shared` records which clone class
// each original class became, so that sharing is checked too.
void expect_same_tree(const Module& expected, const Module& actual,
                      std::unordered_map<const c10::ClassType*, const c10::ClassType*>& shared) {
  const auto& et = *expected.type();
  const auto& at_ = *actual.type();
  EXPECT_NE(&et, &at_) << "the clone must have its own class";
  const auto mapped = shared.emplace(&et, &at_);
  EXPECT_EQ(mapped.first->second, &at_) << "instances of one class must share one cloned class";
  ASSERT_EQ(et.numAttributes(), at_.numAttributes());
  for (size_t i = 0; i < et.numAttributes(); ++i) {
    SCOPED_TRACE(et.getAttributeName(i));
    EXPECT_EQ(et.getAttributeName(i), at_.getAttributeName(i));
    EXPECT_EQ(et.is_parameter(i), at_.is_parameter(i));
    EXPECT_EQ(et.is_buffer(i), at_.is_buffer(i));
    const c10::IValue& ev = expected._ivalue()->getSlot(i);
    const c10::IValue& av = actual._ivalue()->getSlot(i);
    if (et.getAttribute(i)->is_module()) {
      expect_same_tree(Module(ev.toObject()), Module(av.toObject()), shared);
    } else if (ev.isTensor()) {
      EXPECT_TRUE(ev.toTensor().is_same(av.toTensor())) << "tensors are shared, as Module::clone(inplace) shares them";
    } else {
      EXPECT_EQ(ev, av);
    }
  }
  ASSERT_EQ(et.numConstants(), at_.numConstants());
  for (size_t i = 0; i < et.numConstants(); ++i) EXPECT_EQ(et.getConstantName(i), at_.getConstantName(i));
  ASSERT_EQ(et.methods().size(), at_.methods().size());
  for (size_t i = 0; i < et.methods().size(); ++i) EXPECT_EQ(et.methods()[i]->name(), at_.methods()[i]->name());
}

TEST(AppendAttribute, AddsAttributeAndValueInTheNextSlot) {
  Module m("M");
  m.register_attribute("training", c10::BoolType::get(), false);
  const size_t slot = append_attribute(m, "w", c10::TensorType::get(), at::ones({2}), c10::AttributeKind::BUFFER);
  EXPECT_EQ(slot, 1u);
  EXPECT_TRUE(m.type()->is_buffer(slot));
  EXPECT_TRUE(m.attr("w").toTensor().equal(at::ones({2})));
  const size_t p = append_attribute(m, "p", c10::TensorType::get(), at::zeros({1}), c10::AttributeKind::PARAMETER);
  EXPECT_TRUE(m.type()->is_parameter(p));
  EXPECT_EQ(m.named_parameters(false).size(), 1u);
}

TEST(AppendAttribute, RejectsNonTensorParameters) {
  Module m("M");
  try {
    append_attribute(m, "n", c10::IntType::get(), int64_t(1), c10::AttributeKind::PARAMETER);
    FAIL() << "an int parameter must be refused";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be a Tensor"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m.type()->numAttributes(), 0u);
}

TEST(AttributeIndex, FindsSlotsAndUniqueNamesAndRefusesTakenNames) {
  Module m("M");
  m.register_attribute("x", c10::IntType::get(), int64_t(1));
  m.register_attribute("x_1", c10::IntType::get(), int64_t(2));
  m.type()->addConstant("c", int64_t(7));
  AttributeIndex index(*m.type());
  EXPECT_EQ(index.slot("x_1"), c10::optional<size_t>(1));
  EXPECT_FALSE(index.slot("c").has_value());
  EXPECT_EQ(index.unique_name("x"), "x_2");
  EXPECT_EQ(index.unique_name("c"), "c_1");  // constants are taken names too
  EXPECT_EQ(index.unique_name("y"), "y");
  const size_t slot = index.add(m, "y", c10::IntType::get(), int64_t(5));
  EXPECT_EQ(index.slot("y"), c10::optional<size_t>(slot));
  EXPECT_EQ(m.attr("y").toInt(), 5);
  EXPECT_THROW(index.add(m, "x", c10::IntType::get(), int64_t(0)), c10::Error);
  EXPECT_THROW(index.add(m, "c", c10::IntType::get(), int64_t(0)), c10::Error);
}

TEST(CloneModule, MatchesModuleCloneAndLeavesTheOriginalAlone) {
  Module original = tree();
  const size_t attributes_before = original.type()->numAttributes();
  Module theirs = original.clone(/*inplace=*/true);
  Module ours = clone_module(original);

  std::unordered_map<const c10::ClassType*, const c10::ClassType*> shared_theirs, shared_ours;
  expect_same_tree(original, theirs, shared_theirs);
  expect_same_tree(original, ours, shared_ours);
  // a and b share one class in the original, so they share one in the clone.
  EXPECT_EQ(ours.attr("a").toModule().type(), ours.attr("b").toModule().type());

  const at::Tensor x = at::randn({2, 4});
  const at::Tensor expected = original.forward({x}).toTensor();
  EXPECT_TRUE(theirs.forward({x}).toTensor().equal(expected));
  EXPECT_TRUE(ours.forward({x}).toTensor().equal(expected));
  EXPECT_TRUE(ours.get_method("helper")({x}).toTensor().equal(x + 3));

  // The clone's classes are its own: adding to them leaves the original's as they were.
  append_attribute(ours, "new_attribute", c10::IntType::get(), int64_t(1));
  append_attribute(ours.attr("a").toModule(), "also_new", c10::IntType::get(), int64_t(1));
  EXPECT_EQ(original.type()->numAttributes(), attributes_before);
  EXPECT_FALSE(original.attr("a").toModule().hasattr("also_new"));
}

TEST(CloneModule, OwnsItsCompilationUnitAndKeepsTheOriginalsUnitsAlive) {
  // tree() gives each of its classes a unit of its own (Module(name) does).
  c10::optional<Module> original = tree();
  std::vector<std::weak_ptr<torch::jit::CompilationUnit>> original_units;
  for (const auto& module : original->modules()) original_units.push_back(module._ivalue()->compilation_unit());
  ASSERT_EQ(original_units.size(), 5u);
  const at::Tensor x = at::randn({2, 4});
  const at::Tensor expected = original->forward({x}).toTensor();

  c10::optional<Module> clone = clone_module(*original);
  std::weak_ptr<torch::jit::CompilationUnit> clone_unit = clone->_ivalue()->compilation_unit();
  for (const auto& module : clone->modules()) {
    EXPECT_EQ(module._ivalue()->compilation_unit(), clone_unit.lock()) << "one unit for all the clone's classes";
  }
  for (const auto& unit : original_units) EXPECT_NE(unit.lock(), clone_unit.lock());

  // Without the clone, its unit (classes, methods, graphs) goes; the original's stay.
  {
    Module second = clone_module(*original);
    std::weak_ptr<torch::jit::CompilationUnit> second_unit = second._ivalue()->compilation_unit();
    second = Module();
    EXPECT_TRUE(second_unit.expired()) << "a dropped clone must not stay in any unit";
  }
  // Without the original, the clone keeps the original's units (what its graphs may point into).
  original.reset();
  for (const auto& unit : original_units) EXPECT_FALSE(unit.expired());
  EXPECT_TRUE(clone->forward({x}).toTensor().equal(expected));
  clone.reset();
  EXPECT_TRUE(clone_unit.expired());
  for (const auto& unit : original_units) EXPECT_TRUE(unit.expired());
}

TEST(CloneModule, IgnoredAttributesAndMethodsOfTheTopModuleAreLeftOut) {
  Module original = tree();
  Module ours = clone_module(original, /*ignored_methods=*/{"helper"}, /*ignored_attributes=*/{"extra"});
  EXPECT_FALSE(ours.hasattr("extra"));
  EXPECT_TRUE(ours.hasattr("inner"));
  EXPECT_FALSE(ours.find_method("helper").has_value());
  EXPECT_TRUE(ours.find_method("forward").has_value());
  EXPECT_TRUE(original.hasattr("extra"));
  EXPECT_TRUE(original.find_method("helper").has_value());
  // Submodules keep all their attributes: only the top module's are ignored.
  EXPECT_EQ(ours.attr("a").toModule().type()->numAttributes(),
            original.attr("a").toModule().type()->numAttributes());
}

TEST(CloneModule, ManyAttributesOfOneClass) {
  // The shape that made Module::clone quadratic: one class with thousands of
  // attributes (an nn.Sequential of thousands of blocks, observers).
  Module top("Wide");
  top.register_attribute("training", c10::BoolType::get(), false);
  AttributeIndex index(*top.type());
  for (int i = 0; i < 5000; ++i) {
    index.add(top, "w_" + std::to_string(i), c10::TensorType::get(), at::full({1}, i), c10::AttributeKind::BUFFER);
  }
  Module ours = clone_module(top);
  ASSERT_EQ(ours.type()->numAttributes(), 5001u);
  EXPECT_EQ(ours.attr("w_4321").toTensor().item<float>(), 4321.0f);
  EXPECT_EQ(ours.named_buffers(false).size(), 5000u);
}

}  // namespace
