// passes/reference_representation: each rewrite alone (IR in -> IR out, and
// the graph's output before and after), hand-computed integers, requirements.
#include <gtest/gtest.h>

#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "torch_pt2e_plugin/ops/library.h"
#include "torch_pt2e_plugin/passes/reference_representation.h"

using torch::jit::testing::FileCheck;
using torch_pt2e::passes::apply_reference_rewrite;
using torch_pt2e::passes::ReferenceNumerics;
using torch_pt2e::passes::reference_representation;
using torch_pt2e::passes::reference_rewrites;

namespace {

const torch_pt2e::passes::ReferenceRewrite& rewrite_named(const std::string& name) {
  for (const auto& rewrite : reference_rewrites()) {
    if (rewrite.name == name) return rewrite;
  }
  throw std::runtime_error("no reference rewrite named " + name);
}

std::shared_ptr<torch::jit::Graph> parse(const std::string& ir) {
  torch_pt2e::ops::register_ops();
  auto graph = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, graph.get());
  return graph;
}

void replace_once(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

at::Tensor run(const std::shared_ptr<torch::jit::Graph>& graph, const std::vector<c10::IValue>& inputs) {
  torch::jit::GraphFunction function("forward", graph->copy(), nullptr);
  torch::jit::Stack stack(inputs.begin(), inputs.end());
  function.run(stack);
  return stack.back().toTensor();
}

// Constants shared by the graphs below (an int8 per-tensor scheme).
constexpr const char* kConstants = R"IR(
  %x_scale : float = prim::Constant[value=0.05]()
  %x_zp : int = prim::Constant[value=3]()
  %w_scale : float = prim::Constant[value=0.01]()
  %w_zp : int = prim::Constant[value=0]()
  %out_scale : float = prim::Constant[value=0.001]()
  %out_zp : int = prim::Constant[value=-5]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %w_qmin : int = prim::Constant[value=-127]()
  %int8 : int = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %none : NoneType = prim::Constant())IR";

std::string linear_graph(const std::string& bias_line) {
  return std::string("graph(%x_i8 : Tensor, %w_i8 : Tensor, %bias_in : Tensor):") + kConstants + bias_line + R"IR(
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %qmin, %qmax, %int8, %none)
  %w : Tensor = quantized_decomposed::dequantize_per_tensor(%w_i8, %w_scale, %w_zp, %w_qmin, %qmax, %int8, %none)
  %y : Tensor = aten::linear(%x, %w, %bias)
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%y, %out_scale, %out_zp, %qmin, %qmax, %int8)
  return (%out))IR";
}

constexpr const char* kWithBias = R"IR(
  %bias : Tensor = aten::clone(%bias_in, %none))IR";
constexpr const char* kWithoutBias = R"IR(
  %bias : NoneType = prim::Constant())IR";

TEST(ReferenceRepresentation, StaticLinearIsIntegerArithmetic) {
  auto graph = parse(linear_graph(kWithBias));
  // x - x_zp = [10, 0]; w = [[2, 0], [-1, 0]]: acc = [20, -10].
  // bias / (0.05 * 0.01) = [0.0031, -0.0012] / 0.0005 = [6.2, -2.4] -> [6, -2] (truncated).
  // (acc + bias) * (0.0005 / 0.001) = [26, -12] * 0.5 = [13, -6]; + out_zp -5 = [8, -11].
  const std::vector<c10::IValue> inputs{at::tensor({13, 3}, at::kChar).view({1, 2}),
                                        at::tensor({2, 0, -1, 0}, at::kChar).view({2, 2}),
                                        at::tensor({0.0031f, -0.0012f})};
  const at::Tensor before = run(graph, inputs);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("linear")), 1);
  FileCheck()
      .check("aten::clamp")
      ->check("torch_pt2e::out_dtype_linear")
      ->check("torch_pt2e::out_dtype_div")
      ->check("torch_pt2e::out_dtype_mul")
      ->check_not("quantized_decomposed::")
      ->run(*graph);
  const at::Tensor after = run(graph, inputs);
  EXPECT_TRUE(at::equal(after, at::tensor({8, -11}, at::kChar).view({1, 2}))) << after;
  EXPECT_TRUE(at::equal(after, before)) << before;
}

