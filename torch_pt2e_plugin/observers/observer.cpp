#include "torch_pt2e_plugin/observers/observer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>

#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/observers/qparams.h"

namespace torch_pt2e {
namespace observers {
namespace {

// Bumped whenever the attributes or methods of an observer class change, so a
// class saved by another version is never mistaken for this version's.
constexpr const char* kClassPrefix = "__torch__.torch_pt2e.observers.v1.";
constexpr const char* kKindAttribute = "observer_kind";

// ---- TorchScript name resolution --------------------------------------------

// The default resolver maps `torch` to the aten namespace only, so
// `torch.ops.torch_pt2e.f` would look for aten::ops. This one resolves
// `torch.ops.<namespace>.<op>` to the registered op, everything else under
// `torch.` as before, and `Exception`; the same on LibTorch 1.13 and 2.x.
struct OpsNamespacesValue : torch::jit::SugaredValue {
  std::string kind() const override { return "torch.ops"; }
  std::shared_ptr<torch::jit::SugaredValue> attr(const torch::jit::SourceRange& loc, torch::jit::GraphFunction& m,
                                                 const std::string& field) override {
    return std::make_shared<torch::jit::BuiltinModule>(field);
  }
};

struct TorchModuleValue : torch::jit::SugaredValue {
  std::string kind() const override { return "torch module"; }
  std::shared_ptr<torch::jit::SugaredValue> attr(const torch::jit::SourceRange& loc, torch::jit::GraphFunction& m,
                                                 const std::string& field) override {
    if (field == "ops") return std::make_shared<OpsNamespacesValue>();
    return std::make_shared<torch::jit::BuiltinModule>("aten")->attr(loc, m, field);
  }
};

struct TorchOpsResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& m,
                                                         const torch::jit::SourceRange& loc) override {
    if (name == "torch") return std::make_shared<TorchModuleValue>();
    // Python's builtins come from the Python resolver, absent here.
    if (name == "Exception") return std::make_shared<torch::jit::ExceptionValue>(name);
    return nullptr;
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override { return nullptr; }
};

// ---- method sources -----------------------------------------------------------

constexpr const char* kForwardMinMax = R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_min_max_(x, self.min_val, self.max_val)
    return x
)";

constexpr const char* kForwardMovingAverage = R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_moving_average_min_max_(x, self.min_val, self.max_val, self.averaging_constant)
    return x
)";

constexpr const char* kForwardPerChannel = R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_per_channel_min_max_(x, self.min_val, self.max_val, self.ch_axis)
    return x
)";

constexpr const char* kForwardMovingAveragePerChannel = R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_moving_average_per_channel_min_max_(
        x, self.min_val, self.max_val, self.ch_axis, self.averaging_constant)
    return x
)";

constexpr const char* kForwardHistogram = R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_histogram_(x, self.histogram, self.min_val, self.max_val, self.bins,
                                            self.upsample_rate)
    return x
)";

constexpr const char* kForwardIdentity = R"(
def forward(self, x: Tensor) -> Tensor:
    return x
)";

constexpr const char* kQParamsMinMax = R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return torch.ops.torch_pt2e.min_max_qparams(self.min_val, self.max_val, self.eps, self.quant_min,
                                                self.quant_max, self.dtype, self.qscheme,
                                                self.has_customized_qrange)
)";

constexpr const char* kQParamsHistogram = R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return torch.ops.torch_pt2e.histogram_qparams(self.histogram, self.min_val, self.max_val, self.eps,
                                                  self.bins, self.quant_min, self.quant_max, self.dtype,
                                                  self.qscheme, self.has_customized_qrange)
)";

constexpr const char* kQParamsPlaceholder = R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    raise Exception("calculate_qparams should not be called for PlaceholderObserver")
)";

constexpr const char* kQParamsFixed = R"(
def calculate_qparams(self) -> Tuple[Tensor, Tensor]:
    return self.scale, self.zero_point
)";

std::string methods_source(ObserverKind kind) {
  switch (kind) {
    case ObserverKind::kMinMax:
      return std::string(kForwardMinMax) + kQParamsMinMax;
    case ObserverKind::kMovingAverageMinMax:
      return std::string(kForwardMovingAverage) + kQParamsMinMax;
    case ObserverKind::kPerChannelMinMax:
      return std::string(kForwardPerChannel) + kQParamsMinMax;
    case ObserverKind::kMovingAveragePerChannelMinMax:
      return std::string(kForwardMovingAveragePerChannel) + kQParamsMinMax;
    case ObserverKind::kHistogram:
      return std::string(kForwardHistogram) + kQParamsHistogram;
    case ObserverKind::kPlaceholder:
      return std::string(kForwardIdentity) + kQParamsPlaceholder;
    case ObserverKind::kFixedQParams:
      return std::string(kForwardIdentity) + kQParamsFixed;
  }
  TORCH_CHECK(false, "unknown ObserverKind ", static_cast<int>(kind));
}

