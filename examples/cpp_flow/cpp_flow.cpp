// The PT2E flow entirely in C++: prepare a TorchScript model with the
// XNNPACK quantizer, calibrate it, convert it, compare it with the float
// model and save it.
//
//   cpp_flow [MODEL INPUT_SHAPE OUTPUT]
//
// Without arguments it builds a small conv -> relu -> linear model in C++,
// calibrates on random 1x3x16x16 inputs and writes cpp_flow_quantized.pt.
// INPUT_SHAPE is comma-separated, e.g. 1,3,224,224.
#include <cmath>
#include <iostream>
#include <sstream>

#include <torch/script.h>

#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/ops/library.h"
#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"

namespace {

torch::jit::Module small_model() {
  torch::jit::Module conv("Conv");
  conv.register_parameter("weight", torch::randn({8, 3, 3, 3}), false);
  conv.register_parameter("bias", torch::randn({8}), false);
  conv.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, self.bias)
)");
  torch::jit::Module model("SmallNet");
  model.register_module("conv", conv);
  model.register_parameter("fc_weight", torch::randn({10, 8}) * 0.3, false);
  model.register_parameter("fc_bias", torch::randn({10}), false);
  model.define(R"(
def forward(self, x):
    y = torch.relu(self.conv.forward(x)).mean([2, 3])
    return torch.linear(y, self.fc_weight, self.fc_bias)
)");
  // prepare_pt2e wants eval mode; modules built in C++ have no `training` flag yet
  for (auto module : model.modules()) module.register_attribute("training", c10::BoolType::get(), false);
  return model;
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) shape.push_back(std::stoll(item));
  return shape;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 1 && argc != 4) {
    std::cerr << "usage: " << argv[0] << " [MODEL INPUT_SHAPE OUTPUT]\n";
    return 2;
  }
  try {
    torch_pt2e::ops::register_ops();
    torch::manual_seed(0);
    torch::jit::Module model = argc == 4 ? torch::jit::load(argv[1]) : small_model();
    model.eval();
    const auto shape = argc == 4 ? parse_shape(argv[2]) : std::vector<int64_t>{1, 3, 16, 16};
    const std::string output = argc == 4 ? argv[3] : "cpp_flow_quantized.pt";

    torch_pt2e::quantizer::XNNPACKQuantizer quantizer;
    quantizer.set_global(torch_pt2e::quantizer::get_symmetric_quantization_config(/*is_per_channel=*/true));
    torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
    for (int batch = 0; batch < 8; ++batch) prepared.forward({torch::randn(shape)});
    torch::jit::Module quantized = torch_pt2e::convert_pt2e(prepared);

    const auto x = torch::randn(shape);
    const auto expected = model.forward({x}).toTensor();
    const auto actual = quantized.forward({x}).toTensor();
    const double sqnr = 10 * std::log10(expected.pow(2).sum().item<double>() /
                                        (expected - actual).pow(2).sum().item<double>());
    int quantize_ops = 0;
    for (const auto* node : quantized.get_method("forward").graph()->nodes()) {
      quantize_ops += node->kind().toQualString() == std::string("quantized_decomposed::quantize_per_tensor");
    }
    quantized.save(output);
    std::cout << "quantized " << quantize_ops << " activations; output SQNR vs float " << sqnr << " dB; wrote "
              << output << "\n";
    return 0;
  } catch (const c10::Error& error) {
    std::cerr << "cpp_flow: error: " << error.what_without_backtrace() << "\n";
    return 1;
  }
}
