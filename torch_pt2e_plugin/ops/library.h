// Defines the quantized_decomposed operator library, coexisting with torch's
// own Python definition of it.
//
// torch 2.x defines quantized_decomposed from Python (a `Library(..., "DEF")`
// in torch/ao/quantization/fx/_decomposed.py) when that module is imported; a
// C++ TORCH_LIBRARY for the same namespace then fails one way or the other
// (the Python import raises, or static initialisation aborts). So this plugin
// never claims the namespace:
//  * CPU and CUDA kernels register themselves with TORCH_LIBRARY_IMPL, which
//    is allowed whoever defines the schemas, and wins over upstream's
//    CompositeExplicitAutograd Python kernels for tensors on those devices.
//  * Schemas, Meta and Autograd kernels are added at load time, per op, only
//    where nobody has defined them yet (TORCH_LIBRARY_FRAGMENT semantics).
//  * Loaded into a Python process whose torch has _decomposed.py, the plugin
//    first imports that module, so torch's definitions come first in either
//    load order and later imports find the module already loaded.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace torch_pt2e {
namespace ops {

// What one family of ops (per_tensor.cpp, per_channel.cpp, ...) contributes:
// schemas in upstream's order, and the kernels to register on the keys that
// belong to the definer (Meta, Autograd, CompositeImplicitAutograd).
struct OpFamily {
  const char* ns = "quantized_decomposed";
  const char* name;
  std::vector<const char*> schemas;
  // Registers the family's definer-owned kernels for the ops in `defined`
  // (the operator names with overload, e.g. "quantize_per_tensor.tensor")
  // that this plugin defined itself.
  std::function<void(torch::Library& lib, const std::vector<std::string>& defined)> register_definer_kernels;
};

// Defines whatever part of quantized_decomposed (and the plugin's own
// torch_pt2e namespace) is not defined yet. Idempotent and thread-safe; runs
// when the shared library is loaded. C++ programs that link the plugin
// statically call it before using the ops.
void register_ops();

// How quantized_decomposed was set up in this process, for diagnostics:
// "python" (torch's _decomposed.py defined it), "plugin", or "mixed".
std::string quantized_decomposed_definer();

// The typed handle of an op, for C++ entry points that call through the
// dispatcher. Throws if the op is not defined.
template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).typed<Signature>();
}

// The schemas every family contributes to namespace `ns`, in registration
// order, as given to Library::def (without the namespace).
std::vector<std::string> plugin_schemas(const std::string& ns);

// True when `name` ("op" or "op.overload") was defined by this plugin.
bool defined_by_plugin(const std::vector<std::string>& defined, const char* name);

// Registers `kernel` on `key` for op `name` when this plugin defined the op
// (the definer's keys: Meta, Autograd, CompositeImplicitAutograd).
template <typename Kernel>
void impl_if_defined(torch::Library& lib, const std::vector<std::string>& defined, const char* name,
                     c10::DispatchKey key, Kernel&& kernel) {
  if (defined_by_plugin(defined, name)) lib.impl(name, torch::dispatch(key, std::forward<Kernel>(kernel)));
}

}  // namespace ops
}  // namespace torch_pt2e
