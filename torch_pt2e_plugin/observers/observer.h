// Observers as TorchScript submodules, the form in which the PT2E flow
// inserts them (docs/design.md, "The TorchScript PT2E flow").
//
// An observer is a module of a class created in the owner's compilation unit
// with two TorchScript methods whose bodies call the plugin's ops:
//   forward(self, x: Tensor) -> Tensor            records statistics, returns x
//   calculate_qparams(self) -> Tuple[Tensor, Tensor]
// Its configuration is kept in attributes and its state in buffers, named as
// upstream's observers name them (dtype, qscheme, quant_min, quant_max, eps,
// min_val, max_val, histogram, ...), so a module holding observers survives
// torch.jit.save / torch.jit.load / torch::jit::load (with the plugin loaded)
// and can be calibrated and converted in another process. One class per
// observer kind and compilation unit is shared by all its observers.
#pragma once

#include <string>
#include <tuple>

#include <ATen/core/Tensor.h>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/observers/observer_config.h"

namespace torch_pt2e {
namespace observers {

// Creates an observer for `config` (validated first) and registers it on
// `owner` as submodule `name`, which must be a valid identifier and not yet an
// attribute of owner. Owner's class gains the attribute; when the class is
// shared with other instances (scripting one Python class twice gives one
// type), those get an empty slot that add_observer can later fill with an
// observer of the same kind, and saving them before that fails, so the flow
// should give the top module its own class first. The observer starts in
// owner's training mode. Returns the observer.
torch::jit::Module add_observer(torch::jit::Module& owner, const std::string& name, const ObserverConfig& config);

// add_observer for a caller that keeps the names of owner's class itself
// (the observer insertion pass, which adds thousands): `name` must be a
// valid identifier and new to the class, which is not looked up again (each
// lookup scans all of the class's attributes).
torch::jit::Module add_observer_with_new_name(torch::jit::Module& owner, const std::string& name,
                                              const ObserverConfig& config);

// True for modules created by add_observer (also after save and load).
bool is_observer(const torch::jit::Module& module);

// The configuration the observer was created with. Throws if `observer` is
// not an observer. eps and a FixedQParams scale come back as the float32
// values the observer stores (upstream keeps them in float32 buffers too).
ObserverConfig read_config(const torch::jit::Module& observer);

// What the observer's calculate_qparams method returns: (scale, zero_point)
// with upstream's dtypes and shapes (see qparams.h), computed in C++ from its
// attributes without running the method. Throws for a Placeholder observer,
// which has no quantization parameters (as upstream).
std::tuple<at::Tensor, at::Tensor> calculate_qparams(const torch::jit::Module& observer);

// Whether calculate_qparams returns parameters derived from data (or fixed
// ones) rather than upstream's defaults for an observer that has seen
// nothing: true once a min/max or histogram observer has recorded a
// non-empty input, always for FixedQParams, never for Placeholder.
bool has_qparams(const torch::jit::Module& observer);

// The range the observer quantizes to (see quant_range in observer_config.h).
c10::optional<std::pair<int64_t, int64_t>> observer_quant_range(const torch::jit::Module& observer);

}  // namespace observers
}  // namespace torch_pt2e
