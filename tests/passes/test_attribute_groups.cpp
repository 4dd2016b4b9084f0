// passes/attribute_groups and the grouped form of observer calls
// (passes/observer_calls.h): attributes on the top module up to the limit,
// in groups of kAttributeGroupSize beyond it, read from values defined at the
// graph's start.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "torch_pt2e_plugin/passes/attribute_groups.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/observer_calls.h"

namespace {

namespace p = torch_pt2e::passes;
using torch::jit::Module;
using torch::jit::testing::FileCheck;

Module identity_module() {
  Module module("__torch__.AttributeGroupsTest");
  module.register_attribute("training", c10::BoolType::get(), false);
  module.define("def forward(self, x):\n  return x\n");
  module.eval();
  return module;
}

// Makes forward return x + the sum of the buffers read through `reads`.
void sum_into_output(torch::jit::Graph& graph, const std::vector<torch::jit::Value*>& reads) {
  torch::jit::WithInsertPoint guard(graph.return_node());
  torch::jit::Value* total = graph.outputs()[0];
  for (torch::jit::Value* read : reads) total = graph.insert(c10::aten::add, {total, read});
  graph.return_node()->replaceInput(0, total);
}

TEST(AttributeGroups, UpToTheLimitAttributesGoOnTheModule) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  p::AttributeGroups groups(module, *graph, "_test_groups", /*expected=*/3, /*flat_limit=*/3);
  EXPECT_FALSE(groups.grouped());
  std::vector<torch::jit::Value*> reads;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "b" + std::to_string(i);
    torch::jit::Value* holder = groups.add(name, c10::TensorType::get(), at::full({2}, i), c10::AttributeKind::BUFFER);
    EXPECT_EQ(holder, graph->inputs()[0]);
    reads.push_back(p::insert_attribute_read(*graph, holder, name, c10::TensorType::get()));
  }
  sum_into_output(*graph, reads);
  EXPECT_FALSE(module.hasattr("_test_groups"));
  EXPECT_TRUE(module.hasattr("b2"));
  EXPECT_TRUE(at::equal(module.forward({at::zeros({2})}).toTensor(), at::full({2}, 3.0)));  // 0 + 1 + 2
}

TEST(AttributeGroups, BeyondTheLimitEveryAttributeGoesIntoAGroupOfAtMostTheGroupSize) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  const int64_t count = 2 * p::kAttributeGroupSize + 5;
  p::AttributeGroups groups(module, *graph, "_test_groups", count, /*flat_limit=*/1);
  ASSERT_TRUE(groups.grouped());
  std::vector<torch::jit::Value*> reads;
  for (int64_t i = 0; i < count; ++i) {
    const std::string name = "b" + std::to_string(i);
    torch::jit::Value* holder = groups.add(name, c10::TensorType::get(), at::full({1}, 1.0), c10::AttributeKind::BUFFER);
    EXPECT_NE(holder, graph->inputs()[0]);
    reads.push_back(p::insert_attribute_read(*graph, holder, name, c10::TensorType::get()));
  }
  sum_into_output(*graph, reads);
  graph->lint();

  Module container = module.attr("_test_groups").toModule();
  ASSERT_EQ(container.type()->numAttributes(), 4u);  // training, g0, g1, g2
  EXPECT_EQ(container.attr("g0").toModule().type()->numAttributes(), 1u + p::kAttributeGroupSize);
  EXPECT_EQ(container.attr("g2").toModule().type()->numAttributes(), 1u + 5u);
  EXPECT_TRUE(container.attr("g2").toModule().type()->is_buffer(1));
  EXPECT_FALSE(module.hasattr("b0"));
  EXPECT_TRUE(container.attr("g1").toModule().hasattr("b" + std::to_string(p::kAttributeGroupSize)));
  // Reads: the container first, then the groups, then everything else.
  FileCheck()
      .check("prim::GetAttr[name=\"_test_groups\"](%self")
      ->check_count("prim::GetAttr[name=\"g", 3, /*exactly=*/true)
      ->check("prim::GetAttr[name=\"b")
      ->run(*graph);
  EXPECT_TRUE(at::equal(module.forward({at::zeros({1})}).toTensor(), at::full({1}, double(count))));
  // The holders, for passes that look attributes up by name.
  const auto holders = p::attribute_holders(module, "_test_groups");
  ASSERT_EQ(holders.size(), 4u);
  EXPECT_EQ(holders[0].type(), module.type());
  // Saved and loaded, the module still runs.
  std::stringstream saved;
  module.save(saved);
  Module loaded = torch::jit::load(saved);
  EXPECT_TRUE(at::equal(loaded.forward({at::zeros({1})}).toTensor(), at::full({1}, double(count))));
}

// Adds `count` one-valued buffers through `groups` and makes forward return
// x plus their sum.
void add_ones(torch::jit::Graph& graph, p::AttributeGroups& groups, int64_t count) {
  std::vector<torch::jit::Value*> reads;
  for (int64_t i = 0; i < count; ++i) {
    const std::string name = "b" + std::to_string(i);
    torch::jit::Value* holder = groups.add(name, c10::TensorType::get(), at::full({1}, 1.0), c10::AttributeKind::BUFFER);
    reads.push_back(p::insert_attribute_read(graph, holder, name, c10::TensorType::get()));
  }
  sum_into_output(graph, reads);
}