TEST(ReferenceRepresentation, LinearWithoutBiasHasNoBiasArithmetic) {
  auto graph = parse(linear_graph(kWithoutBias));
  const std::vector<c10::IValue> inputs{at::tensor({13, 3}, at::kChar).view({1, 2}),
                                        at::tensor({2, 0, -1, 0}, at::kChar).view({2, 2}), at::zeros({2})};
  // The with-bias rewrite requires a Tensor bias.
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("linear")), 0);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("linear_no_bias")), 1);
  FileCheck().check("torch_pt2e::out_dtype_linear")->check_not("out_dtype_div")->run(*graph);
  // acc [20, -10] * 0.5 = [10, -5]; -5 -> [5, -10].
  EXPECT_TRUE(at::equal(run(graph, inputs), at::tensor({5, -10}, at::kChar).view({1, 2})));
}

TEST(ReferenceRepresentation, Uint8IsLeftInQuantizedForm) {
  std::string ir = linear_graph(kWithBias);
  replace_once(ir, "%int8 : int = prim::Constant[value=1]()", "%int8 : int = prim::Constant[value=0]()");
  auto graph = parse(ir);
  EXPECT_EQ(reference_representation(graph), 0);
  FileCheck().check_count("quantized_decomposed::", 3, /*exactly=*/true)->run(*graph);
}

TEST(ReferenceRepresentation, QuantizePerTensorRoundsHalfToEvenAfterDivision) {
  auto graph = parse(R"IR(
graph(%x : Tensor):
  %scale : float = prim::Constant[value=0.5]()
  %zp : int = prim::Constant[value=3]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %int8 : int = prim::Constant[value=1]()
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %int8)
  return (%out))IR");
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("quantize_per_tensor")), 1);
  FileCheck().check("aten::div")->check("aten::round")->check_not("quantized_decomposed::")->run(*graph);
  // 0.25 / 0.5 = 0.5 -> 0; 0.75 / 0.5 = 1.5 -> 2; -1 / 0.5 = -2; 100 / 0.5 = 200 -> 127 (clamped).
  const at::Tensor out = run(graph, {at::tensor({0.25f, 0.75f, -1.0f, 100.0f})});
  EXPECT_TRUE(at::equal(out, at::tensor({3, 5, 1, 127}, at::kChar))) << out;
}

TEST(ReferenceRepresentation, DequantizePerTensor) {
  auto graph = parse(R"IR(
graph(%x : Tensor):
  %scale : float = prim::Constant[value=0.5]()
  %zp : int = prim::Constant[value=3]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %int8 : int = prim::Constant[value=1]()
  %none : NoneType = prim::Constant()
  %out : Tensor = quantized_decomposed::dequantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %int8, %none)
  return (%out))IR");
  const at::Tensor x = at::tensor({-128, 3, 4, 127}, at::kChar);
  const at::Tensor before = run(graph, {x});
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("dequantize_per_tensor")), 1);
  FileCheck().check_not("quantized_decomposed::")->run(*graph);
  const at::Tensor after = run(graph, {x});
  // (q - 3) * 0.5
  EXPECT_TRUE(at::equal(after, at::tensor({-65.5f, 0.0f, 0.5f, 62.0f}))) << after;
  EXPECT_TRUE(at::equal(after, before));
}

constexpr const char* kPerChannelGraph = R"IR(
graph(%x : Tensor, %scales : Tensor, %zps : Tensor, %axis : int):
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %int8 : int = prim::Constant[value=1]()
  %none : NoneType = prim::Constant()
  %q : Tensor = quantized_decomposed::quantize_per_channel(%x, %scales, %zps, %axis, %qmin, %qmax, %int8)
  %dq : Tensor = quantized_decomposed::dequantize_per_channel(%q, %scales, %zps, %axis, %qmin, %qmax, %int8, %none)
  return (%dq))IR";

