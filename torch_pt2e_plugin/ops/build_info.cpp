#include "torch_pt2e_plugin/ops/build_info.h"

#include <sstream>

#include <ATen/Version.h>
#include <torch/version.h>

#include "kernels/cpu/cpu_capability.h"

#ifndef TORCH_PT2E_VERSION
#define TORCH_PT2E_VERSION "0.1.0"
#endif
#if defined(TORCH_PT2E_WITH_CUDA) && defined(__CUDACC_VER_MAJOR__)
#define TORCH_PT2E_CUDA_VERSION_STRING TORCH_PT2E_STR(__CUDACC_VER_MAJOR__) "." TORCH_PT2E_STR(__CUDACC_VER_MINOR__)
#elif defined(TORCH_PT2E_WITH_CUDA) && defined(TORCH_PT2E_CUDA_VERSION)
#define TORCH_PT2E_CUDA_VERSION_STRING TORCH_PT2E_CUDA_VERSION
#else
#define TORCH_PT2E_CUDA_VERSION_STRING "none"
#endif
#define TORCH_PT2E_STR_(x) #x
#define TORCH_PT2E_STR(x) TORCH_PT2E_STR_(x)

// Read from the file (without loading it) by the Python package, so loading
// into a different torch is refused with a message instead of a crash inside
// dlopen or static initialisation.
extern "C" __attribute__((used, visibility("default"))) const char torch_pt2e_build_marker[] =
    "TORCH_PT2E_BUILD:torch=" TORCH_VERSION ";cuda=" TORCH_PT2E_CUDA_VERSION_STRING
    ";cxx11_abi=" TORCH_PT2E_STR(_GLIBCXX_USE_CXX11_ABI) ";end";

namespace torch_pt2e {
namespace ops {
namespace {

// at::show_config() carries the running LibTorch's "TORCH_VERSION=x.y.z".
std::string runtime_torch_version() {
  const std::string config = at::show_config();
  const std::string key = "TORCH_VERSION=";
  const auto start = config.find(key);
  if (start == std::string::npos) return "";
  const auto end = config.find_first_of(", \n", start + key.size());
  return config.substr(start + key.size(), end - start - key.size());
}

std::string major_minor(const std::string& version) {
  const auto first = version.find('.');
  if (first == std::string::npos) return version;
  return version.substr(0, version.find('.', first + 1));
}

std::string build_info_op() { return build_info(); }

}  // namespace

std::string torch_version_mismatch() {
  const std::string running = runtime_torch_version();
  if (running.empty() || major_minor(running) == major_minor(TORCH_VERSION)) return "";
  return "libtorch_pt2e was built against torch " TORCH_VERSION " but is loaded into torch " + running +
         "; rebuild the plugin against this torch (see README.md, 'Building against another LibTorch')";
}

std::string build_info() {
  std::ostringstream out;
  out << "{\"plugin_version\": \"" << TORCH_PT2E_VERSION << "\", \"torch_version_built\": \"" << TORCH_VERSION
      << "\", \"torch_version_running\": \"" << runtime_torch_version() << "\", \"cuda_version\": \""
      << TORCH_PT2E_CUDA_VERSION_STRING << "\", \"cxx11_abi\": " << _GLIBCXX_USE_CXX11_ABI
      << ", \"cpu_capability\": \""
      << kernels::cpu::cpu_capability_name(kernels::cpu::active_cpu_capability())
      << "\", \"quantized_decomposed_definer\": \"" << quantized_decomposed_definer() << "\"}";
  return out.str();
}

OpFamily build_info_ops() {
  OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "build_info";
  family.schemas = {"build_info() -> str"};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    if (defined_by_plugin(defined, "build_info")) lib.impl("build_info", TORCH_FN(build_info_op));
  };
  return family;
}

}  // namespace ops
}  // namespace torch_pt2e
