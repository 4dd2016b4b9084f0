#include "torch_pt2e_plugin/observers/fake_quantize.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "torch_pt2e_plugin/jit/class_attributes.h"
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
            # New storages, not resize_: buffers loaded by torch.jit.load cannot be resized.
            self.scale.set_(torch.empty(_scale.size(), dtype=self.scale.dtype, device=self.scale.device))
            self.zero_point.set_(torch.empty(_zero_point.size(), dtype=self.zero_point.dtype,
                                             device=self.zero_point.device))
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
    if self.is_per_channel and self.scale.numel() != X.size(self.ch_axis):
        # The op resizes these in place on its first per-channel call, which a buffer
        # loaded by torch.jit.load cannot do: the same values in new storages first.
        self.scale.set_(self.scale.clone())
        self.zero_point.set_(self.zero_point.clone())
        self.activation_post_process.min_val.set_(self.activation_post_process.min_val.clone())
        self.activation_post_process.max_val.set_(self.activation_post_process.max_val.clone())
    return torch.fused_moving_avg_obs_fake_quant(X, self.observer_enabled, self.fake_quant_enabled,
                                                 self.activation_post_process.min_val,
                                                 self.activation_post_process.max_val, self.scale, self.zero_point,
                                                 self.activation_post_process.averaging_constant, self.quant_min,
                                                 self.quant_max, self.ch_axis, self.is_per_channel,
                                                 self.is_symmetric_quant)

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self.activation_post_process.calculate_qparams()
)";

// Upstream's FakeQuantize.forward for a FixedQParamsObserver, whose forward
// is the identity and whose qparams never change: only fake-quantizes.
constexpr const char* kFixedQParamsMethods = R"(
def forward(self, X: Tensor) -> Tensor:
    if bool(self.fake_quant_enabled[0] == 1):
        X = torch.fake_quantize_per_tensor_affine(X, self.scale, self.zero_point, self.quant_min, self.quant_max)
    return X

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self.scale, self.zero_point
)";

// Upstream's _LearnableFakeQuantize.forward and calculate_qparams (the latter
// also in C++: learnable_qparams, which convert uses).
constexpr const char* kLearnableMethods = R"(
def forward(self, X: Tensor) -> Tensor:
    if bool(self.static_enabled[0] == 1):
        self.activation_post_process.forward(X.detach())
        _scale, _zero_point = self.activation_post_process.calculate_qparams()
        _scale = _scale.to(self.scale.device)
        _zero_point = _zero_point.to(self.zero_point.device)
        self.scale.data.copy_(_scale)
        self.zero_point.data.copy_(_zero_point)
    else:
        self.scale.data.clamp_(min=float(self.eps[0]))
    if bool(self.fake_quant_enabled[0] == 1):
        if self.is_symmetric_quant:
            self.zero_point.data.zero_()
        grad_factor = 1.0
        if self.use_grad_scaling:
            grad_factor = 1.0 / (X.numel() * self.quant_max) ** 0.5
        if self.is_per_channel:
            X = torch._fake_quantize_learnable_per_channel_affine(X, self.scale, self.zero_point, self.ch_axis,
                                                                 self.quant_min, self.quant_max, grad_factor)
        else:
            X = torch._fake_quantize_learnable_per_tensor_affine(X, self.scale, self.zero_point, self.quant_min,
                                                                self.quant_max, grad_factor)
    return X

def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    self.scale.data.clamp_(min=float(self.eps[0]))
    scale = self.scale.detach()
    zero_point = self.zero_point.detach().round().clamp(self.quant_min, self.quant_max).long()
    return scale, zero_point
)";

FakeQuantizeKind fake_quantize_kind_from_name(const std::string& name) {
  if (name == "FakeQuantize") return FakeQuantizeKind::kFakeQuantize;
  if (name == "FusedMovingAvgObsFakeQuantize") return FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize;
  if (name == "FixedQParamsFakeQuantize") return FakeQuantizeKind::kFixedQParamsFakeQuantize;
  if (name == "LearnableFakeQuantize" || name == "_LearnableFakeQuantize") {
    return FakeQuantizeKind::kLearnableFakeQuantize;
  }
  TORCH_CHECK(false, "unsupported fake-quantize class \"", name,
              "\"; supported: FakeQuantize, FusedMovingAvgObsFakeQuantize, FixedQParamsFakeQuantize, "
              "LearnableFakeQuantize (_LearnableFakeQuantize)");
}