TEST(ReferenceRepresentation, PerChannelAnyAxisAnyRank) {
  at::manual_seed(0);
  for (int64_t rank = 2; rank <= 5; ++rank) {
    for (int64_t axis = 0; axis < rank; ++axis) {
      std::vector<int64_t> shape(rank, 2);
      shape[axis] = 3;
      const at::Tensor x = at::randn(shape) * 4;
      const at::Tensor scales = at::tensor({0.02f, 0.05f, 0.1f});
      const at::Tensor zps = at::tensor({0, -3, 7}, at::kLong);
      const std::vector<c10::IValue> inputs{x, scales, zps, axis};
      auto graph = parse(kPerChannelGraph);
      const at::Tensor before = run(graph, inputs);
      EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("quantize_per_channel")), 1);
      EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("dequantize_per_channel")), 1);
      FileCheck().check_count("aten::transpose", 4, /*exactly=*/true)->check_not("quantized_decomposed::")->run(*graph);
      const at::Tensor after = run(graph, inputs);
      // quantize_per_channel multiplies by 1/scale where the reference divides:
      // at most one step of the channel's scale apart.
      const at::Tensor difference = (after - before).abs().movedim(axis, -1);
      EXPECT_TRUE((difference <= scales * 1.0001).all().item<bool>()) << "rank " << rank << " axis " << axis;
    }
  }
}

constexpr const char* kAddGraph = R"IR(
graph(%x_i8 : Tensor, %y_i8 : Tensor):
  %x_scale : float = prim::Constant[value=0.1]()
  %x_zp : int = prim::Constant[value=2]()
  %y_scale : float = prim::Constant[value=0.2]()
  %y_zp : int = prim::Constant[value=-4]()
  %out_scale : float = prim::Constant[value=0.4]()
  %out_zp : int = prim::Constant[value=1]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %int8 : int = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %none : NoneType = prim::Constant()
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %qmin, %qmax, %int8, %none)
  %y : Tensor = quantized_decomposed::dequantize_per_tensor(%y_i8, %y_scale, %y_zp, %qmin, %qmax, %int8, %none)
  %sum : Tensor = aten::add(%x, %y, %one)
  %relu : Tensor = aten::relu(%sum)
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%relu, %out_scale, %out_zp, %qmin, %qmax, %int8)
  return (%out))IR";

std::string add_graph(bool relu) {
  std::string ir = kAddGraph;
  if (!relu) {
    replace_once(ir, "%relu : Tensor = aten::relu(%sum)", "");
    replace_once(ir, "quantize_per_tensor(%relu", "quantize_per_tensor(%sum");
  }
  return ir;
}

TEST(ReferenceRepresentation, AddRoundsEachRescaledInput) {
  auto graph = parse(add_graph(false));
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("add_relu")), 0);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("add")), 1);
  FileCheck().check_count("aten::round", 2, /*exactly=*/true)->check_not("quantized_decomposed::")->run(*graph);
  // x: (7 - 2) * 0.25 = 1.25 -> 1; y: (1 + 4) * 0.5 = 2.5 -> 2 (half to even); 1 + 2 + 1 = 4.
  // x: (-13 - 2) * 0.25 = -3.75 -> -4; y: (-4 + 4) * 0.5 = 0; -4 + 0 + 1 = -3.
  const at::Tensor out = run(graph, {at::tensor({7, -13}, at::kChar), at::tensor({1, -4}, at::kChar)});
  EXPECT_TRUE(at::equal(out, at::tensor({4, -3}, at::kChar))) << out;
}

TEST(ReferenceRepresentation, AddReluTruncatesAndClampsAtTheZeroPoint) {
  auto graph = parse(add_graph(true));
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("add_relu")), 1);
  FileCheck()
      .check_count("torch_pt2e::out_dtype_mul", 2, /*exactly=*/true)
      ->check_not("aten::relu")
      ->check_not("quantized_decomposed::")
      ->run(*graph);
  // x: (7 - 2) * 0.25 = 1.25 -> 1; y: (1 + 4) * 0.5 = 2.5 -> 2 (truncated); 1 + 2 + 1 = 4.
  // x: -3.75 -> -3; y: 0; -3 + 0 + 1 = -2 -> clamped at out_zp 1.
  const at::Tensor out = run(graph, {at::tensor({7, -13}, at::kChar), at::tensor({1, -4}, at::kChar)});
  EXPECT_TRUE(at::equal(out, at::tensor({4, 1}, at::kChar))) << out;
}

