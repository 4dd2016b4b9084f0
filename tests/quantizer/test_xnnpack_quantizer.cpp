// quantizer/xnnpack_quantizer.h and friends from C++ alone: configs, the
// quantizer on modules defined in TorchScript, prepare/convert, errors.
#include <gtest/gtest.h>

#include <regex>

#include <torch/csrc/jit/api/module.h>
#include <torch/torch.h>

#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/quantizer/annotation_json.h"
#include "torch_pt2e_plugin/quantizer/composable_quantizer.h"
#include "torch_pt2e_plugin/quantizer/embedding_quantizer.h"
#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"

namespace q = torch_pt2e::quantizer;
using torch::jit::Module;

namespace {

// Modules built in C++ have no `training` flag until one is set.
void set_eval(Module& module) {
  for (auto child : module.modules()) {
    if (child.hasattr("training")) {
      child.setattr("training", false);
    } else {
      child.register_attribute("training", c10::BoolType::get(), false);
    }
  }
}

// x -> conv (conv2d -> relu) -> mean -> linear (+ 1.0)
Module conv_linear() {
  torch::manual_seed(0);
  Module m("ConvLinear");
  Module conv("Conv");
  conv.register_parameter("weight", torch::randn({4, 3, 3, 3}), false);
  conv.register_parameter("bias", torch::randn({4}), false);
  conv.define(R"(
def forward(self, x):
    return torch.relu(torch.conv2d(x, self.weight, self.bias, [1, 1], [0, 0], [1, 1], 1))
)");
  m.register_module("conv", conv);
  m.register_parameter("weight", torch::randn({5, 4}), false);
  m.register_parameter("bias", torch::randn({5}), false);
  m.define(R"(
def forward(self, x):
    y = self.conv.forward(x).mean([2, 3])
    return torch.linear(y, self.weight, self.bias) + 1.0
)");
  set_eval(m);
  return m;
}

std::map<std::string, int> kinds(const Module& m) {
  std::map<std::string, int> counts;
  for (auto* node : m.get_method("forward").graph()->nodes()) counts[node->kind().toQualString()]++;
  return counts;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const c10::Error& error) {
    return error.what_without_backtrace();
  }
  return "";
}

TEST(QuantizationConfig, SymmetricConfigIsCachedAndUpstreams) {
  const auto config = q::get_symmetric_quantization_config(/*is_per_channel=*/true);
  EXPECT_EQ(config, q::get_symmetric_quantization_config(true));
  EXPECT_EQ(config->output_activation, config->input_activation);
  EXPECT_EQ(config->bias, nullptr);
  EXPECT_EQ(config->input_activation->dtype, at::kChar);
  EXPECT_EQ(*config->input_activation->quant_min, -128);
  EXPECT_EQ(config->input_activation->observer_or_fake_quant_ctr.name, "HistogramObserver");
  EXPECT_EQ(config->input_activation->observer_or_fake_quant_ctr.kwargs["eps"].get<double>(), 1.0 / 4096);
  EXPECT_EQ(*config->weight->qscheme, c10::kPerChannelSymmetric);
  EXPECT_EQ(*config->weight->quant_min, -127);
  EXPECT_EQ(config->weight->observer_or_fake_quant_ctr.name, "PerChannelMinMaxObserver");
  const auto dynamic = q::get_symmetric_quantization_config(false, false, /*is_dynamic=*/true);
  EXPECT_EQ(dynamic->output_activation, nullptr);
  EXPECT_EQ(dynamic->input_activation->observer_or_fake_quant_ctr.name, "PlaceholderObserver");
}

TEST(QuantizationConfig, JsonRoundTripAndFieldErrors) {
  const auto config = q::get_symmetric_quantization_config(true, /*is_qat=*/true);
  const auto json = q::config_to_json(*config);
  EXPECT_EQ(q::config_to_json(*q::config_from_json(json)), json);
  EXPECT_EQ(json["weight"]["observer"]["kwargs"]["observer"]["name"], "MovingAveragePerChannelMinMaxObserver");

  auto bad = json;
  bad["weight"]["qscheme"] = "per_channel_affine";
  EXPECT_NE(error_of([&] { q::config_from_json(bad); }).find("QuantizationConfig.weight: weights are quantized "
                                                             "symmetrically"),
            std::string::npos);
  bad = json;
  bad["bias"] = json["weight"];
  EXPECT_NE(error_of([&] { q::config_from_json(bad); }).find("QuantizationConfig.bias"), std::string::npos);
  bad = json;
  bad["input_activation"]["quant_min"] = 200;
  EXPECT_NE(error_of([&] { q::config_from_json(bad); }).find("quant_min must be <= quant_max, got quant_min=200"),
            std::string::npos);
}

