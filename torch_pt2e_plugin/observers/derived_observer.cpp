#include "torch_pt2e_plugin/observers/derived_observer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace observers {
namespace {

constexpr const char* kClassName = "__torch__.torch_pt2e.observers.DerivedObserver";
// Mangled or loaded classes keep this prefix ("...observers.___torch_mangle_3.DerivedObserver").
constexpr const char* kClassPrefix = "__torch__.torch_pt2e.observers.";

int64_t optional_to_int(const c10::optional<int64_t>& value, int64_t missing) { return value ? *value : missing; }

}  // namespace

torch::jit::Module add_derived_observer(torch::jit::Module& owner, const std::string& name,
                                        const DerivedObserverConfig& config,
                                        const std::vector<torch::jit::Module>& sources) {
  torch::jit::Module observer(kClassName, owner._ivalue()->compilation_unit(), /*shouldMangle=*/true);
  observer.register_attribute("dtype", c10::IntType::get(), static_cast<int64_t>(config.dtype));
  observer.register_attribute("qscheme", c10::IntType::get(), static_cast<int64_t>(config.qscheme));
  // Optional integers are stored with a flag: TorchScript attributes keep one type.
  observer.register_attribute("has_quant_range", c10::BoolType::get(), config.quant_min && config.quant_max);
  observer.register_attribute("quant_min", c10::IntType::get(), optional_to_int(config.quant_min, 0));
  observer.register_attribute("quant_max", c10::IntType::get(), optional_to_int(config.quant_max, 0));
  observer.register_attribute("has_ch_axis", c10::BoolType::get(), config.ch_axis.has_value());
  observer.register_attribute("ch_axis", c10::IntType::get(), optional_to_int(config.ch_axis, 0));
  observer.register_attribute("is_dynamic", c10::BoolType::get(), config.is_dynamic);
  observer.register_attribute("derive_qparams_fn", c10::StringType::get(), config.derive_qparams_fn);
  observer.register_attribute("num_sources", c10::IntType::get(), static_cast<int64_t>(sources.size()));
  observer.register_buffer("scale", at::empty({0}));
  observer.register_buffer("zero_point", at::empty({0}, at::kLong));
  for (size_t i = 0; i < sources.size(); ++i) observer.register_module("source_" + std::to_string(i), sources[i]);
  observer.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return x
)");
  owner.register_module(name, observer);
  return observer;
}

bool is_derived_observer(const torch::jit::Module& module) {
  const auto& type = module.type();
  const auto name = type->name();
  return name && name->qualifiedName().rfind(kClassPrefix, 0) == 0 && name->name() == "DerivedObserver" &&
         type->findAttribute("derive_qparams_fn");
}

DerivedObserverConfig read_derived_config(const torch::jit::Module& observer) {
  DerivedObserverConfig config;
  config.dtype = static_cast<at::ScalarType>(observer.attr("dtype").toInt());
  config.qscheme = static_cast<c10::QScheme>(observer.attr("qscheme").toInt());
  if (observer.attr("has_quant_range").toBool()) {
    config.quant_min = observer.attr("quant_min").toInt();
    config.quant_max = observer.attr("quant_max").toInt();
  }
  if (observer.attr("has_ch_axis").toBool()) config.ch_axis = observer.attr("ch_axis").toInt();
  config.is_dynamic = observer.attr("is_dynamic").toBool();
  config.derive_qparams_fn = observer.attr("derive_qparams_fn").toStringRef();
  return config;
}

std::vector<torch::jit::Module> derived_sources(const torch::jit::Module& observer) {
  std::vector<torch::jit::Module> sources;
  const int64_t count = observer.attr("num_sources").toInt();
  for (int64_t i = 0; i < count; ++i) sources.emplace_back(observer.attr("source_" + std::to_string(i)).toObject());
  return sources;
}

c10::optional<std::tuple<at::Tensor, at::Tensor>> stored_derived_qparams(const torch::jit::Module& observer) {
  const at::Tensor scale = observer.attr("scale").toTensor();
  if (scale.numel() == 0) return c10::nullopt;
  return std::make_tuple(scale, observer.attr("zero_point").toTensor());
}

void set_derived_qparams(torch::jit::Module& observer, const at::Tensor& scale, const at::Tensor& zero_point) {
  TORCH_CHECK(scale.numel() > 0 && scale.numel() == zero_point.numel(), "derived qparams of ",
              observer.attr("derive_qparams_fn").toStringRef(),
              ": scale and zero_point must be non-empty and of the same size, got ", scale.sizes(), " and ",
              zero_point.sizes());
  observer.setattr("scale", scale.detach().clone());
  observer.setattr("zero_point", zero_point.detach().clone());
}

std::tuple<at::Tensor, at::Tensor> derived_qparams(const torch::jit::Module& observer) {
  if (auto stored = stored_derived_qparams(observer)) return *stored;
  const std::string& name = observer.attr("derive_qparams_fn").toStringRef();
  const auto* fn = quantizer::find_derive_qparams_fn(name);
  TORCH_CHECK(fn != nullptr, "convert_pt2e: no derive_qparams_fn named '", name,
              "' is registered in this process. Register it with torch_pt2e::quantizer::register_derive_qparams_fn "
              "(C++), or convert from Python in a process where the function can be imported.");
  auto sources = derived_sources(observer);
  return (*fn)(sources);
}

}  // namespace observers
}  // namespace torch_pt2e
