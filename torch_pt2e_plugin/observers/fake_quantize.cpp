#include "torch_pt2e_plugin/observers/fake_quantize.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "torch_pt2e_plugin/observers/observer.h"

namespace torch_pt2e {
namespace observers {
namespace {

// Bumped whenever the attributes or methods of a fake-quantize class change.
constexpr const char* kClassPrefix = "__torch__.torch_pt2e.fake_quantize.v1.";
constexpr const char* kKindAttribute = "fake_quantize_kind";
constexpr const char* kObserverAttribute = "activation_post_process";

// Upstream's FakeQuantize.forward, with `bool(...)` where Python converts
// one-element tensors implicitly.
constexpr const char* kFakeQuantizeMethods = R"(
def forward(self, X: Tensor) -> Tensor:
    if bool(self.observer_enabled[0] == 1):
        self.activation_post_process.forward(X.detach())
        _scale, _zero_point = self.activation_post_process.calculate_qparams()
        _scale = _scale.to(self.scale.device)
        _zero_point = _zero_point.to(self.zero_point.device)
        if self.scale.size() != _scale.size():
            self.scale.resize_(_scale.size())
            self.zero_point.resize_(_zero_point.size())
        self.scale.copy_(_scale)
        self.zero_point.copy_(_zero_point)
    if bool(self.fake_quant_enabled[0] == 1):
        if self.is_per_channel:
            X = torch.fake_quantize_per_channel_affine(X, self.scale, self.zero_point, self.ch_axis,
                                                       self.quant_min, self.quant_max)
        else:
            X = torch.fake_quantize_per_tensor_affine(X, self.scale, self.zero_point, self.quant_min,
                                                      self.quant_max)
    return X

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self.activation_post_process.calculate_qparams()
)";

constexpr const char* kFusedMethods = R"(
def forward(self, X: Tensor) -> Tensor:
    return torch.fused_moving_avg_obs_fake_quant(X, self.observer_enabled, self.fake_quant_enabled,
                                                 self.activation_post_process.min_val,
                                                 self.activation_post_process.max_val, self.scale, self.zero_point,
                                                 self.activation_post_process.averaging_constant, self.quant_min,
                                                 self.quant_max, self.ch_axis, self.is_per_channel,
                                                 self.is_symmetric_quant)

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self.activation_post_process.calculate_qparams()
)";

FakeQuantizeKind fake_quantize_kind_from_name(const std::string& name) {
  if (name == "FakeQuantize") return FakeQuantizeKind::kFakeQuantize;
  if (name == "FusedMovingAvgObsFakeQuantize") return FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize;
  TORCH_CHECK(false, "unsupported fake-quantize class \"", name,
              "\"; supported: FakeQuantize, FusedMovingAvgObsFakeQuantize");
}

bool is_symmetric(c10::QScheme q) { return q == c10::kPerTensorSymmetric || q == c10::kPerChannelSymmetric; }

c10::IValue attribute(const torch::jit::Module& module, const char* name) {
  TORCH_CHECK(module.hasattr(name), "fake-quantize module ", module.type()->name()->qualifiedName(),
              " has no attribute '", name, "'");
  return module.attr(name);
}

void check_fake_quantize(const torch::jit::Module& module, const char* what) {
  TORCH_CHECK(is_fake_quantize(module), what, ": ",
              module.type()->name() ? module.type()->name()->qualifiedName() : std::string("<unnamed>"),
              " is not a fake-quantize module created by torch_pt2e::observers::add_fake_quantize");
}

int64_t set_flag(const torch::jit::Module& root, const char* buffer, bool enabled) {
  int64_t count = 0;
  for (const torch::jit::Module& module : root.modules()) {
    if (!is_fake_quantize(module)) continue;
    at::NoGradGuard no_grad;
    attribute(module, buffer).toTensor().fill_(enabled ? 1 : 0);
    ++count;
  }
  return count;
}

}  // namespace

const char* fake_quantize_kind_name(FakeQuantizeKind kind) {
  return kind == FakeQuantizeKind::kFakeQuantize ? "FakeQuantize" : "FusedMovingAvgObsFakeQuantize";
}

bool is_fake_quantize_kind_name(const std::string& name) {
  return name == "FakeQuantize" || name == "FusedMovingAvgObsFakeQuantize";
}

