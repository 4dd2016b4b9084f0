#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

#include <mutex>

#include <c10/util/Exception.h>
#include <torch/version.h>

namespace torch_pt2e {
namespace quantizer {

std::string EdgeOrNode::describe() const {
  const std::string producer = value ? "%" + value->debugName() : std::string("<null>");
  if (!is_edge()) return "output " + producer;
  const std::string consumer_name =
      consumer->outputs().empty() ? consumer->kind().toQualString() : "%" + consumer->output(0)->debugName();
  return "edge " + producer + " -> " + consumer_name + " (" + consumer->kind().toQualString() + ")";
}

ObserverCtor ObserverCtor::with_args(const nlohmann::json& more) const {
  ObserverCtor result = *this;
  for (const auto& item : more.items()) result.kwargs[item.key()] = item.value();
  return result;
}

void QuantizationSpec::validate() const {
  if (quant_min && quant_max) {
    TORCH_CHECK(*quant_min <= *quant_max, "QuantizationSpec: quant_min must be <= quant_max, got quant_min=",
                *quant_min, " and quant_max=", *quant_max);
  }
  if (ch_axis) {
    TORCH_CHECK(*ch_axis >= 0, "QuantizationSpec: ch_axis must be >= 0, got ", *ch_axis);
  }
  TORCH_CHECK(!observer_or_fake_quant_ctr.name.empty(), "QuantizationSpec: observer_or_fake_quant_ctr is required");
}

namespace {

struct DeriveRegistry {
  std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<DeriveQParamsFn>> functions;
};

DeriveRegistry& derive_registry() {
  static DeriveRegistry* registry = new DeriveRegistry();
  return *registry;
}

}  // namespace

void register_derive_qparams_fn(const std::string& name, DeriveQParamsFn fn) {
  TORCH_CHECK(!name.empty(), "register_derive_qparams_fn: the name must not be empty");
  auto& registry = derive_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.functions[name] = std::make_shared<DeriveQParamsFn>(std::move(fn));
}

const DeriveQParamsFn* find_derive_qparams_fn(const std::string& name) {
  auto& registry = derive_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  const auto it = registry.functions.find(name);
  return it == registry.functions.end() ? nullptr : it->second.get();
}

void QuantizationAnnotation::set_input(torch::jit::Value* input, QuantizationSpecPtr spec) {
  for (auto& entry : input_qspec_map) {
    if (entry.first == input) {
      entry.second = std::move(spec);
      return;
    }
  }
  input_qspec_map.emplace_back(input, std::move(spec));
}

QuantizationSpecPtr QuantizationAnnotation::input_spec(torch::jit::Value* input) const {
  for (const auto& entry : input_qspec_map) {
    if (entry.first == input) return entry.second;
  }
  return nullptr;
}

const QuantizationAnnotation* AnnotationTable::find(const torch::jit::Node* node) const {
  const auto it = annotations_.find(node);
  return it == annotations_.end() ? nullptr : &it->second;
}

QuantizationAnnotation* AnnotationTable::find(const torch::jit::Node* node) {
  const auto it = annotations_.find(node);
  return it == annotations_.end() ? nullptr : &it->second;
}

namespace {

const std::vector<std::pair<std::string, at::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<std::string, at::ScalarType>> names = {
      {"uint8", at::kByte},          {"int8", at::kChar},         {"int16", at::kShort},
      {"int32", at::kInt},           {"int64", at::kLong},        {"float32", at::kFloat},
      {"float16", at::kHalf},        {"bfloat16", at::kBFloat16}, {"float64", at::kDouble},
      {"quint8", at::kQUInt8},       {"qint8", at::kQInt8},       {"qint32", at::kQInt32},
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
      {"uint16", at::ScalarType::UInt16},
#endif
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1) || TORCH_VERSION_MAJOR > 2
      {"float8_e4m3fn", at::ScalarType::Float8_e4m3fn}, {"float8_e5m2", at::ScalarType::Float8_e5m2},
#endif
  };
  return names;
}

const std::vector<std::pair<std::string, c10::QScheme>>& qscheme_names() {
  static const std::vector<std::pair<std::string, c10::QScheme>> names = {
      {"per_tensor_affine", c10::kPerTensorAffine},
      {"per_tensor_symmetric", c10::kPerTensorSymmetric},
      {"per_channel_affine", c10::kPerChannelAffine},
      {"per_channel_symmetric", c10::kPerChannelSymmetric},
      {"per_channel_affine_float_qparams", c10::kPerChannelAffineFloatQParams},
  };
  return names;
}

}  // namespace

std::string dtype_name(at::ScalarType dtype) {
  for (const auto& entry : dtype_names()) {
    if (entry.second == dtype) return entry.first;
  }
  TORCH_CHECK(false, "no quantization name for dtype ", dtype);
}

at::ScalarType parse_dtype(const std::string& name) {
  std::string key = name.rfind("torch.", 0) == 0 ? name.substr(6) : name;
  if (key == "float") key = "float32";
  if (key == "half") key = "float16";
  if (key == "double") key = "float64";
  for (const auto& entry : dtype_names()) {
    if (entry.first == key) return entry.second;
  }
  TORCH_CHECK(false, "unknown dtype '", name, "' (expected one of uint8, int8, uint16, int16, int32, quint8, qint8, ",
              "qint32, float32, float16, bfloat16, ...)");
}

std::string qscheme_name(c10::QScheme qscheme) {
  for (const auto& entry : qscheme_names()) {
    if (entry.second == qscheme) return entry.first;
  }
  TORCH_CHECK(false, "unknown qscheme ", static_cast<int>(qscheme));
}

c10::QScheme parse_qscheme(const std::string& name) {
  const std::string key = name.rfind("torch.", 0) == 0 ? name.substr(6) : name;
  for (const auto& entry : qscheme_names()) {
    if (entry.first == key) return entry.second;
  }
  TORCH_CHECK(false, "unknown qscheme '", name,
              "' (expected per_tensor_affine, per_tensor_symmetric, per_channel_affine, per_channel_symmetric or "
              "per_channel_affine_float_qparams)");
}

}  // namespace quantizer
}  // namespace torch_pt2e
