#include "torch_pt2e_plugin/observers/observer_ops.h"

#include <string>

#include <ATen/core/stack.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/module.h>

#include "kernels/histogram.h"
#include "kernels/per_channel_minmax.h"
#include "torch_pt2e_plugin/observers/observer.h"
#include "torch_pt2e_plugin/observers/qparams.h"
#include "torch_pt2e_plugin/observers/statistics.h"

namespace torch_pt2e {
namespace observers {
namespace {

constexpr const char* kPerChannelAminmax = "per_channel_aminmax(Tensor input, int axis) -> (Tensor min, Tensor max)";
constexpr const char* kHistcWithExtrema =
    "histc_with_extrema(Tensor input, int bins, float min, float max) -> (Tensor hist, Tensor finite_min, "
    "Tensor finite_max, bool has_nan, bool has_inf)";
constexpr const char* kObserveMinMax =
    "observe_min_max_(Tensor input, Tensor(a!) min_val, Tensor(b!) max_val) -> ()";
constexpr const char* kObserveMovingAverageMinMax =
    "observe_moving_average_min_max_(Tensor input, Tensor(a!) min_val, Tensor(b!) max_val, "
    "float averaging_constant) -> ()";
constexpr const char* kObservePerChannelMinMax =
    "observe_per_channel_min_max_(Tensor input, Tensor(a!) min_val, Tensor(b!) max_val, int ch_axis) -> ()";
constexpr const char* kObserveMovingAveragePerChannelMinMax =
    "observe_moving_average_per_channel_min_max_(Tensor input, Tensor(a!) min_val, Tensor(b!) max_val, "
    "int ch_axis, float averaging_constant) -> ()";
constexpr const char* kObserveHistogram =
    "observe_histogram_(Tensor input, Tensor(a!) histogram, Tensor(b!) min_val, Tensor(c!) max_val, int bins, "
    "int upsample_rate) -> ()";
constexpr const char* kMinMaxQParams =
    "min_max_qparams(Tensor min_val, Tensor max_val, Tensor eps, int quant_min, int quant_max, ScalarType dtype, "
    "int qscheme, bool has_customized_qrange) -> (Tensor, Tensor)";
constexpr const char* kHistogramQParams =
    "histogram_qparams(Tensor histogram, Tensor min_val, Tensor max_val, Tensor eps, int bins, int quant_min, "
    "int quant_max, ScalarType dtype, int qscheme, bool has_customized_qrange) -> (Tensor, Tensor)";
constexpr const char* kAddObserver = "add_observer(Any module, str name, str config) -> ()";
constexpr const char* kIsObserver = "is_observer(Any module) -> bool";
constexpr const char* kObserverConfig = "observer_config(Any module) -> str";

std::tuple<at::Tensor, at::Tensor> min_max_qparams(const at::Tensor& min_val, const at::Tensor& max_val,
                                                   const at::Tensor& eps, int64_t quant_min, int64_t quant_max,
                                                   at::ScalarType dtype, int64_t qscheme,
                                                   bool has_customized_qrange) {
  return qparams_from_min_max(min_val, max_val, eps,
                              qparams_spec(quant_min, quant_max, dtype, qscheme, has_customized_qrange));
}

std::tuple<at::Tensor, at::Tensor> histogram_qparams(const at::Tensor& histogram, const at::Tensor& min_val,
                                                     const at::Tensor& max_val, const at::Tensor& eps, int64_t bins,
                                                     int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                                     int64_t qscheme, bool has_customized_qrange) {
  return qparams_from_histogram(histogram, min_val, max_val, eps, bins,
                                qparams_spec(quant_min, quant_max, dtype, qscheme, has_customized_qrange));
}

// ---- module-level ops (boxed: `Any` arrives as an IValue) -------------------

torch::jit::Module module_argument(const char* op, const c10::IValue& value) {
  TORCH_CHECK(value.isObject() && value.toObjectRef().type()->is_module(), "torch_pt2e::", op,
              ": module must be a TorchScript module (from Python pass `scripted_model._c`), got ",
              value.type()->repr_str());
  return torch::jit::Module(value.toObject());
}

void add_observer_boxed(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  const std::string config = torch::jit::pop(*stack).toStringRef();
  const std::string name = torch::jit::pop(*stack).toStringRef();
  torch::jit::Module owner = module_argument("add_observer", torch::jit::pop(*stack));
  add_observer(owner, name, config_from_json_string(config));
}

void is_observer_boxed(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  const c10::IValue value = torch::jit::pop(*stack);
  const bool result =
      value.isObject() && value.toObjectRef().type()->is_module() && is_observer(torch::jit::Module(value.toObject()));
  torch::jit::push(*stack, result);
}

void observer_config_boxed(const c10::OperatorHandle&, torch::jit::Stack* stack) {
  const torch::jit::Module observer = module_argument("observer_config", torch::jit::pop(*stack));
  torch::jit::push(*stack, to_json_string(read_config(observer)));
}

void register_definer_kernels(torch::Library& lib, const std::vector<std::string>& defined) {
  using ops::impl_if_defined;
  constexpr auto composite = c10::DispatchKey::CompositeExplicitAutograd;
  impl_if_defined(lib, defined, "per_channel_aminmax", composite, TORCH_FN(kernels::per_channel_aminmax_reference));
  impl_if_defined(lib, defined, "histc_with_extrema", composite, TORCH_FN(kernels::histc_with_extrema_reference));
  impl_if_defined(lib, defined, "observe_min_max_", composite, TORCH_FN(update_min_max));
  impl_if_defined(lib, defined, "observe_moving_average_min_max_", composite,
                  TORCH_FN(update_moving_average_min_max));
  impl_if_defined(lib, defined, "observe_per_channel_min_max_", composite, TORCH_FN(update_per_channel_min_max));
  impl_if_defined(lib, defined, "observe_moving_average_per_channel_min_max_", composite,
                  TORCH_FN(update_moving_average_per_channel_min_max));
  impl_if_defined(lib, defined, "observe_histogram_", composite, TORCH_FN(update_histogram));
  impl_if_defined(lib, defined, "min_max_qparams", composite, TORCH_FN(min_max_qparams));
  impl_if_defined(lib, defined, "histogram_qparams", composite, TORCH_FN(histogram_qparams));
  // No tensor arguments: catch-all kernels.
  if (ops::defined_by_plugin(defined, "add_observer")) {
    lib.impl("add_observer", torch::CppFunction::makeFromBoxedFunction<&add_observer_boxed>());
  }
  if (ops::defined_by_plugin(defined, "is_observer")) {
    lib.impl("is_observer", torch::CppFunction::makeFromBoxedFunction<&is_observer_boxed>());
  }
  if (ops::defined_by_plugin(defined, "observer_config")) {
    lib.impl("observer_config", torch::CppFunction::makeFromBoxedFunction<&observer_config_boxed>());
  }
}

}  // namespace

ops::OpFamily observer_ops() {
  ops::OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "observers";
  family.schemas = {kPerChannelAminmax,
                    kHistcWithExtrema,
                    kObserveMinMax,
                    kObserveMovingAverageMinMax,
                    kObservePerChannelMinMax,
                    kObserveMovingAveragePerChannelMinMax,
                    kObserveHistogram,
                    kMinMaxQParams,
                    kHistogramQParams,
                    kAddObserver,
                    kIsObserver,
                    kObserverConfig};
  family.register_definer_kernels = register_definer_kernels;
  return family;
}

std::tuple<at::Tensor, at::Tensor> per_channel_aminmax(const at::Tensor& input, int64_t axis) {
  static const auto op = ops::find_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, int64_t)>(
      "torch_pt2e::per_channel_aminmax", "");
  return op.call(input, axis);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool> histc_with_extrema(const at::Tensor& input, int64_t bins,
                                                                               double min, double max) {
  static const auto op =
      ops::find_op<std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool>(const at::Tensor&, int64_t, double,
                                                                              double)>(
          "torch_pt2e::histc_with_extrema", "");
  return op.call(input, bins, min, max);
}

}  // namespace observers
}  // namespace torch_pt2e
