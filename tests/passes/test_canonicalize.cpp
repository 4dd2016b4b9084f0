// passes/canonicalize: inlining with attributes kept, conv+bn folding,
// _convolution rewriting, Optional[Tensor] attributes read as Tensor.
#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"

using torch::jit::testing::FileCheck;
namespace t = torch_pt2e::testing;

namespace {

constexpr const char* kConvThenBn = R"(
def forward(self, x):
    return self.bn.forward(self.conv.forward(x))
)";

// Top's submodules `conv` and `bn`; Top's methods are `top_code`.
torch::jit::Module conv_bn_module(bool conv_bias, const char* top_code = kConvThenBn) {
  torch::jit::Module conv("Conv");
  conv.register_attribute("training", c10::BoolType::get(), false);
  conv.register_parameter("weight", at::randn({4, 3, 3, 3}), false);
  conv.register_attribute("bias", c10::OptionalType::ofTensor(),
                          conv_bias ? c10::IValue(at::randn({4})) : c10::IValue(), /*is_param=*/true);
  conv.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias)
)");
  torch::jit::Module bn("BN");
  bn.register_attribute("training", c10::BoolType::get(), false);
  bn.register_parameter("weight", at::rand({4}) + 0.5, false);
  bn.register_parameter("bias", at::randn({4}), false);
  bn.register_buffer("running_mean", at::randn({4}));
  bn.register_buffer("running_var", at::rand({4}) + 0.5);
  bn.define(R"(
def forward(self, x):
    return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, self.training, 0.1, 1e-5, True)
)");
  torch::jit::Module top("Top");
  top.register_attribute("training", c10::BoolType::get(), false);
  top.register_module("conv", conv);
  top.register_module("bn", bn);
  top.define(top_code);
  return top;
}

TEST(Canonicalize, FoldsEvalBatchNormIntoConvBitIdenticallyToUpstreamArithmetic) {
  for (bool conv_bias : {true, false}) {
    at::manual_seed(0);
    torch::jit::Module model = conv_bn_module(conv_bias);
    torch::jit::Module canonical = torch_pt2e::passes::canonicalize_for_annotation(model);
    auto graph = canonical.get_method("forward").graph();
    FileCheck()
        .check("prim::GetAttr[name=\"conv_weight_fused_bn\"]")
        ->check("aten::conv2d")
        ->check_not("aten::batch_norm")
        ->run(*graph);
    const at::Tensor x = at::randn({2, 3, 6, 6});
    const at::Tensor expected = model.forward({x}).toTensor();
    const at::Tensor got = canonical.forward({x}).toTensor();
    EXPECT_TRUE(at::allclose(got, expected, 1e-4, 1e-5)) << "conv_bias=" << conv_bias;
    // The input module is untouched.
    EXPECT_EQ(torch_pt2e::testing::count_nodes(model, "prim::CallMethod"), 2);
  }
}

TEST(Canonicalize, RewritesConvolutionToConv2dAndTranspose) {
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(R"IR(
graph(%x : Float(1, 3, 8, 8), %w : Float(4, 3, 3, 3), %wt : Float(3, 4, 3, 3)):
  %none : NoneType = prim::Constant()
  %one : int[] = prim::Constant[value=[1, 1]]()
  %zero : int[] = prim::Constant[value=[0, 0]]()
  %false : bool = prim::Constant[value=0]()
  %true : bool = prim::Constant[value=1]()
  %g : int = prim::Constant[value=1]()
  %y : Tensor = aten::_convolution(%x, %w, %none, %one, %zero, %one, %false, %zero, %g, %false, %false, %true, %true)
  %z : Tensor = aten::_convolution(%y, %wt, %none, %one, %zero, %one, %true, %zero, %g, %false, %false, %true, %true)
  return (%z))IR",
                      graph.get());
  torch::jit::Module owner("Top");
  EXPECT_TRUE(torch_pt2e::passes::rewrite_convolution_calls(graph, owner));
  FileCheck()
      .check("aten::conv2d(%x, %w,")
      ->check("aten::conv_transpose2d(")
      ->check_not("aten::_convolution")
      ->run(*graph);
}

TEST(Canonicalize, ReadsOptionalTensorAttributesAsTensors) {
  // nn.Conv2d declares its bias Optional[Tensor]; quantize/dequantize need a Tensor.
  torch::jit::Module model = conv_bn_module(/*conv_bias=*/true);
  torch::jit::Module canonical =
      torch_pt2e::passes::canonicalize_for_annotation(model, torch_pt2e::passes::CanonicalizeOptions{false});
  FileCheck()
      .check("Tensor? = prim::GetAttr[name=\"bias\"]")
      ->check("Tensor = prim::unchecked_cast")
      ->check("aten::conv2d")
      ->run(*canonical.get_method("forward").graph());
  const at::Tensor x = at::randn({1, 3, 5, 5});
  EXPECT_TRUE(at::equal(canonical.forward({x}).toTensor(), model.forward({x}).toTensor()));
}