const char* methods_for(FakeQuantizeKind kind) {
  switch (kind) {
    case FakeQuantizeKind::kFakeQuantize:
      return kFakeQuantizeMethods;
    case FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize:
      return kFusedMethods;
    case FakeQuantizeKind::kFixedQParamsFakeQuantize:
      return kFixedQParamsMethods;
    case FakeQuantizeKind::kLearnableFakeQuantize:
      return kLearnableMethods;
  }
  TORCH_CHECK(false, "unknown FakeQuantizeKind ", static_cast<int>(kind));
}

bool is_learnable(const torch::jit::Module& module) {
  return module.hasattr(kKindAttribute) &&
         module.attr(kKindAttribute).toStringRef() == fake_quantize_kind_name(FakeQuantizeKind::kLearnableFakeQuantize);
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

void fill_flag(const torch::jit::Module& module, const char* buffer, bool enabled) {
  at::NoGradGuard no_grad;
  attribute(module, buffer).toTensor().fill_(enabled ? 1 : 0);
}

int64_t set_flag(const torch::jit::Module& root, const char* buffer, bool enabled) {
  int64_t count = 0;
  for (const torch::jit::Module& module : root.modules()) {
    if (!is_fake_quantize(module)) continue;
    // Upstream's _LearnableFakeQuantize.enable_observer toggles static_enabled.
    const bool observer_flag = std::string(buffer) == "observer_enabled";
    fill_flag(module, observer_flag && is_learnable(module) ? "static_enabled" : buffer, enabled);
    ++count;
  }
  return count;
}

void set_learning(const torch::jit::Module& module, bool enabled) {
  fill_flag(module, "learning_enabled", enabled);
  attribute(module, "scale").toTensor().set_requires_grad(enabled);
  attribute(module, "zero_point").toTensor().set_requires_grad(enabled);
}

// The constructor arguments _LearnableFakeQuantize keeps for itself; the
// others go to its observer.
void take_learnable_arguments(nlohmann::json& args, FakeQuantizeConfig& config) {
  const auto take = [&](const char* key, auto& field) {
    if (!args.contains(key)) return;
    const nlohmann::json value = args.at(key);
    args.erase(key);
    try {
      field = value.get<std::decay_t<decltype(field)>>();
    } catch (const nlohmann::json::exception&) {
      TORCH_CHECK(false, "LearnableFakeQuantize: \"", key, "\" has the wrong type: ", value.dump());
    }
  };
  take("scale", config.initial_scale);
  take("zero_point", config.initial_zero_point);
  take("channel_len", config.channel_len);
  take("use_grad_scaling", config.use_grad_scaling);
  TORCH_CHECK(config.channel_len == -1 || config.channel_len > 0,
              "LearnableFakeQuantize: channel_len must be -1 or a positive integer, got ", config.channel_len);
}

}  // namespace

const char* fake_quantize_kind_name(FakeQuantizeKind kind) {
  switch (kind) {
    case FakeQuantizeKind::kFakeQuantize:
      return "FakeQuantize";
    case FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize:
      return "FusedMovingAvgObsFakeQuantize";
    case FakeQuantizeKind::kFixedQParamsFakeQuantize:
      return "FixedQParamsFakeQuantize";
    case FakeQuantizeKind::kLearnableFakeQuantize:
      return "LearnableFakeQuantize";
  }
  TORCH_CHECK(false, "unknown FakeQuantizeKind ", static_cast<int>(kind));
}