TEST(AttributeGroups, GroupsMadeForAttributesThatNeverCameAreRemoved) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  const int64_t count = p::kAttributeGroupSize + 1;
  {
    p::AttributeGroups groups(module, *graph, "_test_groups", /*expected=*/4 * p::kAttributeGroupSize,
                              /*flat_limit=*/1);
    add_ones(*graph, groups, count);
    // Four groups while the groups live.
    EXPECT_EQ(module.attr("_test_groups").toModule().type()->numAttributes(), 5u);
  }
  graph->lint();
  Module container = module.attr("_test_groups").toModule();
  ASSERT_EQ(container.type()->numAttributes(), 3u);  // training, g0, g1
  EXPECT_EQ(container.type()->getAttributeName(1), "g0");
  EXPECT_EQ(container.type()->getAttributeName(2), "g1");
  EXPECT_EQ(container._ivalue()->slots().size(), 3u);
  // The newest group's read first, as groups made one at a time are read.
  FileCheck()
      .check("prim::GetAttr[name=\"_test_groups\"](%self")
      ->check("prim::GetAttr[name=\"g1\"]")
      ->check("prim::GetAttr[name=\"g0\"]")
      ->check_not("prim::GetAttr[name=\"g")
      ->run(*graph);
  EXPECT_TRUE(at::equal(module.forward({at::zeros({1})}).toTensor(), at::full({1}, double(count))));
  std::stringstream saved;
  module.save(saved);
  EXPECT_TRUE(at::equal(torch::jit::load(saved).forward({at::zeros({1})}).toTensor(), at::full({1}, double(count))));
}

TEST(AttributeGroups, MoreAttributesThanExpectedGetGroupsOfTheirOwn) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  const int64_t count = 2 * p::kAttributeGroupSize + 1;
  {
    p::AttributeGroups groups(module, *graph, "_test_groups", /*expected=*/2, /*flat_limit=*/1);
    add_ones(*graph, groups, count);
  }
  graph->lint();
  Module container = module.attr("_test_groups").toModule();
  ASSERT_EQ(container.type()->numAttributes(), 4u);  // training, g0, g1, g2
  EXPECT_EQ(container.attr("g2").toModule().type()->numAttributes(), 2u);  // training, b512
  FileCheck()
      .check("prim::GetAttr[name=\"_test_groups\"](%self")
      ->check("prim::GetAttr[name=\"g2\"]")
      ->check("prim::GetAttr[name=\"g1\"]")
      ->check("prim::GetAttr[name=\"g0\"]")
      ->check_not("prim::GetAttr[name=\"g")
      ->run(*graph);
  EXPECT_TRUE(at::equal(module.forward({at::zeros({1})}).toTensor(), at::full({1}, double(count))));
}

TEST(AttributeGroups, NoAttributeLeavesTheContainerWithoutGroups) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  { p::AttributeGroups groups(module, *graph, "_test_groups", /*expected=*/1000, /*flat_limit=*/1); }
  graph->lint();
  EXPECT_EQ(module.attr("_test_groups").toModule().type()->numAttributes(), 1u);  // training
  FileCheck().check_not("prim::GetAttr[name=\"g")->run(*graph);
  EXPECT_TRUE(at::equal(module.forward({at::ones({1})}).toTensor(), at::ones({1})));
}

TEST(AttributeGroups, RefusesAContainerNameTheModuleHas) {
  Module module = identity_module();
  module.register_buffer("_test_groups", at::ones({1}));
  auto graph = module.get_method("forward").graph();
  EXPECT_THROW(p::AttributeGroups(module, *graph, "_test_groups", 10, /*flat_limit=*/1), c10::Error);
}

// An observer-like submodule (forward returns its input times a factor).
Module scaling_module(Module& owner, double factor) {
  Module scaler("__torch__.Scaler", owner._ivalue()->compilation_unit(), /*shouldMangle=*/true);
  scaler.register_attribute("training", c10::BoolType::get(), false);
  scaler.register_attribute("factor", c10::FloatType::get(), factor);
  scaler.define("def forward(self, x):\n  return x * self.factor\n");
  return scaler;
}

TEST(ObserverCalls, GroupedCallsAreFoundAndDestroyedWithTheirUnusedReads) {
  Module module = identity_module();
  auto graph = module.get_method("forward").graph();
  p::AttributeGroups groups(module, *graph, p::kObserverGroupsAttribute, /*expected=*/2, /*flat_limit=*/0);
  torch::jit::Value* x = graph->inputs()[1];
  torch::jit::Value* y = x;
  for (int i = 0; i < 2; ++i) {
    const std::string name = "activation_post_process_" + std::to_string(i);
    Module scaler = scaling_module(module, i + 2.0);
    torch::jit::Value* holder = groups.add(name, scaler.type(), scaler._ivalue());
    y = p::insert_observer_call(*graph, holder, name, scaler.type(), y);
  }
  graph->return_node()->replaceInput(0, y);
  graph->lint();
  EXPECT_TRUE(at::equal(module.forward({at::ones({1})}).toTensor(), at::full({1}, 6.0)));  // 1 * 2 * 3

  std::vector<torch::jit::Node*> calls;
  for (torch::jit::Node* node : graph->nodes()) {
    if (const auto name = p::observer_call_name(node)) {
      EXPECT_EQ(*name, "activation_post_process_" + std::to_string(calls.size()));
      calls.push_back(node);
    }
  }
  ASSERT_EQ(calls.size(), 2u);
  // The group's own read is not an observer call's target.
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() == c10::prim::GetAttr && p::reads_attribute_group(node, p::kObserverGroupsAttribute)) {
      EXPECT_FALSE(p::observer_call_name(node).has_value());
    }
  }
  for (torch::jit::Node* call : calls) {
    call->output()->replaceAllUsesWith(call->input(1));
    p::destroy_observer_call(call);
  }
  // Nothing is left reading observers, their group or the container.
  // (forward is not run again: its executor keeps the plan of the first run)
  FileCheck().check_not("prim::GetAttr")->check_not("prim::CallMethod")->run(*graph);
}

}  // namespace