// ---- attributes ---------------------------------------------------------------

struct Attribute {
  const char* name;  // a literal
  c10::TypePtr type;
  c10::IValue value;
  bool is_buffer;
};

c10::IValue optional_int(const c10::optional<int64_t>& v) { return v ? c10::IValue(*v) : c10::IValue(); }

// The observers' buffers, made without the dispatcher: at::full and
// at::zeros each dispatch an allocation and a TensorIterator fill, and the
// flow makes three or four buffers for each of tens of thousands of
// observers. Same dtypes, shapes and values (a double converted as fill_
// converts it: to the nearest float32).
template <typename T>
at::Tensor filled_cpu(c10::IntArrayRef sizes, at::ScalarType dtype, T value) {
  at::Tensor t(at::detail::empty_cpu(sizes, dtype));
  T* data = static_cast<T*>(t.data_ptr());
  std::fill(data, data + t.numel(), value);
  return t;
}

// fill_'s conversion: a finite double beyond float32's range is an error.
float to_float32(double v) {
  TORCH_CHECK(!std::isfinite(v) || std::fabs(v) <= std::numeric_limits<float>::max(), "observer: the value ", v,
              " cannot be converted to float32 without overflow");
  return static_cast<float>(v);
}

int32_t to_int32(int64_t v) {
  TORCH_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(), "observer: the value ",
              v, " cannot be converted to int32 without overflow");
  return static_cast<int32_t>(v);
}

at::Tensor float_scalar(double v) { return filled_cpu<float>({}, at::kFloat, to_float32(v)); }
at::Tensor float_tensor(c10::IntArrayRef sizes, double v) { return filled_cpu<float>(sizes, at::kFloat, to_float32(v)); }

bool is_uniform(ObserverKind kind) {
  return kind != ObserverKind::kPlaceholder && kind != ObserverKind::kFixedQParams;
}

bool is_per_channel_kind(ObserverKind kind) {
  return kind == ObserverKind::kPerChannelMinMax || kind == ObserverKind::kMovingAveragePerChannelMinMax;
}

bool is_moving_average_kind(ObserverKind kind) {
  return kind == ObserverKind::kMovingAverageMinMax || kind == ObserverKind::kMovingAveragePerChannelMinMax;
}

// Attributes in registration order; buffers in upstream's order, so
// state_dict() lists them as upstream's observers do.
std::vector<Attribute> attributes_for(const ObserverConfig& c, bool training) {
  // (made once: the flow asks for tens of thousands of observers' attributes)
  static const c10::TypePtr Bool = c10::BoolType::get();
  static const c10::TypePtr Int = c10::IntType::get();
  static const c10::TypePtr Float = c10::FloatType::get();
  static const c10::TypePtr Str = c10::StringType::get();
  static const c10::TypePtr OptInt = c10::OptionalType::create(c10::IntType::get());
  static const c10::TypePtr Tensor = c10::TensorType::get();
  constexpr size_t kMostAttributes = 18;
  std::vector<Attribute> a;
  a.reserve(kMostAttributes);
  a.push_back({"training", Bool, training, false});
  a.push_back({kKindAttribute, Str, std::string(kind_name(c.kind)), false});
  a.push_back({"dtype", Int, static_cast<int64_t>(c.dtype), false});
  a.push_back({"qscheme", Int, static_cast<int64_t>(c.qscheme), false});
  a.push_back({"is_dynamic", Bool, c.is_dynamic, false});
  if (is_uniform(c.kind)) {
    const auto range = quant_range(c);
    a.push_back({"reduce_range", Bool, c.reduce_range, false});
    a.push_back({"has_customized_qrange", Bool, has_customized_qrange(c), false});
    a.push_back({"initial_quant_min", OptInt, optional_int(c.quant_min), false});
    a.push_back({"initial_quant_max", OptInt, optional_int(c.quant_max), false});
    a.push_back({"quant_min", Int, range->first, false});
    a.push_back({"quant_max", Int, range->second, false});
    if (is_moving_average_kind(c.kind)) a.push_back({"averaging_constant", Float, c.averaging_constant, false});
    if (is_per_channel_kind(c.kind)) a.push_back({"ch_axis", Int, c.ch_axis, false});
    if (c.kind == ObserverKind::kHistogram) {
      a.push_back({"bins", Int, c.bins, false});
      a.push_back({"upsample_rate", Int, c.upsample_rate, false});
    }
    a.push_back({"eps", Tensor, float_tensor({1}, c.eps), true});
    if (c.kind == ObserverKind::kHistogram) a.push_back({"histogram", Tensor, float_tensor({c.bins}, 0.0), true});
    if (is_per_channel_kind(c.kind)) {
      a.push_back({"min_val", Tensor, float_tensor({0}, 0.0), true});
      a.push_back({"max_val", Tensor, float_tensor({0}, 0.0), true});
    } else {
      a.push_back({"min_val", Tensor, float_scalar(std::numeric_limits<double>::infinity()), true});
      a.push_back({"max_val", Tensor, float_scalar(-std::numeric_limits<double>::infinity()), true});
    }
  } else if (c.kind == ObserverKind::kPlaceholder) {
    a.push_back({"quant_min", OptInt, optional_int(c.quant_min), false});
    a.push_back({"quant_max", OptInt, optional_int(c.quant_max), false});
    a.push_back({"eps", Float, c.eps, false});
    a.push_back({"custom_op", Str, c.custom_op_name, false});
    a.push_back({"compute_dtype", OptInt,
                 c.compute_dtype ? c10::IValue(static_cast<int64_t>(*c.compute_dtype)) : c10::IValue(), false});
  } else {
    a.push_back({"quant_min", Int, *c.quant_min, false});
    a.push_back({"quant_max", Int, *c.quant_max, false});
    a.push_back({"scale", Tensor, float_tensor({1}, c.fixed_scale), true});
    a.push_back({"zero_point", Tensor, filled_cpu<int32_t>({1}, at::kInt, to_int32(c.fixed_zero_point)), true});
  }
  return a;
}