bool is_fake_quantize_kind_name(const std::string& name) {
  return name == "FakeQuantize" || name == "FusedMovingAvgObsFakeQuantize" || name == "FixedQParamsFakeQuantize" ||
         name == "LearnableFakeQuantize" || name == "_LearnableFakeQuantize";
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
  if (config.kind == FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize ||
      config.kind == FakeQuantizeKind::kLearnableFakeQuantize) {
    // Upstream's signature defaults (quant_min=0, quant_max=255).
    args["quant_min"] = 0;
    args["quant_max"] = 255;
  }
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it) {
    if (it.key() != "observer") args[it.key()] = it.value();
  }
  if (config.kind == FakeQuantizeKind::kLearnableFakeQuantize) take_learnable_arguments(args, config);
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
  } else if (config.kind == FakeQuantizeKind::kFixedQParamsFakeQuantize) {
    TORCH_CHECK(observer_kind == ObserverKind::kFixedQParams,
                "FixedQParamsFakeQuantize's observer must be a FixedQParamsObserver, got ", kind_name(observer_kind));
    TORCH_CHECK(!is_per_channel(config.observer.qscheme),
                "FixedQParamsFakeQuantize supports only per-tensor quantization, got qscheme ",
                qscheme_name(config.observer.qscheme));
  } else {
    TORCH_CHECK(observer_kind != ObserverKind::kPlaceholder && observer_kind != ObserverKind::kFixedQParams,
                class_name, " needs an observer that computes quantization parameters, got ",
                kind_name(observer_kind));
  }
  if (config.kind == FakeQuantizeKind::kLearnableFakeQuantize) {
    // Upstream would fail at the first forward, copying per-channel qparams into one element.
    TORCH_CHECK(!is_per_channel(config.observer.qscheme) || config.channel_len > 0,
                "LearnableFakeQuantize with qscheme ", qscheme_name(config.observer.qscheme),
                " needs channel_len (the number of channels), got ", config.channel_len);
  }
  return config;
}

