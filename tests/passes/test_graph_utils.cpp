// passes/graph_utils: fresh attribute names and the GetAttr nodes of new
// attributes, which the passes use to add thousands of attributes to one module.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace p = torch_pt2e::passes;
using torch::jit::testing::FileCheck;

namespace {

torch::jit::Module module_with_names() {
  torch::jit::Module module("__torch__.GraphUtilsTest");
  module.register_buffer("w", at::ones({2}));
  module.register_buffer("w_1", at::ones({2}));
  module.register_attribute("scale", c10::FloatType::get(), 0.5);
  module.type()->addConstant("k", c10::IValue(int64_t{3}));
  module.define("def forward(self, x):\n  return x + self.w\n");
  return module;
}

TEST(AttributeNames, TakesTheNameUniqueAttributeNameWouldAndRemembersIt) {
  torch::jit::Module module = module_with_names();
  p::AttributeNames names(module);
  for (const std::string base : {"w", "scale", "k", "fresh"}) {
    EXPECT_EQ(names.take_unique(base), p::unique_attribute_name(module, base)) << base;
  }
  // Taken names are skipped without asking the module.
  EXPECT_EQ(names.take_unique("fresh"), "fresh_1");
  EXPECT_EQ(names.take_unique("w"), "w_3");
}

TEST(AddTensorAttribute, RegistersABufferReadAtTheGraphStart) {
  torch::jit::Module module = module_with_names();
  auto graph = module.get_method("forward").graph();
  p::AttributeNames names(module);
  torch::jit::Value* read = p::add_tensor_attribute(module, *graph, names, "w", at::full({2}, 2.0), false);
  ASSERT_TRUE(module.hasattr("w_2"));
  EXPECT_TRUE(module.type()->is_buffer(*module.type()->findAttributeSlot("w_2")));
  EXPECT_TRUE(at::equal(module.attr("w_2").toTensor(), at::full({2}, 2.0)));
  EXPECT_EQ(read->node()->s(c10::attr::name), "w_2");
  EXPECT_EQ(*read->type(), *c10::TensorType::get());
  EXPECT_EQ(read->node(), graph->param_node()->next());
  // Reading it in forward gives the new buffer's value.
  graph->return_node()->replaceInput(0, graph->insert(c10::aten::mul, {graph->outputs()[0], read}));
  FileCheck().check("prim::GetAttr[name=\"w_2\"]")->check("aten::mul")->run(*graph);
  const at::Tensor x = at::ones({2});
  EXPECT_TRUE(at::equal(module.forward({x}).toTensor(), at::full({2}, 4.0)));
}

}  // namespace

namespace {

std::shared_ptr<torch::jit::Graph> parse(const std::string& ir) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, graph.get());
  return graph;
}

TEST(EliminateDeadCode, RemovesWhatTorchRemovesOnAGraphWithoutWrites) {
  const std::string ir = R"IR(
graph(%x : Tensor):
  %one : int = prim::Constant[value=1]()
  %dead : Tensor = aten::add(%x, %x, %one)
  %dead2 : Tensor = aten::relu(%dead)
  %list : Tensor[] = prim::ListConstruct(%x, %dead2)
  %live : Tensor = aten::mul(%x, %x)
  return (%live))IR";
  auto ours = parse(ir);
  auto torchs = parse(ir);
  p::eliminate_dead_code(ours);
  torch::jit::EliminateDeadCode(torchs);
  EXPECT_EQ(ours->toString(), torchs->toString());
  FileCheck().check_not("aten::add")->check_not("aten::relu")->check("aten::mul")->run(*ours);
}

TEST(EliminateDeadCode, KeepsAWriteToALiveValue) {
  // add_'s output is unused, but it changes %y, which is returned.
  auto graph = parse(R"IR(
graph(%x : Tensor):
  %one : int = prim::Constant[value=1]()
  %y : Tensor = aten::mul(%x, %x)
  %unused : Tensor = aten::add_(%y, %x, %one)
  %dead : Tensor = aten::relu(%x)
  return (%y))IR");
  p::eliminate_dead_code(graph);
  FileCheck().check("aten::add_")->check_not("aten::relu")->run(*graph);
}