// Whether `cls` has exactly these attributes in this order (a class this
// file made from the same configuration kind): checked slot by slot.
bool class_has_in_order(const c10::ClassType& cls, const std::vector<Attribute>& attributes) {
  if (cls.numAttributes() != attributes.size()) return false;
  for (size_t slot = 0; slot < attributes.size(); ++slot) {
    const Attribute& attribute = attributes[slot];
    if (cls.getAttributeName(slot) != attribute.name || *cls.getAttribute(slot) != *attribute.type ||
        cls.is_buffer(slot) != attribute.is_buffer) {
      return false;
    }
  }
  return true;
}

// An existing class can be reused when it has exactly these attributes
// (names, types, buffer flags) and both methods. `in_order`: it lists them
// in this order (as classes this file made do), already checked.
bool class_matches(const c10::ClassTypePtr& cls, const std::vector<Attribute>& attributes, bool in_order) {
  if (!cls->is_module() || cls->numAttributes() != attributes.size()) return false;
  if (!in_order) {
    for (const auto& attribute : attributes) {
      const auto slot = cls->findAttributeSlot(attribute.name);
      if (!slot || *cls->getAttribute(*slot) != *attribute.type || cls->is_buffer(*slot) != attribute.is_buffer) {
        return false;
      }
    }
  }
  return cls->findMethod("forward") && cls->findMethod("calculate_qparams");
}

bool is_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') return false;
  }
  return true;
}

const char* observer_qualified_prefix() { return kClassPrefix; }

// One lookup of the name among the class's attributes (hasattr + attr are two).
c10::IValue attribute(const torch::jit::Module& observer, const char* name) {
  const auto slot = observer.type()->findAttributeSlot(name);
  TORCH_CHECK(slot.has_value(), "observer ", observer.type()->name()->qualifiedName(), " has no attribute '", name,
              "'");
  return observer._ivalue()->getSlot(*slot);
}

// The value of a one-element buffer (eps, a fixed scale) as a double.
double scalar_value(const at::Tensor& t) {
  if (t.device().is_cpu() && t.scalar_type() == at::kFloat && t.numel() == 1) {
    return static_cast<double>(*t.data_ptr<float>());
  }
  return t.item<double>();
}

c10::optional<int64_t> read_optional_int(const c10::IValue& v) {
  if (v.isNone()) return c10::nullopt;
  return v.toInt();
}

void check_observer(const torch::jit::Module& module, const char* what) {
  TORCH_CHECK(is_observer(module), what, ": ",
              module.type()->name() ? module.type()->name()->qualifiedName() : std::string("<unnamed>"),
              " is not an observer created by torch_pt2e::observers::add_observer");
}

