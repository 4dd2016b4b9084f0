// convert_pt2e's observer replacement (upstream's
// _replace_observer_with_quantize_dequantize_node_decomposed).
//
// Matches every observer call of a prepared graph (passes/observer_calls.h).
// Each becomes, in its place:
//   static per-tensor:  x -> quantize_per_tensor(x, scale, zp, qmin, qmax, dtype) -> dequantize_per_tensor(...)
//                       (scale and zero point as literals)
//   static per-channel: x -> quantize_per_channel(x, %scale, %zp, axis, ...) -> dequantize_per_channel(...)
//                       (scale and zero point as attributes of the top module, or
//                       of groups under `_qparams_groups` for very many:
//                       passes/attribute_groups.h)
//   dynamic:            choose_qparams[_symmetric].tensor(x, qmin, qmax, eps, dtype)
//                       -> quantize_per_tensor.tensor -> dequantize_per_tensor.tensor
//   float16:            convert_element_type.no_fuse(x, fp16) -> convert_element_type.no_fuse(., fp32)
//   anything else (e.g. a float32 placeholder on a bias): removed.
// All former users of the observer read the one dequantize; the observer
// submodules are deleted afterwards.
// Precondition of this in-place pass: `module` has not run forward yet
// (TorchScript caches the optimized graph on the first run); clone a module
// that has, as convert_pt2e does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"

namespace torch_pt2e {
namespace passes {

// The submodule holding the groups of per-channel qparams, where convert makes very many.
constexpr const char* kQParamGroupsAttribute = "_qparams_groups";

struct ConvertedObserver {
  torch::jit::Node* quantize = nullptr;    // null when the observer was removed
  torch::jit::Node* dequantize = nullptr;
  torch::jit::Value* input = nullptr;      // the observed value
};

// Returns the quantize/dequantize pairs created, in graph order.
std::vector<ConvertedObserver> convert_observers(torch::jit::Module& module);

// The same for a `module` cloned from `observers` (the prepared module)
// without (some of) its observer attributes: a call's observer is looked up
// on `module` and, if not there, on `observers`, where it is only read.
// convert_pt2e clones this way, which spares cloning thousands of observer
// classes only to delete them.
std::vector<ConvertedObserver> convert_observers(torch::jit::Module& module, const torch::jit::Module& observers);

// convert_observers(module, prepared) on a copy of prepared's forward that
// is made as it is converted: `module` is a clone of `prepared` without a
// forward (jit::clone_module ignoring "forward", with `classes`); it gets
// prepared's forward, copied node by node, with each observer call replaced
// by its quantize/dequantize as it is reached and the observers' reads left
// out. The graph convert_observers gives on a full copy, without copying
// the calls and reads it then destroys (about a third of a prepared graph's
// nodes). `copied` (if set) is told each copied node and its copy.
std::vector<ConvertedObserver> copy_converting_observers(
    torch::jit::Module& module, const torch::jit::Module& prepared, const jit::ClassClones& classes,
    const std::function<void(const torch::jit::Node*, torch::jit::Node*)>& copied = nullptr);

// The names of the module's attributes that hold observers, derived
// observers or fake quantizers (or their groups), in slot order.
std::vector<std::string> observer_attribute_names(const torch::jit::Module& module);

// Deletes the observer submodules (and derived observers) from the module.
void remove_observer_modules(torch::jit::Module& module);

}  // namespace passes
}  // namespace torch_pt2e
