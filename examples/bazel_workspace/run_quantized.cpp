// Runs a quantized TorchScript model on an all-ones input of the given
// shape and saves the output (torch.load reads it).
//
//   run_quantized MODEL SHAPE OUTPUT      e.g. SHAPE = 1,3,16,16
#include <fstream>
#include <iostream>
#include <sstream>

#include <torch/script.h>
#include <torch/serialize.h>

#include "torch_pt2e_plugin/ops/library.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " MODEL SHAPE OUTPUT\n";
    return 2;
  }
  try {
    torch_pt2e::ops::register_ops();
    std::vector<int64_t> shape;
    std::stringstream in(argv[2]);
    for (std::string item; std::getline(in, item, ',');) shape.push_back(std::stoll(item));
    torch::jit::Module model = torch::jit::load(argv[1]);
    model.eval();
    const at::Tensor output = model.forward({torch::ones(shape)}).toTensor();
    const std::vector<char> bytes = torch::pickle_save(output);
    std::ofstream(argv[3], std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::cout << "ran " << argv[1] << " from a workspace that uses torch_pt2e as an external repository: output "
              << output.sizes() << ", sum " << output.sum().item<double>() << "\n";
    return 0;
  } catch (const c10::Error& error) {
    std::cerr << "run_quantized: error: " << error.what_without_backtrace() << "\n";
    return 1;
  }
}