// add_observer after its checks of `name`: declared_slot is the slot of an
// attribute `name` that owner's class declares for another instance (see
// add_observer), if any.
torch::jit::Module register_observer(torch::jit::Module& owner, const std::string& name, const ObserverConfig& config,
                                     c10::optional<size_t> declared_slot) {
  const bool declared_elsewhere = declared_slot.has_value();
  const auto attributes = attributes_for(config, owner.is_training());
  const auto cu = owner._ivalue()->compilation_unit();
  const c10::QualifiedName class_name(std::string(observer_qualified_prefix()) + kind_name(config.kind));

  const c10::ClassTypePtr existing = cu->get_class(class_name);
  const bool in_order = existing && class_has_in_order(*existing, attributes);
  const bool reuse = existing && class_matches(existing, attributes, in_order);
  torch::jit::Module observer =
      reuse ? torch::jit::Module(cu, existing) : torch::jit::Module(class_name, cu, /*shouldMangle=*/true);
  if (reuse && in_order) {
    // The usual case: slot by slot, without register_attribute's lookups by name.
    for (size_t slot = 0; slot < attributes.size(); ++slot) observer._ivalue()->setSlot(slot, attributes[slot].value);
  } else {
    for (const auto& a : attributes) {
      observer.register_attribute(a.name, a.type, a.value, /*is_param=*/false, a.is_buffer);
    }
  }
  if (!reuse) observer.define(methods_source(config.kind), std::make_shared<TorchOpsResolver>());
  if (declared_elsewhere) {
    const auto& declared = owner.type()->getAttribute(*declared_slot);
    TORCH_CHECK(*declared == *observer.type(), "add_observer: the class ", owner.type()->name()->qualifiedName(),
                " of the owner is shared with another module that has \"", name, "\" of type ", declared->repr_str(),
                ", which a ", kind_name(config.kind),
                " cannot fill; use another name or give the owner its own class (Module::clone)");
  }
  // register_module by slot, without its scans of all of owner's attributes
  // by name (the flow adds thousands of observers to one module); the
  // callers made sure `name` is free.
  if (declared_elsewhere) {
    owner._ivalue()->setSlot(*declared_slot, observer._ivalue());
  } else {
    jit::append_attribute(owner, name, observer.type(), observer._ivalue());
  }
  return observer;
}

}  // namespace

torch::jit::Module add_observer(torch::jit::Module& owner, const std::string& name, const ObserverConfig& config) {
  validate(config);
  TORCH_CHECK(is_identifier(name), "add_observer: the observer name must be a Python identifier, got \"", name, "\"");
  // A class shared by several instances (TorchScript gives every scripted
  // instance of a Python class one type) may already declare `name` because
  // an observer was added to another instance; this instance's slot is empty.
  const auto declared_slot = owner.type()->findAttributeSlot(name);
  const bool declared_elsewhere = declared_slot && (*declared_slot >= owner._ivalue()->slots().size() ||
                                                    owner._ivalue()->getSlot(*declared_slot).isNone());
  TORCH_CHECK((!declared_slot && !owner.type()->hasConstant(name)) || declared_elsewhere, "add_observer: ",
              owner.type()->name()->qualifiedName(), " already has an attribute named \"", name, "\"");
  return register_observer(owner, name, config, declared_slot);
}

torch::jit::Module add_observer_with_new_name(torch::jit::Module& owner, const std::string& name,
                                              const ObserverConfig& config) {
  validate(config);
  TORCH_CHECK(is_identifier(name), "add_observer: the observer name must be a Python identifier, got \"", name, "\"");
  return register_observer(owner, name, config, c10::nullopt);
}

bool is_observer(const torch::jit::Module& module) {
  const auto& type = module.type();
  if (!type->name() || !type->findAttribute(kKindAttribute)) return false;
  // Loaded or mangled classes keep the prefix: "...observers.v1.___torch_mangle_3.MinMaxObserver".
  return type->name()->qualifiedName().rfind(observer_qualified_prefix(), 0) == 0;
}

