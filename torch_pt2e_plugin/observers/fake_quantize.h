// Fake-quantize modules as TorchScript submodules, the form in which
// prepare_qat_pt2e inserts them: upstream's FakeQuantize,
// FusedMovingAvgObsFakeQuantize, FixedQParamsFakeQuantize
// (torch/ao/quantization/fake_quantize.py) and _LearnableFakeQuantize
// (torch/ao/quantization/_learnable_fake_quantize.py).
//
// A fake-quantize module is, like an observer (observer.h), a module of a
// class created in the owner's compilation unit. It owns its observer as
// submodule `activation_post_process` and has upstream's buffers
// (fake_quant_enabled, observer_enabled, scale, zero_point) and attributes
// (dtype, qscheme, ch_axis, is_per_channel, quant_min, quant_max, ...):
//   forward(self, X: Tensor) -> Tensor   observes X (when observer_enabled),
//       then fake-quantizes it (when fake_quant_enabled) with
//       aten::fake_quantize_per_{tensor,channel}_affine (FakeQuantize) or
//       aten::fused_moving_avg_obs_fake_quant (FusedMovingAvgObsFakeQuantize),
//       the ops upstream calls, so numerics and the straight-through gradient
//       are upstream's;
//   calculate_qparams(self) -> Tuple[Tensor, Tensor]   the observer's.
// FixedQParamsFakeQuantize owns a FixedQParamsObserver and fake-quantizes
// with its scale and zero point. LearnableFakeQuantize has Parameters `scale`
// and `zero_point` (float) and buffers static_enabled / learning_enabled in
// place of observer_enabled; forward calls
// aten::_fake_quantize_learnable_per_{tensor,channel}_affine, and
// calculate_qparams returns the current parameters (zero point rounded and
// clamped to the range), so convert uses the trained values.
// The module survives save and load like an observer.
#pragma once

#include <string>
#include <tuple>

#include <nlohmann/json_fwd.hpp>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/observers/observer_config.h"

namespace torch_pt2e {
namespace observers {

enum class FakeQuantizeKind {
  kFakeQuantize,
  kFusedMovingAvgObsFakeQuantize,
  kFixedQParamsFakeQuantize,
  kLearnableFakeQuantize,
};

struct FakeQuantizeConfig {
  FakeQuantizeKind kind = FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize;
  // The observer the module owns, with the constructor's quant_min/quant_max
  // and observer keyword arguments applied (as upstream's __init__ does).
  ObserverConfig observer = default_config(ObserverKind::kMovingAverageMinMax);
  // LearnableFakeQuantize only: the initial parameters (`channel_len` -1 for
  // one element) and whether gradients are scaled by 1/sqrt(numel*quant_max).
  double initial_scale = 1.0;
  double initial_zero_point = 0.0;
  int64_t channel_len = -1;
  bool use_grad_scaling = false;
};

// "FakeQuantize", "FusedMovingAvgObsFakeQuantize", "FixedQParamsFakeQuantize",
// "LearnableFakeQuantize" (also accepted as "_LearnableFakeQuantize") and back.
const char* fake_quantize_kind_name(FakeQuantizeKind kind);
bool is_fake_quantize_kind_name(const std::string& name);

// Upstream's constructor: `kwargs` are the keyword arguments of
// `<kind>.with_args(...)` as JSON; "observer" is {"name", "kwargs"} of the
// observer constructor (default MovingAverageMinMaxObserver), the others go
// to the observer (they override the observer constructor's own). Fused
// defaults to quant_min=0, quant_max=255 and needs a moving-average observer.
// Throws, naming the value, for what upstream's constructor rejects.
FakeQuantizeConfig fake_quantize_config(const std::string& class_name, const nlohmann::json& kwargs);

// Creates a fake-quantize module for `config` and registers it on `owner`
// as submodule `name` (same rules as add_observer). It starts in owner's
// training mode, with fake quantization and observation enabled.
torch::jit::Module add_fake_quantize(torch::jit::Module& owner, const std::string& name,
                                     const FakeQuantizeConfig& config);

// True for modules created by add_fake_quantize (also after save and load).
bool is_fake_quantize(const torch::jit::Module& module);

// The fake-quantize module's observer (its `activation_post_process`).
torch::jit::Module fake_quantize_observer(const torch::jit::Module& fake_quantize);

FakeQuantizeConfig read_fake_quantize_config(const torch::jit::Module& fake_quantize);

// A LearnableFakeQuantize's calculate_qparams (upstream's
// _LearnableFakeQuantize's: the scale clamped in place to eps, the zero point
// rounded, clamped to [quant_min, quant_max] and int64), computed in C++
// rather than by running the module's TorchScript method: torch 2.6's
// TensorExpr fuser miscompiles that method's round().long() on CPU, so its
// calls after the first return zero points of 0 (docs/quantizer.md).
std::tuple<at::Tensor, at::Tensor> learnable_qparams(const torch::jit::Module& fake_quantize);

// Upstream's enable_fake_quant / disable_fake_quant / enable_observer /
// disable_observer, applied to every fake-quantize module in `root`'s tree
// (root included). Returns how many modules were set.
int64_t set_fake_quant_enabled(const torch::jit::Module& root, bool enabled);
// For LearnableFakeQuantize, observer_enabled is its static_enabled.
int64_t set_observer_enabled(const torch::jit::Module& root, bool enabled);

// Upstream's toggle_qparam_learning for every LearnableFakeQuantize in
// `root`'s tree: sets learning_enabled and requires_grad of scale and
// zero_point. Returns how many modules were set.
int64_t set_qparam_learning_enabled(const torch::jit::Module& root, bool enabled);

// Upstream's enable_param_learning / enable_static_estimate /
// enable_static_observation for every LearnableFakeQuantize in `root`'s tree.
enum class LearnableMode {
  kParamLearning,      // learn scale/zero_point, fake-quantize, no observation
  kStaticEstimate,     // observer sets scale/zero_point, fake-quantize
  kStaticObservation,  // observer sets scale/zero_point, output unchanged
};
int64_t set_learnable_mode(const torch::jit::Module& root, LearnableMode mode);

}  // namespace observers
}  // namespace torch_pt2e