TEST(ReferenceRepresentation, AddWithAlphaIsNotRewritten) {
  std::string ir = add_graph(false);
  replace_once(ir, "aten::add(%x, %y, %one)", "aten::add(%x, %y, %qmax)");
  auto graph = parse(ir);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("add")), 0);
}

TEST(ReferenceRepresentation, Conv2dAndMaxPool2dMatchTheirQuantizedForms) {
  auto graph = parse(R"IR(
graph(%x_i8 : Tensor, %w_i8 : Tensor, %bias : Tensor):
  %x_scale : float = prim::Constant[value=0.05]()
  %x_zp : int = prim::Constant[value=3]()
  %w_scale : float = prim::Constant[value=0.01]()
  %w_zp : int = prim::Constant[value=0]()
  %out_scale : float = prim::Constant[value=0.02]()
  %out_zp : int = prim::Constant[value=-5]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %w_qmin : int = prim::Constant[value=-127]()
  %int8 : int = prim::Constant[value=1]()
  %one : int = prim::Constant[value=1]()
  %two : int = prim::Constant[value=2]()
  %zero : int = prim::Constant[value=0]()
  %false : bool = prim::Constant[value=0]()
  %none : NoneType = prim::Constant()
  %stride : int[] = prim::ListConstruct(%two, %two)
  %padding : int[] = prim::ListConstruct(%one, %one)
  %dilation : int[] = prim::ListConstruct(%one, %one)
  %pool_padding : int[] = prim::ListConstruct(%zero, %zero)
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %qmin, %qmax, %int8, %none)
  %w : Tensor = quantized_decomposed::dequantize_per_tensor(%w_i8, %w_scale, %w_zp, %w_qmin, %qmax, %int8, %none)
  %y : Tensor = aten::conv2d(%x, %w, %bias, %stride, %padding, %dilation, %one)
  %q : Tensor = quantized_decomposed::quantize_per_tensor(%y, %out_scale, %out_zp, %qmin, %qmax, %int8)
  %dq : Tensor = quantized_decomposed::dequantize_per_tensor(%q, %out_scale, %out_zp, %qmin, %qmax, %int8, %none)
  %pooled : Tensor = aten::max_pool2d(%dq, %stride, %stride, %pool_padding, %dilation, %false)
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%pooled, %out_scale, %out_zp, %qmin, %qmax, %int8)
  return (%out))IR");
  at::manual_seed(0);
  const std::vector<c10::IValue> inputs{at::randint(-128, 128, {2, 3, 9, 9}).to(at::kChar),
                                        at::randint(-127, 128, {4, 3, 3, 3}).to(at::kChar), at::randn({4}) * 0.1};
  const at::Tensor before = run(graph, inputs);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("conv2d")), 1);
  EXPECT_EQ(apply_reference_rewrite(graph, rewrite_named("max_pool2d")), 1);
  FileCheck()
      .check("torch_pt2e::out_dtype_conv2d")
      ->check_count("aten::unsqueeze", 2, /*exactly=*/true)
      ->check("aten::max_pool2d")
      ->check_not("quantized_decomposed::")
      ->run(*graph);
  const at::Tensor after = run(graph, inputs);
  EXPECT_EQ(after.scalar_type(), at::kChar);
  // Truncation where q/dq rounds, twice (conv, then pool's requantization of the same scale is exact).
  EXPECT_LE((after.to(at::kInt) - before.to(at::kInt)).abs().max().item<int>(), 1);
}