TEST(XNNPACKQuantizer, PrepareCalibrateConvert) {
  const Module model = conv_linear();
  q::XNNPACKQuantizer quantizer;
  quantizer.set_global(q::get_symmetric_quantization_config(/*is_per_channel=*/true));
  Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  const auto x = torch::randn({2, 3, 6, 6});
  prepared.forward({x});
  const Module converted = torch_pt2e::convert_pt2e(prepared);
  auto counts = kinds(converted);
  // quantize: x, relu's output, mean's (sharing relu's observer), linear's, add's;
  // dequantize: those and the 1.0 constant's (its quantize folded); weights folded
  EXPECT_EQ(counts["quantized_decomposed::quantize_per_tensor"], 5);
  EXPECT_EQ(counts["quantized_decomposed::dequantize_per_tensor"], 6);
  EXPECT_EQ(counts["quantized_decomposed::dequantize_per_channel"], 2);
  EXPECT_EQ(counts["quantized_decomposed::quantize_per_channel"], 0);
  const auto reference = Module(model).forward({x}).toTensor();
  const auto output = Module(converted).forward({x}).toTensor();
  EXPECT_LT(((output - reference).norm() / reference.norm()).item<double>(), 0.05);
}

TEST(XNNPACKQuantizer, ModuleNameBeatsGlobal) {
  Module model = conv_linear();
  const auto per_tensor = q::get_symmetric_quantization_config();
  const auto per_channel = q::get_symmetric_quantization_config(true);
  q::XNNPACKQuantizer quantizer;
  quantizer.set_global(per_tensor).set_module_name("conv", per_channel);
  // prepare_pt2e's canonical form is what annotate sees
  Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  prepared.forward({torch::randn({1, 3, 6, 6})});
  auto counts = kinds(torch_pt2e::convert_pt2e(prepared));
  EXPECT_EQ(counts["quantized_decomposed::dequantize_per_channel"], 1);  // the conv's weight only
}

TEST(XNNPACKQuantizer, Errors) {
  q::XNNPACKQuantizer quantizer;
  const auto config = q::get_symmetric_quantization_config();
  EXPECT_NE(error_of([&] { quantizer.set_operator_type("aten::sigmoid", config); })
                .find("no XNNPACK pattern annotates aten::sigmoid"),
            std::string::npos);
  EXPECT_NE(error_of([&] { quantizer.set_module_name("conv", nullptr); }).find("set_module_name('conv', None)"),
            std::string::npos);
  quantizer.set_module_name("konv", config);
  const std::string message = error_of([&] { torch_pt2e::prepare_pt2e(conv_linear(), quantizer); });
  EXPECT_NE(message.find("the model has no submodule 'konv' (submodules: conv)"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { q::find_annotator("conv_gelu"); }).find("no XNNPACK annotator named 'conv_gelu'"),
            std::string::npos);
}

// Overwrites the output spec of every annotated linear.
class Overwrite : public q::Quantizer {
 public:
  void annotate(Module& module, q::AnnotationTable& annotations) override {
    for (auto* node : module.get_method("forward").graph()->nodes()) {
      if (node->kind() == c10::aten::linear && annotations.find(node)) annotations.at(node).output_qspec = nullptr;
    }
  }
};

TEST(ComposableQuantizer, ChangedAnnotationNamesNodeAndQuantizers) {
  auto xnnpack = std::make_shared<q::XNNPACKQuantizer>();
  xnnpack->set_global(q::get_symmetric_quantization_config());
  q::ComposableQuantizer composed({xnnpack, std::make_shared<Overwrite>()}, {"xnnpack", "overwrite"});
  const std::string message = error_of([&] { torch_pt2e::prepare_pt2e(conv_linear(), composed); });
  EXPECT_TRUE(std::regex_search(message, std::regex("quantizer 1 \\(overwrite\\) changed the annotation that "
                                                    "quantizer 0 \\(xnnpack\\) made on node %\\S+ \\(aten::linear\\)")))
      << message;
}

TEST(EmbeddingQuantizer, FloatZeroPointsThroughConvert) {
  torch::manual_seed(0);
  Module m("Embedding");
  m.register_parameter("weight", torch::randn({10, 6}), false);
  m.define(R"(
def forward(self, indices):
    return torch.embedding(self.weight, indices)
)");
  set_eval(m);
  q::EmbeddingQuantizer quantizer;
  Module prepared = torch_pt2e::prepare_pt2e(m, quantizer);
  const auto indices = torch::tensor({1, 5, 9}, torch::kLong);
  prepared.forward({indices});
  Module converted = torch_pt2e::convert_pt2e(prepared);
  auto counts = kinds(converted);
  EXPECT_EQ(counts["quantized_decomposed::dequantize_per_channel"], 1);
  EXPECT_EQ(counts["quantized_decomposed::quantize_per_channel"], 0);
  const auto output = converted.forward({indices}).toTensor();
  const auto reference = m.forward({indices}).toTensor();
  // per row: one step is (max - min) / 255
  const auto weight = m.attr("weight").toTensor();
  const auto step = (std::get<0>(weight.max(1)) - std::get<0>(weight.min(1))) / 255;
  EXPECT_TRUE(((output - reference).abs() <= 1.5 * step.index({indices}).unsqueeze(1)).all().item<bool>());
}

}  // namespace
