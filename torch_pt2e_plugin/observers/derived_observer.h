// The observer of a DerivedQuantizationSpec: records nothing itself; its
// qparams are a function of other observers (e.g. bias scale = input scale *
// weight scale), computed at convert time.
//
// A submodule with attributes dtype, qscheme, quant_min, quant_max, ch_axis,
// is_dynamic, derive_qparams_fn (the function's registered name), the source
// observers as submodules source_0, source_1, ... (the same objects as the
// model's activation_post_process_<N>, so identity survives save/load), and
// scale / zero_point buffers that hold the derived qparams once resolved.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/QScheme.h>
#include <c10/util/Optional.h>
#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace observers {

struct DerivedObserverConfig {
  at::ScalarType dtype = at::kInt;
  c10::QScheme qscheme = c10::kPerTensorAffine;
  c10::optional<int64_t> quant_min;
  c10::optional<int64_t> quant_max;
  c10::optional<int64_t> ch_axis;
  bool is_dynamic = false;
  std::string derive_qparams_fn;
};

torch::jit::Module add_derived_observer(torch::jit::Module& owner, const std::string& name,
                                        const DerivedObserverConfig& config,
                                        const std::vector<torch::jit::Module>& sources);

bool is_derived_observer(const torch::jit::Module& module);
DerivedObserverConfig read_derived_config(const torch::jit::Module& observer);
std::vector<torch::jit::Module> derived_sources(const torch::jit::Module& observer);

// The qparams stored by set_derived_qparams (e.g. by the Python package,
// which runs Python derive functions), if any.
c10::optional<std::tuple<at::Tensor, at::Tensor>> stored_derived_qparams(const torch::jit::Module& observer);
void set_derived_qparams(torch::jit::Module& observer, const at::Tensor& scale, const at::Tensor& zero_point);

// Stored qparams, else the registered C++ function of that name; throws,
// naming the function, if neither exists.
std::tuple<at::Tensor, at::Tensor> derived_qparams(const torch::jit::Module& observer);

}  // namespace observers
}  // namespace torch_pt2e