TEST(EliminateDeadCode, LeavesAGraphWithoutDeadCodeAsItIs) {
  const std::string ir = R"IR(
graph(%x : Tensor, %c : bool):
  %one : int = prim::Constant[value=1]()
  %a : Tensor = aten::add(%x, %x, %one)
  %y : Tensor = prim::If(%c)
    block0():
      %b : Tensor = aten::relu(%a)
      -> (%b)
    block1():
      -> (%a)
  return (%y))IR";
  auto ours = parse(ir);
  const std::string before = ours->toString();
  p::eliminate_dead_code(ours);
  EXPECT_EQ(ours->toString(), before);
}

TEST(EliminateDeadCode, TrimsAnUnusedIfOutputAndWhatOnlyItUsed) {
  // Every node's output is used except the if's second one: torch's pass
  // removes that output and the relu its block returned.
  const std::string ir = R"IR(
graph(%x : Tensor, %c : bool):
  %y : Tensor, %unused : Tensor = prim::If(%c)
    block0():
      %b : Tensor = aten::relu(%x)
      -> (%x, %b)
    block1():
      -> (%x, %x)
  return (%y))IR";
  auto ours = parse(ir);
  auto torchs = parse(ir);
  p::eliminate_dead_code(ours);
  torch::jit::EliminateDeadCode(torchs);
  EXPECT_EQ(ours->toString(), torchs->toString());
  FileCheck().check_not("aten::relu")->run(*ours);
}

// Constants of immutable types spread over the graph and a nested block, as
// convert leaves them: equal ones merge, kept ones move to the front.
const char* kScatteredConstants = R"IR(
graph(%x : Tensor, %c : bool):
  %one : int = prim::Constant[value=1]()
  %a : Tensor = aten::add(%x, %x, %one)
  %s : float = prim::Constant[value=0.5]()
  %z : int = prim::Constant[value=0]()
  %q : Tensor = quantized_decomposed::quantize_per_tensor(%a, %s, %z, %z, %one, %one)
  %y : Tensor = prim::If(%c)
    block0():
      %one2 : int = prim::Constant[value=1]()
      %s2 : float = prim::Constant[value=0.5]()
      %none : NoneType = prim::Constant()
      %name : str = prim::Constant[value="x"]()
      %b : Tensor = aten::add(%q, %x, %one2)
      %d : Tensor = aten::mul(%b, %s2)
      -> (%d)
    block1():
      %s3 : float = prim::Constant[value=0.25]()
      %e : Tensor = aten::mul(%q, %s3)
      -> (%e)
  %one3 : int = prim::Constant[value=1]()
  %f : Tensor = aten::add(%y, %x, %one3)
  return (%f))IR";

TEST(PoolConstants, MergesWhatTorchMergesWhenEveryConstantIsImmutable) {
  auto ours = parse(kScatteredConstants);
  auto torchs = parse(kScatteredConstants);
  p::pool_constants(ours);
  torch::jit::ConstantPooling(torchs);
  // The same merges, constants left where they first appear: moving them to
  // the front as ConstantPooling then does gives its graph exactly.
  const std::string pooled = ours->toString();
  torch::jit::ConstantPooling(ours);
  EXPECT_EQ(ours->toString(), torchs->toString());
  // Something happened: the three 1s are one constant, still where the first was (before the add).
  FileCheck().check_count("prim::Constant[value=1]", 1, /*exactly=*/true)->run(pooled);
  FileCheck().check("prim::Constant[value=1]")->check("aten::add")->run(pooled);
  // The 0.25 of the If's second branch left it, to just before the If.
  FileCheck().check("prim::Constant[value=0.25]")->check_next("prim::If")->run(pooled);
}

TEST(PoolConstants, KeepsEachConstantBeforeItsUses) {
  auto graph = parse(kScatteredConstants);
  p::pool_constants(graph);
  graph->lint();  // fails when a value is used before it is defined
}

