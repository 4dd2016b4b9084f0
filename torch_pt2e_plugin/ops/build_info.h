// torch_pt2e::build_info(): how this library was built and how it was loaded.
#pragma once

#include <string>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily build_info_ops();

// JSON object: plugin version, torch version built against and running,
// CUDA version (or "none"), C++ ABI, CPU capability, who defined quantized_decomposed.
std::string build_info();

// Empty when the running LibTorch has the major.minor version this library
// was built against; otherwise a message saying what to rebuild.
std::string torch_version_mismatch();

}  // namespace ops
}  // namespace torch_pt2e