TEST(ReferenceRepresentation, DynamicLinearKeepsChooseQparams) {
  auto graph = parse(R"IR(
graph(%x : Tensor, %w_i8 : Tensor, %bias : Tensor):
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %w_qmin : int = prim::Constant[value=-127]()
  %eps : float = prim::Constant[value=1.1920928955078125e-07]()
  %int8 : int = prim::Constant[value=1]()
  %w_scale : float = prim::Constant[value=0.01]()
  %w_zp : int = prim::Constant[value=0]()
  %none : NoneType = prim::Constant()
  %scale : Tensor, %zp : Tensor = quantized_decomposed::choose_qparams(%x, %qmin, %qmax, %eps, %int8)
  %q : Tensor = quantized_decomposed::quantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %int8)
  %dq : Tensor = quantized_decomposed::dequantize_per_tensor(%q, %scale, %zp, %qmin, %qmax, %int8, %none)
  %w : Tensor = quantized_decomposed::dequantize_per_tensor(%w_i8, %w_scale, %w_zp, %w_qmin, %qmax, %int8, %none)
  %out : Tensor = aten::linear(%dq, %w, %bias)
  return (%out))IR");
  at::manual_seed(0);
  const std::vector<c10::IValue> inputs{at::randn({4, 16}), at::randint(-127, 128, {8, 16}).to(at::kChar),
                                        at::randn({8})};
  const at::Tensor before = run(graph, inputs);
  EXPECT_EQ(reference_representation(graph), 1);
  FileCheck()
      .check_count("quantized_decomposed::choose_qparams", 1, /*exactly=*/true)
      ->check("torch_pt2e::out_dtype_linear")
      ->check_not("quantized_decomposed::quantize")
      ->check_not("quantized_decomposed::dequantize")
      ->run(*graph);
  const at::Tensor after = run(graph, inputs);
  // choose_qparams' float64 scale makes the output float64, as upstream's.
  EXPECT_EQ(after.scalar_type(), at::kDouble);
  // Only the bias is truncated to x_scale * w_scale steps.
  EXPECT_TRUE(at::allclose(after.to(at::kFloat), before, /*rtol=*/0, /*atol=*/1e-3)) << after - before;
}

TEST(ReferenceRepresentation, EveryRewriteParsesAndNamesItsRequirements) {
  std::vector<torch_pt2e::passes::ReferenceRewrite> rewrites = reference_rewrites(ReferenceNumerics::kUpstream);
  for (const auto& rewrite : reference_rewrites(ReferenceNumerics::kQuantizeDequantize)) rewrites.push_back(rewrite);
  for (const auto& rewrite : rewrites) {
    auto pattern = std::make_shared<torch::jit::Graph>();
    std::unordered_map<std::string, torch::jit::Value*> values;
    ASSERT_NO_THROW(torch::jit::parseIR(rewrite.pattern, pattern.get(), values)) << rewrite.name;
    auto replacement = std::make_shared<torch::jit::Graph>();
    ASSERT_NO_THROW(torch::jit::parseIR(rewrite.replacement, replacement.get())) << rewrite.name;
    EXPECT_EQ(pattern->inputs().size(), replacement->inputs().size()) << rewrite.name;
    for (const auto& required : rewrite.requirements) {
      EXPECT_TRUE(values.count(required.value)) << rewrite.name << " requires " << required.value;
    }
  }
}

}  // namespace

