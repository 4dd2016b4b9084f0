// passes/canonicalize: inlining with attributes kept, conv+bn folding,
// _convolution rewriting, Optional[Tensor] attributes read as Tensor.
#include <gtest/gtest.h>

#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"

using torch::jit::testing::FileCheck;

namespace {

torch::jit::Module conv_bn_module(bool conv_bias) {
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
  top.define(R"(
def forward(self, x):
    return self.bn.forward(self.conv.forward(x))
)");
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

}  // namespace