FakeQuantizeConfig fake_quantize_config(const std::string& class_name, const nlohmann::json& kwargs) {
  FakeQuantizeConfig config;
  config.kind = fake_quantize_kind_from_name(class_name);
  TORCH_CHECK(kwargs.is_object(), class_name, ": the constructor arguments must be a JSON object, got ", kwargs.dump());
  nlohmann::json observer = {{"name", "MovingAverageMinMaxObserver"}, {"kwargs", nlohmann::json::object()}};
  if (kwargs.contains("observer")) {
    const nlohmann::json& given = kwargs.at("observer");
    if (given.is_string()) {
      observer["name"] = given;
    } else {
      TORCH_CHECK(given.is_object() && given.contains("name") && given.at("name").is_string(), class_name,
                  ": \"observer\" must be an observer class name or {\"name\", \"kwargs\"}, got ", given.dump());
      observer = given;
      if (!observer.contains("kwargs") || observer["kwargs"].is_null()) observer["kwargs"] = nlohmann::json::object();
    }
  }
  nlohmann::json args = observer.at("kwargs");
  TORCH_CHECK(args.is_object(), class_name, ": the observer's kwargs must be a JSON object, got ", args.dump());
  args["kind"] = observer.at("name");
  if (config.kind == FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize) {
    // Upstream's signature defaults (quant_min=0, quant_max=255).
    args["quant_min"] = 0;
    args["quant_max"] = 255;
  }
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
    if (it.key() != "observer") args[it.key()] = it.value();
  }
  try {
    config.observer = args.get<ObserverConfig>();
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, class_name, ": ", error.what_without_backtrace());
  }
  const ObserverKind observer_kind = config.observer.kind;
  if (config.kind == FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize) {
    TORCH_CHECK(observer_kind == ObserverKind::kMovingAverageMinMax ||
                    observer_kind == ObserverKind::kMovingAveragePerChannelMinMax,
                "FusedMovingAvgObsFakeQuantize only works with MovingAverageMinMaxObserver or "
                "MovingAveragePerChannelMinMaxObserver (as upstream), got ",
                kind_name(observer_kind));
  } else {
    TORCH_CHECK(observer_kind != ObserverKind::kPlaceholder && observer_kind != ObserverKind::kFixedQParams,
                "FakeQuantize needs an observer that computes quantization parameters, got ",
                kind_name(observer_kind));
  }
  return config;
}

torch::jit::Module add_fake_quantize(torch::jit::Module& owner, const std::string& name,
                                     const FakeQuantizeConfig& config) {
  validate(config.observer);
  TORCH_CHECK(!owner.hasattr(name), "add_fake_quantize: ", owner.type()->name()->qualifiedName(),
              " already has an attribute named \"", name, "\"");
  const auto range = quant_range(config.observer);
  TORCH_CHECK(range.has_value(), "add_fake_quantize: the observer has no quantization range");
  const bool fused = config.kind == FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize;
  const bool per_channel = is_per_channel(config.observer.qscheme);
  const auto cu = owner._ivalue()->compilation_unit();
  const c10::QualifiedName class_name(std::string(kClassPrefix) + fake_quantize_kind_name(config.kind));
  // One class per module: its type names its observer's class, which varies.
  torch::jit::Module fq(class_name, cu, /*shouldMangle=*/true);
  const bool training = owner.is_training();
  const auto flag_dtype = fused ? at::kLong : at::kByte;  // as upstream's buffers
  const auto zero_point_dtype = config.observer.qscheme == c10::kPerChannelAffineFloatQParams ? at::kFloat : at::kInt;
  fq.register_attribute("training", c10::BoolType::get(), training);
  fq.register_attribute(kKindAttribute, c10::StringType::get(), std::string(fake_quantize_kind_name(config.kind)));
  fq.register_buffer("fake_quant_enabled", at::ones({1}, flag_dtype));
  fq.register_buffer("observer_enabled", at::ones({1}, flag_dtype));
  fq.register_buffer("scale", at::ones({1}, at::kFloat));
  fq.register_buffer("zero_point", at::zeros({1}, zero_point_dtype));
  fq.register_attribute("dtype", c10::IntType::get(), static_cast<int64_t>(config.observer.dtype));
  fq.register_attribute("qscheme", c10::IntType::get(), static_cast<int64_t>(config.observer.qscheme));
  fq.register_attribute("ch_axis", c10::IntType::get(), per_channel ? config.observer.ch_axis : int64_t(-1));
  fq.register_attribute("is_per_channel", c10::BoolType::get(), per_channel);
  fq.register_attribute("is_symmetric_quant", c10::BoolType::get(), is_symmetric(config.observer.qscheme));
  fq.register_attribute("is_dynamic", c10::BoolType::get(), config.observer.is_dynamic);
  fq.register_attribute("quant_min", c10::IntType::get(), range->first);
  fq.register_attribute("quant_max", c10::IntType::get(), range->second);
  add_observer(fq, kObserverAttribute, config.observer);
  fq.define(fused ? kFusedMethods : kFakeQuantizeMethods);
  owner.register_module(name, fq);
  return fq;
}

bool is_fake_quantize(const torch::jit::Module& module) {
  const auto& type = module.type();
  if (!type->name() || !type->findAttribute(kKindAttribute)) return false;
  return type->name()->qualifiedName().rfind(kClassPrefix, 0) == 0;
}

torch::jit::Module fake_quantize_observer(const torch::jit::Module& fake_quantize) {
  check_fake_quantize(fake_quantize, "fake_quantize_observer");
  return torch::jit::Module(attribute(fake_quantize, kObserverAttribute).toObject());
}

FakeQuantizeConfig read_fake_quantize_config(const torch::jit::Module& fake_quantize) {
  check_fake_quantize(fake_quantize, "read_fake_quantize_config");
  FakeQuantizeConfig config;
  config.kind = fake_quantize_kind_from_name(attribute(fake_quantize, kKindAttribute).toStringRef());
  config.observer = read_config(fake_quantize_observer(fake_quantize));
  return config;
}

int64_t set_fake_quant_enabled(const torch::jit::Module& root, bool enabled) {
  return set_flag(root, "fake_quant_enabled", enabled);
}

int64_t set_observer_enabled(const torch::jit::Module& root, bool enabled) {
  return set_flag(root, "observer_enabled", enabled);
}

}  // namespace observers
}  // namespace torch_pt2e