namespace {

// ReferenceNumerics::kQuantizeDequantize: the same integer form, the q/dq ops' rounding.

TEST(ReferenceRepresentationQdqNumerics, StaticLinearRoundsOnceWithAFloatBias) {
  auto graph = parse(linear_graph(kWithBias));
  // acc [20, -10] * 0.0005 = [0.01, -0.005]; + bias [0.0037, -0.0012] = [0.0137, -0.0062];
  // / 0.001 = [13.7, -6.2] -> [14, -6]; + out_zp -5 = [9, -11]. Upstream's truncations give [8, -11].
  const std::vector<c10::IValue> inputs{at::tensor({13, 3}, at::kChar).view({1, 2}),
                                        at::tensor({2, 0, -1, 0}, at::kChar).view({2, 2}),
                                        at::tensor({0.0037f, -0.0012f})};
  const at::Tensor before = run(graph, inputs);
  auto upstream = graph->copy();
  EXPECT_EQ(reference_representation(upstream, ReferenceNumerics::kUpstream), 1);
  EXPECT_TRUE(at::equal(run(upstream, inputs), at::tensor({8, -11}, at::kChar).view({1, 2})));
  EXPECT_EQ(reference_representation(graph, ReferenceNumerics::kQuantizeDequantize), 1);
  FileCheck()
      .check("torch_pt2e::out_dtype_linear")
      ->check_count("aten::round", 1, /*exactly=*/true)
      ->check_not("out_dtype_mul")
      ->check_not("quantized_decomposed::")
      ->run(*graph);
  const at::Tensor after = run(graph, inputs);
  EXPECT_TRUE(at::equal(after, at::tensor({9, -11}, at::kChar).view({1, 2}))) << after;
  EXPECT_TRUE(at::equal(after, before)) << before;
}

TEST(ReferenceRepresentationQdqNumerics, QuantizeMultipliesByTheReciprocalAsTheOpDoes) {
  auto graph = parse(R"IR(
graph(%x : Tensor):
  %scale : float = prim::Constant[value=0.3]()
  %zp : int = prim::Constant[value=3]()
  %qmin : int = prim::Constant[value=-128]()
  %qmax : int = prim::Constant[value=127]()
  %int8 : int = prim::Constant[value=1]()
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %int8)
  return (%out))IR");
  // Multiples of 0.05 put many x / 0.3 on ties; division and multiplication by
  // the reciprocal round some of them differently.
  const std::vector<c10::IValue> inputs{at::arange(-1000, 1000, at::kFloat) * 0.05};
  const at::Tensor expected = run(graph, inputs);
  auto upstream = graph->copy();
  EXPECT_EQ(reference_representation(upstream, ReferenceNumerics::kUpstream), 1);
  EXPECT_FALSE(at::equal(run(upstream, inputs), expected)) << "no tie rounds differently: the test lost its point";
  EXPECT_EQ(reference_representation(graph, ReferenceNumerics::kQuantizeDequantize), 1);
  FileCheck().check("aten::mul")->check("aten::round")->check_not("quantized_decomposed::")->run(*graph);
  EXPECT_TRUE(at::equal(run(graph, inputs), expected));
}

TEST(ReferenceRepresentationQdqNumerics, AddAndAddReluEqualTheQuantizedOps) {
  for (const bool relu : {false, true}) {
    auto graph = parse(add_graph(relu));
    // Every pair of int8 values.
    const at::Tensor x = at::arange(-128, 128, at::kInt).repeat_interleave(256).to(at::kChar);
    const at::Tensor y = at::arange(-128, 128, at::kInt).repeat({256}).to(at::kChar);
    const at::Tensor expected = run(graph, {x, y});
    EXPECT_EQ(reference_representation(graph, ReferenceNumerics::kQuantizeDequantize), 1) << relu;
    FileCheck()
        .check_count("aten::round", 1, /*exactly=*/true)
        ->check_not("out_dtype_mul")
        ->check_not("aten::relu")
        ->check_not("quantized_decomposed::")
        ->run(*graph);
    const at::Tensor out = run(graph, {x, y});
    EXPECT_TRUE(at::equal(out, expected)) << "relu " << relu << ": " << (out.to(at::kInt) - expected).abs().max();
  }
}

TEST(ReferenceRepresentationQdqNumerics, UnknownNumericsNameTheValue) {
  EXPECT_EQ(torch_pt2e::passes::parse_reference_numerics("qdq"), ReferenceNumerics::kQuantizeDequantize);
  EXPECT_EQ(torch_pt2e::passes::parse_reference_numerics("upstream"), ReferenceNumerics::kUpstream);
  try {
    torch_pt2e::passes::parse_reference_numerics("nearest");
    FAIL() << "no error";
  } catch (const c10::Error& error) {
    EXPECT_NE(std::string(error.what()).find("got 'nearest'"), std::string::npos) << error.what();
  }
}

}  // namespace
