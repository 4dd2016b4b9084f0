#include "torch_pt2e_plugin/ops/library.h"

#include <dlfcn.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "torch_pt2e_plugin/flow/flow_ops.h"
#include "torch_pt2e_plugin/observers/observer_ops.h"
#include "torch_pt2e_plugin/ops/build_info.h"
#include "torch_pt2e_plugin/ops/choose_qparams.h"
#include "torch_pt2e_plugin/ops/convert_element_type.h"
#include "torch_pt2e_plugin/ops/fake_quant.h"
#include "torch_pt2e_plugin/ops/out_dtype.h"
#include "torch_pt2e_plugin/ops/per_channel.h"
#include "torch_pt2e_plugin/ops/per_channel_group.h"
#include "torch_pt2e_plugin/ops/per_tensor.h"
#include "torch_pt2e_plugin/ops/per_token.h"
#include "torch_pt2e_plugin/ops/schema_list.h"
#include "torch_pt2e_plugin/quantizer/quantizer_ops.h"

namespace torch_pt2e {
namespace ops {
namespace {

// The families in upstream's order of definition; the plugin's own namespace last.
std::vector<OpFamily> all_families() {
  return {per_tensor_ops(),        choose_qparams_ops(),   per_channel_ops(),          per_token_ops(),
          per_channel_group_ops(), fake_quant_ops(),       convert_element_type_ops(), build_info_ops(),
          schema_list_ops(),       fake_quant_forward_ops(), observers::observer_ops(), flow::flow_ops(),
          quantizer::quantizer_ops(), out_dtype_ops()};
}

// In a Python process whose torch defines quantized_decomposed in Python,
// import that module now, so the Python definitions exist before ours are
// considered (see library.h). The Python C API is looked up at run time: the
// plugin does not link libpython and works the same in C++ programs.
void import_python_definitions_if_present() {
  using IsInitializedFn = int (*)();
  using GilEnsureFn = int (*)();
  using GilReleaseFn = void (*)(int);
  using RunStringFn = int (*)(const char*);
  auto is_initialized = reinterpret_cast<IsInitializedFn>(dlsym(RTLD_DEFAULT, "Py_IsInitialized"));
  auto gil_ensure = reinterpret_cast<GilEnsureFn>(dlsym(RTLD_DEFAULT, "PyGILState_Ensure"));
  auto gil_release = reinterpret_cast<GilReleaseFn>(dlsym(RTLD_DEFAULT, "PyGILState_Release"));
  auto run_string = reinterpret_cast<RunStringFn>(dlsym(RTLD_DEFAULT, "PyRun_SimpleString"));
  if (!is_initialized || !gil_ensure || !gil_release || !run_string || !is_initialized()) return;
  // Only when torch is already imported: this is then a torch.ops.load_library
  // (or ctypes) load after `import torch`. The names are deleted again so
  // __main__ is left as it was.
  static const char* const kBootstrap =
      "def _torch_pt2e_bootstrap():\n"
      "    import sys\n"
      "    if 'torch' not in sys.modules:\n"
      "        return\n"
      "    import importlib.util\n"
      "    name = 'torch.ao.quantization.fx._decomposed'\n"
      "    if name not in sys.modules and importlib.util.find_spec(name) is not None:\n"
      "        importlib.import_module(name)\n"
      "_torch_pt2e_bootstrap()\n"
      "del _torch_pt2e_bootstrap\n";
  const int gil = gil_ensure();
  if (run_string(kBootstrap) != 0) {
    TORCH_WARN("torch_pt2e: importing torch.ao.quantization.fx._decomposed failed (traceback above); the plugin "
               "defines quantized_decomposed itself, and a later import of that module will fail.");
  }
  gil_release(gil);
}

// "quantize_per_tensor.tensor(Tensor input, ...) -> Tensor" -> {"quantize_per_tensor", "tensor"}
std::pair<std::string, std::string> schema_name(const char* schema) {
  const std::string text(schema);
  const std::string full = text.substr(0, text.find('('));
  const auto dot = full.find('.');
  if (dot == std::string::npos) return {full, ""};
  return {full.substr(0, dot), full.substr(dot + 1)};
}

struct RegistrationState {
  std::mutex mutex;
  bool done = false;
  // Libraries are never destroyed: destroying one deregisters its ops, which
  // must outlive every static object (JIT graphs, modules) that refers to them.
  std::vector<torch::Library*> libraries;
  // quantized_decomposed schemas found already defined / defined here.
  size_t found_defined = 0;
  size_t plugin_defined = 0;
};

RegistrationState& state() {
  static RegistrationState* s = new RegistrationState();
  return *s;
}

void register_family(RegistrationState& s, const OpFamily& family) {
  auto* lib = new torch::Library(torch::Library::FRAGMENT, family.ns, c10::nullopt, __FILE__, __LINE__);
  s.libraries.push_back(lib);
  std::vector<std::string> defined;
  for (const char* schema : family.schemas) {
    const auto name = schema_name(schema);
    const auto existing =
        c10::Dispatcher::singleton().findSchema({std::string(family.ns) + "::" + name.first, name.second});
    const bool counts = std::string(family.ns) == "quantized_decomposed";
    if (existing.has_value()) {
      s.found_defined += counts;
      continue;
    }
    lib->def(schema);
    s.plugin_defined += counts;
    const std::string full_name = name.second.empty() ? name.first : name.first + "." + name.second;
#if TORCH_VERSION_MAJOR < 2
    // LibTorch 1.x has no fallback kernel on AutogradMeta, so shape inference
    // on meta tensors would stop there; let it fall through to Meta.
    lib->impl(full_name.c_str(),
              torch::dispatch(c10::DispatchKey::AutogradMeta, torch::CppFunction::makeFallthrough()));
#endif
    defined.push_back(full_name);
  }
  if (family.register_definer_kernels) family.register_definer_kernels(*lib, defined);
}

}  // namespace

std::vector<std::string> plugin_schemas(const std::string& ns) {
  std::vector<std::string> schemas;
  for (const auto& family : all_families()) {
    if (ns != family.ns) continue;
    schemas.insert(schemas.end(), family.schemas.begin(), family.schemas.end());
  }
  return schemas;
}

bool defined_by_plugin(const std::vector<std::string>& defined, const char* name) {
  return std::find(defined.begin(), defined.end(), name) != defined.end();
}

void register_ops() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.done) return;
  s.done = true;
  const std::string mismatch = torch_version_mismatch();
  if (!mismatch.empty()) {
    // Registering against a different LibTorch could crash later; refuse loudly instead.
    TORCH_WARN("torch_pt2e: not registering any op: ", mismatch);
    return;
  }
  import_python_definitions_if_present();
  for (const auto& family : all_families()) register_family(s, family);
}

std::string quantized_decomposed_definer() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.plugin_defined == 0) return "python";
  return s.found_defined == 0 ? "plugin" : "mixed";
}

namespace {
// Runs when the shared library is loaded (the target is alwayslink).
const bool kRegisteredAtLoad = (register_ops(), true);
}  // namespace

}  // namespace ops
}  // namespace torch_pt2e
