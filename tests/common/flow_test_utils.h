// Shared by the C++ tests of the passes and the flow: small TorchScript
// modules built in C++, a conv quantizer like upstream's test
// BackendAQuantizer, and node counting.
#pragma once

#include <regex>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantizer.h"

namespace torch_pt2e {
namespace testing {

// conv2d(3 -> 4, 3x3) -> relu, with bias; forward(x).
inline torch::jit::Module conv_relu_module() {
  // Modules built in C++ need the `training` flag scripted modules have.
  torch::jit::Module conv("Conv");
  conv.register_attribute("training", c10::BoolType::get(), false);
  conv.register_parameter("weight", at::randn({4, 3, 3, 3}), false);
  conv.register_parameter("bias", at::randn({4}), false);
  conv.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias)
)");
  torch::jit::Module top("Top");
  top.register_attribute("training", c10::BoolType::get(), false);
  top.register_module("conv", conv);
  top.define(R"(
def forward(self, x):
    return torch.relu(self.conv.forward(x))
)");
  top.eval();
  return top;
}

inline std::shared_ptr<quantizer::QuantizationSpec> make_spec(at::ScalarType dtype, int64_t qmin, int64_t qmax,
                                                              c10::QScheme qscheme, const std::string& observer) {
  auto spec = std::make_shared<quantizer::QuantizationSpec>();
  spec->dtype = dtype;
  spec->quant_min = qmin;
  spec->quant_max = qmax;
  spec->qscheme = qscheme;
  spec->observer_or_fake_quant_ctr.name = observer;
  return spec;
}

// Annotates every aten::conv2d: uint8 input and output (MinMaxObserver),
// int8 weight, float32 placeholder bias (upstream's test_simple_quantizer).
class ConvQuantizer : public quantizer::Quantizer {
 public:
  void annotate(torch::jit::Module& module, quantizer::AnnotationTable& annotations) override {
    auto graph = module.get_method("forward").graph();
    auto act = make_spec(at::kByte, 0, 255, c10::kPerTensorAffine, "MinMaxObserver");
    auto weight = make_spec(at::kChar, -128, 127, c10::kPerTensorSymmetric, "MinMaxObserver");
    auto bias = std::make_shared<quantizer::QuantizationSpec>();
    bias->dtype = at::kFloat;
    bias->observer_or_fake_quant_ctr.name = "PlaceholderObserver";
    for (torch::jit::Node* node : graph->nodes()) {
      if (node->kind() != c10::aten::conv2d) continue;
      quantizer::QuantizationAnnotation annotation;
      annotation.set_input(node->input(0), act);
      annotation.set_input(node->input(1), weight);
      annotation.set_input(node->input(2), bias);
      annotation.output_qspec = act;
      annotation.annotated = true;
      annotations.set(node, annotation);
    }
  }
};

inline int count_nodes(const torch::jit::Module& module, const std::string& qualified_kind) {
  int count = 0;
  for (torch::jit::Node* node : module.get_method("forward").graph()->nodes()) {
    count += node->kind().toQualString() == qualified_kind;
  }
  return count;
}

// forward's graph text without the mangled class names each clone gets.
inline std::string unmangled_forward_text(const torch::jit::Module& module) {
  static const std::regex mangling("___torch_mangle_[0-9]+\\.");
  return std::regex_replace(module.get_method("forward").graph()->toString(), mangling, "");
}

// unmangled_forward_text with unnamed values (printed as their creation
// number, which depends on the order a pass made them in) renumbered by
// first appearance: equal for graphs that differ in nothing else.
inline std::string comparable_forward_text(const torch::jit::Module& module) {
  static const std::regex number("%([0-9]+)\\b");
  const std::string text = unmangled_forward_text(module);
  std::unordered_map<std::string, std::string> renumbered;
  std::string out;
  auto last = text.cbegin();
  for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it) {
    out.append(last, text.cbegin() + it->position());
    const auto found = renumbered.emplace((*it)[1].str(), "v" + std::to_string(renumbered.size())).first;
    out += "%" + found->second;
    last = text.cbegin() + it->position() + it->length();
  }
  out.append(last, text.cend());
  return out;
}

// Total bytes of every tensor attribute (parameters and buffers) of the module tree.
inline int64_t tensor_bytes(const torch::jit::Module& module) {
  int64_t bytes = 0;
  for (const auto& entry : module.named_attributes(/*recurse=*/true)) {
    if (entry.value.isTensor()) bytes += entry.value.toTensor().numel() * entry.value.toTensor().element_size();
  }
  return bytes;
}

}  // namespace testing
}  // namespace torch_pt2e