// canonicalize inlines the input's own methods (whose optimized graphs
// LibTorch keeps on them) and only then retypes the graph to the clone.
TEST(Canonicalize, InlinesTheInputsMethodsIntoAGraphTypedByTheClone) {
  at::manual_seed(0);
  std::string cold_text, warm_text, run_text;
  torch::jit::Module canonical;
  c10::QualifiedName conv_class;
  const at::Tensor x = at::randn({1, 3, 5, 5});
  at::Tensor expected;
  {
    torch::jit::Module model = conv_bn_module(/*conv_bias=*/true);
    conv_class = *model.attr("conv").toModule().type()->name();
    const std::string original_text = model.get_method("forward").graph()->toString();
    cold_text = t::unmangled_forward_text(torch_pt2e::passes::canonicalize_for_annotation(model));
    // Again, with the callees' optimized graphs cached by the first call.
    canonical = torch_pt2e::passes::canonicalize_for_annotation(model);
    warm_text = t::unmangled_forward_text(canonical);
    expected = model.forward({x}).toTensor();
    // The input is untouched: its forward still calls its submodules.
    EXPECT_EQ(model.get_method("forward").graph()->toString(), original_text);
    EXPECT_EQ(t::count_nodes(model, "prim::CallMethod"), 2);
  }
  {
    // A model that ran before (the executor computes the same optimized graphs).
    at::manual_seed(0);
    torch::jit::Module model = conv_bn_module(/*conv_bias=*/true);
    model.forward({x});
    run_text = t::unmangled_forward_text(torch_pt2e::passes::canonicalize_for_annotation(model));
  }
  EXPECT_EQ(warm_text, cold_text);
  EXPECT_EQ(run_text, cold_text);

  // Every module-typed value is of a class of the clone, none of the input's.
  std::unordered_set<const c10::Type*> clone_classes;
  for (const auto& module : canonical.modules()) clone_classes.insert(module.type().get());
  auto graph = canonical.get_method("forward").graph();
  for (torch::jit::DepthFirstGraphNodeIterator it(graph); torch::jit::Node* node = it.next();) {
    for (const torch::jit::Value* value : node->outputs()) {
      if (value->type()->cast<c10::ClassType>()) {
        EXPECT_TRUE(clone_classes.count(value->type().get())) << value->type()->repr_str();
      }
    }
  }
  EXPECT_TRUE(clone_classes.count(graph->inputs()[0]->type().get()));

  // With the input gone, the clone runs and its nodes' call stacks still
  // name the input's modules (their classes and functions are kept alive by
  // the compilation units the clone shares).
  EXPECT_TRUE(at::allclose(canonical.forward({x}).toTensor(), expected, 1e-4, 1e-5));
  bool found_conv = false;
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() != c10::aten::conv2d) continue;
    found_conv = true;
    const auto stack = torch_pt2e::passes::module_stack(node);
    ASSERT_EQ(stack.size(), 1u);
    EXPECT_EQ(stack[0].first, "conv");
    EXPECT_EQ(stack[0].second, conv_class.qualifiedName());
  }
  EXPECT_TRUE(found_conv);
}

// Forward's helper methods on its own module are inlined as written, and a
// convolution's rank check in forward's code or theirs (batch norm's input
// check) no longer keeps the batch norm from folding. Before, only checks
// inside submodules were folded (LibTorch's peephole on their optimized
// graphs), and a check written in forward kept its batch norm.
TEST(Canonicalize, InlinesOwnMethodsAndFoldsConvRankChecks) {
  const char* in_forward = R"(
def forward(self, x):
    y = self.conv.forward(x)
    assert y.dim() == 4
    return self.bn.forward(y)
)";
  const char* in_helper = R"(
def body(self, x):
    y = self.conv.forward(x)
    assert y.dim() == 4
    return self.bn.forward(y)

def forward(self, x):
    return self.body(x)
)";
  for (const char* code : {in_forward, in_helper}) {
    at::manual_seed(0);
    torch::jit::Module model = conv_bn_module(/*conv_bias=*/true, code);
    torch::jit::Module canonical = torch_pt2e::passes::canonicalize_for_annotation(model);
    FileCheck()
        .check_not("prim::CallMethod")
        ->check_not("aten::dim")
        ->check("prim::GetAttr[name=\"conv_weight_fused_bn\"]")
        ->check("aten::conv2d")
        ->check_not("aten::batch_norm")
        ->check_not("prim::RaiseException")
        ->run(*canonical.get_method("forward").graph());
    const at::Tensor x = at::randn({2, 3, 6, 6});
    EXPECT_TRUE(at::allclose(canonical.forward({x}).toTensor(), model.forward({x}).toTensor(), 1e-4, 1e-5)) << code;
  }
}

// An in-place op on the convolution's output could change its rank (resize_):
// its dim() stays a dim(), as in LibTorch's peephole.
TEST(Canonicalize, KeepsTheRankCheckOfAConvOutputWrittenInPlace) {
  torch::jit::Module model = conv_bn_module(/*conv_bias=*/true, R"(
def forward(self, x):
    y = self.conv.forward(x)
    y.add_(1.0)
    assert y.dim() == 4
    return y
)");
  torch::jit::Module canonical = torch_pt2e::passes::canonicalize_for_annotation(model);
  FileCheck().check("aten::conv2d")->check("aten::dim")->run(*canonical.get_method("forward").graph());
  const at::Tensor x = at::randn({2, 3, 6, 6});
  EXPECT_TRUE(at::equal(canonical.forward({x}).toTensor(), model.forward({x}).toTensor()));
}

}  // namespace
