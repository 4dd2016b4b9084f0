// The torch_pt2e ops behind the observers: what observer methods call
// (observe_*_ record statistics in the observer's buffers, *_qparams compute
// scale and zero point), the one-pass statistics they use
// (per_channel_aminmax, histc_with_extrema), and
// module-level ops that expose observers/observer.h to Python:
//
//   torch.ops.torch_pt2e.add_observer(model._c, "activation_post_process_0", json.dumps(config))
//   torch.ops.torch_pt2e.is_observer(module._c) -> bool
//   torch.ops.torch_pt2e.observer_config(module._c) -> str (JSON)
//
// Python passes a ScriptModule's C++ module (`model._c`) as `Any`.
#pragma once

#include <cstdint>
#include <tuple>

#include <ATen/core/Tensor.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace observers {

ops::OpFamily observer_ops();

// torch_pt2e::per_channel_aminmax (kernels/per_channel_minmax.h), through the dispatcher.
std::tuple<at::Tensor, at::Tensor> per_channel_aminmax(const at::Tensor& input, int64_t axis);

// torch_pt2e::histc_with_extrema (kernels/histogram.h), through the dispatcher.
std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool> histc_with_extrema(const at::Tensor& input, int64_t bins,
                                                                               double min, double max);

}  // namespace observers
}  // namespace torch_pt2e