torch::jit::Module add_fake_quantize(torch::jit::Module& owner, const std::string& name,
                                     const FakeQuantizeConfig& config) {
  validate(config.observer);
  TORCH_CHECK(!owner.hasattr(name) && !owner.type()->hasConstant(name), "add_fake_quantize: ",
              owner.type()->name()->qualifiedName(), " already has an attribute named \"", name, "\"");
  const auto range = quant_range(config.observer);
  TORCH_CHECK(range.has_value(), "add_fake_quantize: the observer has no quantization range");
  const bool fused = config.kind == FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize;
  const bool fixed = config.kind == FakeQuantizeKind::kFixedQParamsFakeQuantize;
  const bool learnable = config.kind == FakeQuantizeKind::kLearnableFakeQuantize;
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
  if (learnable) {
    // Upstream's Parameters start with requires_grad set though learning is off.
    const int64_t length = config.channel_len == -1 ? 1 : config.channel_len;
    fq.register_parameter("scale", at::full({length}, config.initial_scale, at::kFloat).set_requires_grad(true), false);
    fq.register_parameter("zero_point",
                          at::full({length}, config.initial_zero_point, at::kFloat).set_requires_grad(true), false);
    fq.register_buffer("static_enabled", at::ones({1}, at::kByte));
    fq.register_buffer("learning_enabled", at::zeros({1}, at::kByte));
    fq.register_buffer("eps", at::full({1}, kFloat32Eps, at::kFloat));
    fq.register_attribute("use_grad_scaling", c10::BoolType::get(), config.use_grad_scaling);
    fq.register_attribute("channel_len", c10::IntType::get(), config.channel_len);
    fq.register_attribute("initial_scale", c10::FloatType::get(), config.initial_scale);
    fq.register_attribute("initial_zero_point", c10::FloatType::get(), config.initial_zero_point);
  } else {
    fq.register_buffer("observer_enabled", at::ones({1}, flag_dtype));
    // FixedQParamsFakeQuantize's scale and zero point are its observer's.
    fq.register_buffer("scale", at::full({1}, fixed ? config.observer.fixed_scale : 1.0, at::kFloat));
    fq.register_buffer("zero_point", at::full({1}, fixed ? config.observer.fixed_zero_point : 0, zero_point_dtype));
  }
  fq.register_attribute("dtype", c10::IntType::get(), static_cast<int64_t>(config.observer.dtype));
  fq.register_attribute("qscheme", c10::IntType::get(), static_cast<int64_t>(config.observer.qscheme));
  fq.register_attribute("ch_axis", c10::IntType::get(), per_channel ? config.observer.ch_axis : int64_t(-1));
  fq.register_attribute("is_per_channel", c10::BoolType::get(), per_channel);
  fq.register_attribute("is_symmetric_quant", c10::BoolType::get(), is_symmetric(config.observer.qscheme));
  fq.register_attribute("is_dynamic", c10::BoolType::get(), config.observer.is_dynamic);
  fq.register_attribute("quant_min", c10::IntType::get(), range->first);
  fq.register_attribute("quant_max", c10::IntType::get(), range->second);
  add_observer(fq, kObserverAttribute, config.observer);
  fq.define(methods_for(config.kind));
  jit::append_attribute(owner, name, fq.type(), fq._ivalue());  // (`name` was checked above)
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

std::tuple<at::Tensor, at::Tensor> learnable_qparams(const torch::jit::Module& fake_quantize) {
  TORCH_CHECK(is_learnable(fake_quantize), "learnable_qparams: ", fake_quantize.type()->name()->qualifiedName(),
              " is not a LearnableFakeQuantize");
  const double eps = attribute(fake_quantize, "eps").toTensor()[0].item<double>();
  // self.scale.data.clamp_(min=eps): in place, outside autograd.
  at::Tensor scale = attribute(fake_quantize, "scale").toTensor().variable_data();
  scale.clamp_min_(eps);
  const at::Tensor zero_point = attribute(fake_quantize, "zero_point")
                                    .toTensor()
                                    .detach()
                                    .round()
                                    .clamp(attribute(fake_quantize, "quant_min").toInt(),
                                           attribute(fake_quantize, "quant_max").toInt())
                                    .to(at::kLong);
  return std::make_tuple(scale.detach(), zero_point);
}

FakeQuantizeConfig read_fake_quantize_config(const torch::jit::Module& fake_quantize) {
  check_fake_quantize(fake_quantize, "read_fake_quantize_config");
  FakeQuantizeConfig config;
  config.kind = fake_quantize_kind_from_name(attribute(fake_quantize, kKindAttribute).toStringRef());
  config.observer = read_config(fake_quantize_observer(fake_quantize));
  if (config.kind == FakeQuantizeKind::kLearnableFakeQuantize) {
    config.initial_scale = attribute(fake_quantize, "initial_scale").toDouble();
    config.initial_zero_point = attribute(fake_quantize, "initial_zero_point").toDouble();
    config.channel_len = attribute(fake_quantize, "channel_len").toInt();
    config.use_grad_scaling = attribute(fake_quantize, "use_grad_scaling").toBool();
  }
  return config;
}

int64_t set_fake_quant_enabled(const torch::jit::Module& root, bool enabled) {
  return set_flag(root, "fake_quant_enabled", enabled);
}

int64_t set_observer_enabled(const torch::jit::Module& root, bool enabled) {
  return set_flag(root, "observer_enabled", enabled);
}

int64_t set_qparam_learning_enabled(const torch::jit::Module& root, bool enabled) {
  int64_t count = 0;
  for (const torch::jit::Module& module : root.modules()) {
    if (!is_fake_quantize(module) || !is_learnable(module)) continue;
    set_learning(module, enabled);
    ++count;
  }
  return count;
}

int64_t set_learnable_mode(const torch::jit::Module& root, LearnableMode mode) {
  int64_t count = 0;
  for (const torch::jit::Module& module : root.modules()) {
    if (!is_fake_quantize(module) || !is_learnable(module)) continue;
    set_learning(module, mode == LearnableMode::kParamLearning);
    fill_flag(module, "fake_quant_enabled", mode != LearnableMode::kStaticObservation);
    fill_flag(module, "static_enabled", mode != LearnableMode::kParamLearning);
    ++count;
  }
  return count;
}

}  // namespace observers
}  // namespace torch_pt2e