ObserverConfig read_config(const torch::jit::Module& observer) {
  check_observer(observer, "read_config");
  ObserverConfig c = default_config(kind_from_name(attribute(observer, kKindAttribute).toStringRef()));
  c.dtype = static_cast<at::ScalarType>(attribute(observer, "dtype").toInt());
  c.qscheme = static_cast<c10::QScheme>(attribute(observer, "qscheme").toInt());
  c.is_dynamic = attribute(observer, "is_dynamic").toBool();
  if (is_uniform(c.kind)) {
    c.reduce_range = attribute(observer, "reduce_range").toBool();
    c.quant_min = read_optional_int(attribute(observer, "initial_quant_min"));
    c.quant_max = read_optional_int(attribute(observer, "initial_quant_max"));
    c.eps = scalar_value(attribute(observer, "eps").toTensor());
    if (is_moving_average_kind(c.kind)) c.averaging_constant = attribute(observer, "averaging_constant").toDouble();
    if (is_per_channel_kind(c.kind)) c.ch_axis = attribute(observer, "ch_axis").toInt();
    if (c.kind == ObserverKind::kHistogram) {
      c.bins = attribute(observer, "bins").toInt();
      c.upsample_rate = attribute(observer, "upsample_rate").toInt();
    }
  } else if (c.kind == ObserverKind::kPlaceholder) {
    c.quant_min = read_optional_int(attribute(observer, "quant_min"));
    c.quant_max = read_optional_int(attribute(observer, "quant_max"));
    c.eps = attribute(observer, "eps").toDouble();
    c.custom_op_name = attribute(observer, "custom_op").toStringRef();
    const auto compute_dtype = read_optional_int(attribute(observer, "compute_dtype"));
    if (compute_dtype) c.compute_dtype = static_cast<at::ScalarType>(*compute_dtype);
  } else {
    c.quant_min = attribute(observer, "quant_min").toInt();
    c.quant_max = attribute(observer, "quant_max").toInt();
    c.fixed_scale = scalar_value(attribute(observer, "scale").toTensor());
    c.fixed_zero_point = attribute(observer, "zero_point").toTensor().item<int64_t>();
  }
  return c;
}

std::tuple<at::Tensor, at::Tensor> calculate_qparams(const torch::jit::Module& observer) {
  check_observer(observer, "calculate_qparams");
  const c10::ClassType& type = *observer.type();
  const c10::ivalue::Object& object = *observer._ivalue();
  auto slot = [&](const char* name) -> const c10::IValue& { return object.getSlot(type.getAttributeSlot(name)); };
  auto spec = [&] {
    return qparams_spec(slot("quant_min").toInt(), slot("quant_max").toInt(),
                        static_cast<at::ScalarType>(slot("dtype").toInt()), slot("qscheme").toInt(),
                        slot("has_customized_qrange").toBool());
  };
  // What the calculate_qparams method (methods_source) computes: the same
  // function of the same attributes, without the interpreter and the
  // dispatcher in between.
  switch (kind_from_name(slot(kKindAttribute).toStringRef())) {
    case ObserverKind::kPlaceholder:
      TORCH_CHECK(false,
                  "calculate_qparams: a PlaceholderObserver has no quantization parameters (upstream raises too); "
                  "the flow quantizes its value dynamically or leaves it in floating point");
    case ObserverKind::kFixedQParams:
      return std::make_tuple(slot("scale").toTensor(), slot("zero_point").toTensor());
    case ObserverKind::kHistogram:
      return qparams_from_histogram(slot("histogram").toTensor(), slot("min_val").toTensor(),
                                    slot("max_val").toTensor(), slot("eps").toTensor(), slot("bins").toInt(), spec());
    case ObserverKind::kMinMax:
    case ObserverKind::kMovingAverageMinMax:
    case ObserverKind::kPerChannelMinMax:
    case ObserverKind::kMovingAveragePerChannelMinMax:
      break;
  }
  return qparams_from_min_max(slot("min_val").toTensor(), slot("max_val").toTensor(), slot("eps").toTensor(), spec());
}

bool has_qparams(const torch::jit::Module& observer) {
  check_observer(observer, "has_qparams");
  switch (kind_from_name(attribute(observer, kKindAttribute).toStringRef())) {
    case ObserverKind::kPlaceholder:
      return false;
    case ObserverKind::kFixedQParams:
      return true;
    case ObserverKind::kPerChannelMinMax:
    case ObserverKind::kMovingAveragePerChannelMinMax:
      return attribute(observer, "min_val").toTensor().numel() > 0;
    default: {
      const double inf = std::numeric_limits<double>::infinity();
      const at::Tensor min_val = attribute(observer, "min_val").toTensor();
      const at::Tensor max_val = attribute(observer, "max_val").toTensor();
      return min_val.numel() > 0 && !(min_val.item<double>() == inf && max_val.item<double>() == -inf);
    }
  }
}

c10::optional<std::pair<int64_t, int64_t>> observer_quant_range(const torch::jit::Module& observer) {
  return quant_range(read_config(observer));
}

}  // namespace observers
}  // namespace torch_pt2e
