// Runs a quantized TorchScript model from C++ with nothing but LibTorch and
// the plugin, and compares its outputs with outputs saved from Python.
//
//   deploy MODEL INPUTS EXPECTED
//
// INPUTS: torch.save'd tensor or tuple/list of tensors (forward's inputs);
// EXPECTED: torch.save'd output(s) of the same model in Python.
// Exits 0 when every output is bitwise equal to Python's.
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include <torch/script.h>
#include <torch/serialize.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace {

c10::IValue load_pickle(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot read ", path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes);
}

std::vector<at::Tensor> tensors_of(const c10::IValue& value) {
  if (value.isTensor()) return {value.toTensor()};
  std::vector<at::Tensor> tensors;
  if (value.isTuple()) {
    for (const auto& element : value.toTupleRef().elements()) tensors.push_back(element.toTensor());
  } else {
    TORCH_CHECK(value.isList(), "expected a tensor or a tuple/list of tensors, got ", value.tagKind());
    for (const auto& element : value.toList()) tensors.push_back(element.get().toTensor());
  }
  return tensors;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " MODEL INPUTS EXPECTED\n";
    return 2;
  }
  try {
    // The plugin registers its ops when it loads; the explicit call also keeps
    // a linker that drops unreferenced libraries from dropping it.
    torch_pt2e::ops::register_ops();
    torch::jit::Module model = torch::jit::load(argv[1]);
    model.eval();
    std::vector<c10::IValue> inputs;
    for (const auto& tensor : tensors_of(load_pickle(argv[2]))) inputs.emplace_back(tensor);
    const auto outputs = tensors_of(model.forward(inputs));
    const auto expected = tensors_of(load_pickle(argv[3]));
    TORCH_CHECK(outputs.size() == expected.size(), "the model returned ", outputs.size(), " tensors, Python ",
                expected.size());
    bool identical = true;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const bool equal = outputs[i].sizes() == expected[i].sizes() && outputs[i].dtype() == expected[i].dtype() &&
                         at::equal(outputs[i], expected[i]);
      const double max_abs_diff = outputs[i].sizes() == expected[i].sizes()
                                      ? (outputs[i].to(at::kDouble) - expected[i].to(at::kDouble)).abs().max().item<double>()
                                      : -1;
      std::cout << "output " << i << " " << outputs[i].sizes() << ": "
                << (equal ? "bitwise identical to Python's" : "DIFFERS from Python's") << " (max abs diff "
                << max_abs_diff << ")\n";
      identical = identical && equal;
    }
    std::cout << (identical ? "C++ outputs match Python's bitwise\n" : "C++ outputs do not match Python's\n");
    return identical ? 0 : 1;
  } catch (const c10::Error& error) {
    std::cerr << "deploy: error: " << error.what_without_backtrace() << "\n";
    return 1;
  }
}
