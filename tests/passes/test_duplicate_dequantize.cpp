// passes/duplicate_dequantize: one dequantize per annotated user.
#include <gtest/gtest.h>

#include <unordered_set>

#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "torch_pt2e_plugin/ops/library.h"
#include "torch_pt2e_plugin/passes/duplicate_dequantize.h"

using torch::jit::testing::FileCheck;

namespace {

// q -> dq -> {conv-like relu, add, mul}: relu and add annotated, mul not.
constexpr const char* kGraph = R"IR(
graph(%x : Tensor, %y : Tensor):
  %scale : float = prim::Constant[value=0.5]()
  %zp : int = prim::Constant[value=0]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %dtype : int = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %none : NoneType = prim::Constant()
  %q : Tensor = quantized_decomposed::quantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %dtype)
  %dq : Tensor = quantized_decomposed::dequantize_per_tensor(%q, %scale, %zp, %qmin, %qmax, %dtype, %none)
  %a : Tensor = aten::relu(%dq)
  %b : Tensor = aten::add(%dq, %y, %one)
  %c : Tensor = aten::mul(%dq, %y)
  %s : int = aten::size(%dq, %one)
  return (%a, %b, %c, %s))IR";

std::unordered_set<const torch::jit::Node*> nodes_of_kinds(torch::jit::Graph& graph,
                                                          std::vector<c10::Symbol> kinds) {
  std::unordered_set<const torch::jit::Node*> result;
  for (torch::jit::Node* n : graph.nodes()) {
    if (std::find(kinds.begin(), kinds.end(), n->kind()) != kinds.end()) result.insert(n);
  }
  return result;
}

TEST(DuplicateDequantize, EachAnnotatedUserGetsItsOwnDequantize) {
  torch_pt2e::ops::register_ops();
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(kGraph, graph.get());
  const auto annotated = nodes_of_kinds(*graph, {c10::aten::relu, c10::aten::add});
  EXPECT_TRUE(torch_pt2e::passes::duplicate_dequantize(*graph, annotated));
  FileCheck()
      .check_count("quantized_decomposed::dequantize_per_tensor", 3, /*exactly=*/true)
      ->run(*graph);
  // relu and add read different dequantizes; mul and size share the original.
  torch::jit::Node *relu = nullptr, *add = nullptr, *mul = nullptr, *size = nullptr;
  for (torch::jit::Node* n : graph->nodes()) {
    if (n->kind() == c10::aten::relu) relu = n;
    if (n->kind() == c10::aten::add) add = n;
    if (n->kind() == c10::aten::mul) mul = n;
    if (n->kind() == c10::aten::size) size = n;
  }
  EXPECT_NE(relu->input(0), add->input(0));
  EXPECT_NE(relu->input(0), mul->input(0));
  EXPECT_EQ(mul->input(0), size->input(0));
  EXPECT_EQ(relu->input(0)->uses().size(), 1u);
}

TEST(DuplicateDequantize, NothingToDoForASingleUserOrUnannotatedUsers) {
  torch_pt2e::ops::register_ops();
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(kGraph, graph.get());
  EXPECT_FALSE(torch_pt2e::passes::duplicate_dequantize(*graph, {}));
  FileCheck().check_count("quantized_decomposed::dequantize_per_tensor", 1, /*exactly=*/true)->run(*graph);
}

TEST(DuplicateDequantize, AllUsersAnnotatedLeavesNoOrphan) {
  torch_pt2e::ops::register_ops();
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(kGraph, graph.get());
  const auto annotated = nodes_of_kinds(*graph, {c10::aten::relu, c10::aten::add, c10::aten::mul});
  EXPECT_TRUE(torch_pt2e::passes::duplicate_dequantize(*graph, annotated));
  // relu, add, mul get copies; size keeps the original (shape queries do not count).
  FileCheck().check_count("quantized_decomposed::dequantize_per_tensor", 4, /*exactly=*/true)->run(*graph);
}

}  // namespace