TEST(PoolConstants, LeavesTensorConstantsToTorchsAliasAnalysis) {
  // Two equal tensor constants, one of them written in place: merging them
  // would make the write visible through the other, and ConstantPooling keeps
  // both. pool_constants must do the same.
  auto build = [] {
    auto graph = std::make_shared<torch::jit::Graph>();
    torch::jit::Value* x = graph->addInput("x");
    x->setType(c10::TensorType::get());
    torch::jit::Value* t1 = graph->insertConstant(at::ones({2}));
    torch::jit::Value* t2 = graph->insertConstant(at::ones({2}));
    torch::jit::Value* one = graph->insertConstant(int64_t{1});
    torch::jit::Value* written = graph->insert(c10::Symbol::fromQualString("aten::add_"), {t1, x, one});
    torch::jit::Value* other = graph->insert(c10::Symbol::fromQualString("aten::mul"), {t2, x});
    graph->registerOutput(graph->insert(c10::Symbol::fromQualString("aten::add"), {written, other, one}));
    return graph;
  };
  auto ours = build();
  auto torchs = build();
  p::pool_constants(ours);  // (goes to ConstantPooling: a tensor constant)
  torch::jit::ConstantPooling(torchs);
  EXPECT_EQ(ours->toString(), torchs->toString());
  int tensor_constants = 0;
  for (torch::jit::Node* node : ours->nodes()) {
    if (node->kind() == c10::prim::Constant && node->output()->type()->isSubtypeOf(*c10::TensorType::get())) {
      ++tensor_constants;
    }
  }
  EXPECT_EQ(tensor_constants, 2);
}

TEST(PoolConstants, MergesScalarsExactlyWhereTorchDoes) {
  // The cases where a scalar's value alone does not decide: 0.0 and -0.0
  // (equal under ==, so torch merges them), NaN (equal to nothing), 1 and
  // True (the same stored integer, other types), None typed NoneType and
  // None typed Optional[int].
  auto build = [] {
    auto graph = std::make_shared<torch::jit::Graph>();
    std::vector<torch::jit::Value*> values;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const c10::IValue& v : {c10::IValue(0.0), c10::IValue(-0.0), c10::IValue(nan), c10::IValue(nan),
                                 c10::IValue(int64_t{1}), c10::IValue(true), c10::IValue(int64_t{1}),
                                 c10::IValue(true), c10::IValue(-0.0), c10::IValue(0.5), c10::IValue(0.5)}) {
      values.push_back(graph->insertConstant(v));
    }
    values.push_back(graph->insertConstant(c10::IValue()));
    torch::jit::Value* optional_none = graph->insertConstant(c10::IValue());
    optional_none->setType(c10::OptionalType::create(c10::IntType::get()));
    values.push_back(optional_none);
    values.push_back(graph->insertConstant(c10::IValue()));
    graph->registerOutput(graph->insertNode(graph->createTuple(values))->output());
    return graph;
  };
  // Which tuple elements share a constant: for each, the first element with its value.
  auto sharing = [](const std::shared_ptr<torch::jit::Graph>& graph) {
    const auto elements = graph->outputs()[0]->node()->inputs();
    std::vector<size_t> first;
    for (size_t i = 0; i < elements.size(); ++i) {
      first.push_back(std::find(elements.begin(), elements.end(), elements[i]) - elements.begin());
    }
    return first;
  };
  auto ours = build();
  auto torchs = build();
  p::pool_constants(ours);
  torch::jit::ConstantPooling(torchs);
  EXPECT_EQ(sharing(ours), sharing(torchs));
  // 0.0 (with both -0.0), two NaNs, 1, True, 0.5, None, Optional None.
  EXPECT_EQ(sharing(ours), (std::vector<size_t>{0, 0, 2, 3, 4, 5, 4, 5, 0, 9, 9, 11, 12, 11}));
  ours->lint();
}

}  // namespace
