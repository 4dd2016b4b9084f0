#include "torch_pt2e_plugin/observers/observer_config.h"

#include <cmath>
#include <set>
#include <sstream>
#include <vector>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "kernels/checks.h"

// at::kUInt16 exists in LibTorch 2.3 and later.
#define TORCH_PT2E_OBSERVERS_HAVE_UINT16 \
  ((TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2)

namespace torch_pt2e {
namespace observers {
namespace {

struct KindInfo {
  ObserverKind kind;
  const char* name;
  // Constructor arguments the kind takes (upstream's keyword names).
  std::vector<const char*> keys;
};

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> table = {
      {ObserverKind::kMinMax, "MinMaxObserver",
       {"dtype", "qscheme", "reduce_range", "quant_min", "quant_max", "eps", "is_dynamic"}},
      {ObserverKind::kMovingAverageMinMax, "MovingAverageMinMaxObserver",
       {"averaging_constant", "dtype", "qscheme", "reduce_range", "quant_min", "quant_max", "eps", "is_dynamic"}},
      {ObserverKind::kPerChannelMinMax, "PerChannelMinMaxObserver",
       {"ch_axis", "dtype", "qscheme", "reduce_range", "quant_min", "quant_max", "eps", "is_dynamic"}},
      {ObserverKind::kMovingAveragePerChannelMinMax, "MovingAveragePerChannelMinMaxObserver",
       {"averaging_constant", "ch_axis", "dtype", "qscheme", "reduce_range", "quant_min", "quant_max", "eps",
        "is_dynamic"}},
      {ObserverKind::kHistogram, "HistogramObserver",
       {"bins", "upsample_rate", "dtype", "qscheme", "reduce_range", "quant_min", "quant_max", "eps", "is_dynamic"}},
      {ObserverKind::kPlaceholder, "PlaceholderObserver",
       {"dtype", "custom_op_name", "compute_dtype", "quant_min", "quant_max", "qscheme", "eps", "is_dynamic"}},
      {ObserverKind::kFixedQParams, "FixedQParamsObserver",
       {"scale", "zero_point", "dtype", "qscheme", "quant_min", "quant_max", "is_dynamic"}},
  };
  return table;
}

const KindInfo& info(ObserverKind kind) {
  for (const auto& k : kinds()) {
    if (k.kind == kind) return k;
  }
  TORCH_CHECK(false, "unknown ObserverKind ", static_cast<int>(kind));
}

struct DtypeName {
  at::ScalarType dtype;
  const char* name;
};

const std::vector<DtypeName>& dtype_names() {
  static const std::vector<DtypeName> table = {
      {at::kQUInt8, "quint8"}, {at::kQInt8, "qint8"},     {at::kQInt32, "qint32"},
      {at::kByte, "uint8"},    {at::kChar, "int8"},       {at::kShort, "int16"},
      {at::kInt, "int32"},     {at::kFloat, "float32"},   {at::kHalf, "float16"},
      {at::kBFloat16, "bfloat16"},
#if TORCH_PT2E_OBSERVERS_HAVE_UINT16
      {at::kUInt16, "uint16"},
#endif
  };
  return table;
}

bool is_quantized_dtype(at::ScalarType dtype) {
  return dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16;
}

std::string join_names(const std::vector<std::string>& names) {
  std::ostringstream out;
  for (size_t i = 0; i < names.size(); ++i) out << (i ? ", " : "") << names[i];
  return out.str();
}

std::string quantized_dtype_list() {
  std::vector<std::string> names;
  for (const auto& d : dtype_names()) {
    if (is_quantized_dtype(d.dtype)) names.push_back(d.name);
  }
  return join_names(names);
}

const std::vector<std::pair<c10::QScheme, const char*>>& qscheme_names() {
  static const std::vector<std::pair<c10::QScheme, const char*>> table = {
      {c10::kPerTensorAffine, "per_tensor_affine"},
      {c10::kPerTensorSymmetric, "per_tensor_symmetric"},
      {c10::kPerChannelAffine, "per_channel_affine"},
      {c10::kPerChannelSymmetric, "per_channel_symmetric"},
      {c10::kPerChannelAffineFloatQParams, "per_channel_affine_float_qparams"},
  };
  return table;
}

std::string strip_torch_prefix(const std::string& name) {
  return name.rfind("torch.", 0) == 0 ? name.substr(6) : name;
}

bool is_symmetric(c10::QScheme q) { return q == c10::kPerTensorSymmetric || q == c10::kPerChannelSymmetric; }

// Python's floor division, as upstream's `quant_min // 2`.
int64_t floor_div2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

void validate_uniform(const ObserverConfig& c, const char* name) {
  const bool per_channel_kind =
      c.kind == ObserverKind::kPerChannelMinMax || c.kind == ObserverKind::kMovingAveragePerChannelMinMax;
  if (per_channel_kind) {
    TORCH_CHECK(is_per_channel(c.qscheme), name,
                ": qscheme must be per_channel_affine, per_channel_symmetric or per_channel_affine_float_qparams, "
                "got ",
                qscheme_name(c.qscheme));
  } else {
    TORCH_CHECK(!is_per_channel(c.qscheme), name,
                ": qscheme must be per_tensor_affine or per_tensor_symmetric, got ", qscheme_name(c.qscheme));
  }
  TORCH_CHECK(is_quantized_dtype(c.dtype), name, ": dtype must be one of ", quantized_dtype_list(), ", got ",
              dtype_name(c.dtype));
  TORCH_CHECK(std::isfinite(c.eps) && c.eps > 0.0, name, ": eps must be a finite number > 0, got ", c.eps);
  if (c.quant_min.has_value() != c.quant_max.has_value()) {
    TORCH_CHECK(false, name, ": quant_min and quant_max must be given together, got quant_min=",
                c.quant_min ? std::to_string(*c.quant_min) : "None",
                " and quant_max=", c.quant_max ? std::to_string(*c.quant_max) : "None");
  }
  if (has_customized_qrange(c)) {
    const int64_t qmin = *c.quant_min, qmax = *c.quant_max;
    TORCH_CHECK(qmin <= 0 && 0 <= qmax, name, ": a user-specified quantization range must include 0, got [", qmin,
                ", ", qmax, "]");
    TORCH_CHECK(qmin < qmax, name, ": quant_min must be strictly less than quant_max, got quant_min=", qmin,
                " and quant_max=", qmax);
    const auto base = integer_dtype(c.dtype);
    if (base == at::kChar) {
      TORCH_CHECK(qmax - qmin + 1 <= 256, name, ": the quantization range of ", dtype_name(c.dtype),
                  " must not exceed 256 values, got [", qmin, ", ", qmax, "]");
    }
    const auto bounds = kernels::quant_dtype_bounds(base);
    TORCH_CHECK(bounds && qmin >= bounds->min && qmax <= bounds->max, name, ": quant_min/quant_max must lie in [",
                bounds ? bounds->min : 0, ", ", bounds ? bounds->max : 0, "] for dtype ", dtype_name(c.dtype),
                ", got [", qmin, ", ", qmax, "]");
  }
  const bool rejects_symmetric_reduce = c.kind == ObserverKind::kMinMax ||
                                        c.kind == ObserverKind::kMovingAverageMinMax || per_channel_kind;
  TORCH_CHECK(!(rejects_symmetric_reduce && is_symmetric(c.qscheme) && c.reduce_range && c.dtype == at::kQUInt8),
              name, ": reduce_range is not supported for symmetric quantization with quint8 (as upstream)");
  switch (c.kind) {
    case ObserverKind::kMinMax:
      break;
    case ObserverKind::kMovingAverageMinMax:
      TORCH_CHECK(std::isfinite(c.averaging_constant), name, ": averaging_constant must be finite, got ",
                  c.averaging_constant);
      TORCH_CHECK(!c.is_dynamic || c.averaging_constant == 1.0, name,
                  ": is_dynamic=True needs averaging_constant == 1, got ", c.averaging_constant);
      break;
    case ObserverKind::kMovingAveragePerChannelMinMax:
      TORCH_CHECK(std::isfinite(c.averaging_constant), name, ": averaging_constant must be finite, got ",
                  c.averaging_constant);
      TORCH_CHECK(!c.is_dynamic, name, ": dynamic quantization (is_dynamic=True) is not supported");
      break;
    case ObserverKind::kPerChannelMinMax:
    case ObserverKind::kHistogram:
      TORCH_CHECK(!c.is_dynamic, name, ": dynamic quantization (is_dynamic=True) is not supported");
      break;
    default:
      break;
  }
  if (c.kind == ObserverKind::kHistogram) {
    TORCH_CHECK(c.bins >= 1, name, ": bins must be >= 1, got ", c.bins);
    TORCH_CHECK(c.upsample_rate >= 1, name, ": upsample_rate must be >= 1, got ", c.upsample_rate);
  }
}

void validate_placeholder(const ObserverConfig& c) {
  const char* name = "PlaceholderObserver";
  bool known = false;
  for (const auto& d : dtype_names()) known = known || d.dtype == c.dtype;
  TORCH_CHECK(known, name, ": dtype must be float32, float16, bfloat16 or one of ", quantized_dtype_list(), ", got ",
              dtype_name(c.dtype));
  TORCH_CHECK(std::isfinite(c.eps) && c.eps > 0.0, name, ": eps must be a finite number > 0, got ", c.eps);
  if (c.quant_min && c.quant_max) {
    TORCH_CHECK(*c.quant_min <= *c.quant_max, name, ": quant_min must be <= quant_max, got quant_min=", *c.quant_min,
                " and quant_max=", *c.quant_max);
  }
}

void validate_fixed(const ObserverConfig& c) {
  const char* name = "FixedQParamsObserver";
  TORCH_CHECK(!c.is_dynamic, name, ": dynamic quantization (is_dynamic=True) is not supported");
  TORCH_CHECK(is_quantized_dtype(c.dtype), name, ": dtype must be one of ", quantized_dtype_list(), ", got ",
              dtype_name(c.dtype));
  TORCH_CHECK(!is_per_channel(c.qscheme), name, ": qscheme must be per_tensor_affine or per_tensor_symmetric, got ",
              qscheme_name(c.qscheme));
  TORCH_CHECK(c.quant_min && c.quant_max, name, ": quant_min and quant_max are required");
  TORCH_CHECK(*c.quant_min <= *c.quant_max, name, ": quant_min must be <= quant_max, got quant_min=", *c.quant_min,
              " and quant_max=", *c.quant_max);
  TORCH_CHECK(std::isfinite(c.fixed_scale) && c.fixed_scale > 0.0, name, ": scale must be a finite number > 0, got ",
              c.fixed_scale);
  // zero_point is stored as int32, as upstream's buffer.
  TORCH_CHECK(c.fixed_zero_point >= INT32_MIN && c.fixed_zero_point <= INT32_MAX, name,
              ": zero_point must fit in int32, got ", c.fixed_zero_point);
}

// ---- JSON ------------------------------------------------------------------

int64_t json_int(const nlohmann::json& v, const char* kind, const char* key) {
  TORCH_CHECK(v.is_number_integer(), kind, ": \"", key, "\" must be an integer, got ", v.dump());
  return v.get<int64_t>();
}

double json_number(const nlohmann::json& v, const char* kind, const char* key) {
  TORCH_CHECK(v.is_number(), kind, ": \"", key, "\" must be a number, got ", v.dump());
  return v.get<double>();
}

bool json_bool(const nlohmann::json& v, const char* kind, const char* key) {
  TORCH_CHECK(v.is_boolean(), kind, ": \"", key, "\" must be true or false, got ", v.dump());
  return v.get<bool>();
}

c10::optional<int64_t> json_optional_int(const nlohmann::json& v, const char* kind, const char* key) {
  if (v.is_null()) return c10::nullopt;
  return json_int(v, kind, key);
}

std::string json_string(const nlohmann::json& v, const char* kind, const char* key) {
  TORCH_CHECK(v.is_string(), kind, ": \"", key, "\" must be a string, got ", v.dump());
  return v.get<std::string>();
}

nlohmann::json optional_json(const c10::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

ObserverConfig default_config(ObserverKind kind) {
  ObserverConfig c;
  c.kind = kind;
  switch (kind) {
    case ObserverKind::kPerChannelMinMax:
    case ObserverKind::kMovingAveragePerChannelMinMax:
      c.qscheme = c10::kPerChannelAffine;
      break;
    case ObserverKind::kPlaceholder:
      c.dtype = at::kFloat;
      break;
    case ObserverKind::kFixedQParams:
      c.quant_min = 0;
      c.quant_max = 255;
      break;
    default:
      break;
  }
  return c;
}

void validate(const ObserverConfig& config) {
  switch (config.kind) {
    case ObserverKind::kPlaceholder:
      validate_placeholder(config);
      return;
    case ObserverKind::kFixedQParams:
      validate_fixed(config);
      return;
    default:
      validate_uniform(config, kind_name(config.kind));
  }
}

const char* kind_name(ObserverKind kind) { return info(kind).name; }

ObserverKind kind_from_name(const std::string& name) {
  std::vector<std::string> known;
  for (const auto& k : kinds()) {
    if (name == k.name) return k.kind;
    known.push_back(k.name);
  }
  TORCH_CHECK(false, "unsupported observer kind \"", name, "\"; supported: ", join_names(known));
}

std::string dtype_name(at::ScalarType dtype) {
  for (const auto& d : dtype_names()) {
    if (d.dtype == dtype) return d.name;
  }
  return c10::toString(dtype);
}

at::ScalarType dtype_from_name(const std::string& name) {
  const std::string plain = strip_torch_prefix(name);
  std::vector<std::string> known;
  for (const auto& d : dtype_names()) {
    if (plain == d.name) return d.dtype;
    known.push_back(d.name);
  }
  TORCH_CHECK(false, "unsupported observer dtype \"", name, "\"; supported: ", join_names(known),
              TORCH_PT2E_OBSERVERS_HAVE_UINT16 ? "" : " (uint16 needs LibTorch 2.3 or later)");
}

std::string qscheme_name(c10::QScheme qscheme) {
  for (const auto& q : qscheme_names()) {
    if (q.first == qscheme) return q.second;
  }
  return "qscheme(" + std::to_string(static_cast<int>(qscheme)) + ")";
}

c10::QScheme qscheme_from_name(const std::string& name) {
  const std::string plain = strip_torch_prefix(name);
  std::vector<std::string> known;
  for (const auto& q : qscheme_names()) {
    if (plain == q.second) return q.first;
    known.push_back(q.second);
  }
  TORCH_CHECK(false, "unsupported qscheme \"", name, "\"; supported: ", join_names(known));
}

at::ScalarType integer_dtype(at::ScalarType dtype) {
  switch (dtype) {
    case at::kQUInt8:
      return at::kByte;
    case at::kQInt8:
      return at::kChar;
    case at::kQInt32:
      return at::kInt;
    default:
      return dtype;
  }
}

bool has_customized_qrange(const ObserverConfig& config) {
  return config.quant_min.has_value() && config.quant_max.has_value();
}

bool is_per_channel(c10::QScheme q) {
  return q == c10::kPerChannelAffine || q == c10::kPerChannelSymmetric || q == c10::kPerChannelAffineFloatQParams;
}

c10::optional<std::pair<int64_t, int64_t>> quant_range(const ObserverConfig& c) {
  if (c.kind == ObserverKind::kPlaceholder || c.kind == ObserverKind::kFixedQParams) {
    if (!has_customized_qrange(c)) return c10::nullopt;
    return std::make_pair(*c.quant_min, *c.quant_max);
  }
  if (has_customized_qrange(c)) {
    // Upstream halves a customized range too (floor division).
    if (c.reduce_range) return std::make_pair(floor_div2(*c.quant_min), floor_div2(*c.quant_max));
    return std::make_pair(*c.quant_min, *c.quant_max);
  }
  switch (integer_dtype(c.dtype)) {
    case at::kChar:
      return c.reduce_range ? std::make_pair<int64_t, int64_t>(-64, 63) : std::make_pair<int64_t, int64_t>(-128, 127);
    case at::kByte:
      return c.reduce_range ? std::make_pair<int64_t, int64_t>(0, 127) : std::make_pair<int64_t, int64_t>(0, 255);
    case at::kInt:
      return std::make_pair<int64_t, int64_t>(-(int64_t(1) << 31), (int64_t(1) << 31) - 1);
#if TORCH_PT2E_OBSERVERS_HAVE_UINT16
    case at::kUInt16:
      return std::make_pair<int64_t, int64_t>(0, 65535);
#endif
    case at::kShort:
      return std::make_pair<int64_t, int64_t>(-32768, 32767);
    default:
      return std::make_pair<int64_t, int64_t>(0, 15);
  }
}

void to_json(nlohmann::json& j, const ObserverConfig& c) {
  j = nlohmann::json::object();
  j["kind"] = kind_name(c.kind);
  for (const char* key : info(c.kind).keys) {
    const std::string k = key;
    if (k == "dtype") j[k] = dtype_name(c.dtype);
    else if (k == "qscheme") j[k] = qscheme_name(c.qscheme);
    else if (k == "quant_min") j[k] = optional_json(c.quant_min);
    else if (k == "quant_max") j[k] = optional_json(c.quant_max);
    else if (k == "reduce_range") j[k] = c.reduce_range;
    else if (k == "eps") j[k] = c.eps;
    else if (k == "ch_axis") j[k] = c.ch_axis;
    else if (k == "averaging_constant") j[k] = c.averaging_constant;
    else if (k == "bins") j[k] = c.bins;
    else if (k == "upsample_rate") j[k] = c.upsample_rate;
    else if (k == "is_dynamic") j[k] = c.is_dynamic;
    else if (k == "scale") j[k] = c.fixed_scale;
    else if (k == "zero_point") j[k] = c.fixed_zero_point;
    else if (k == "custom_op_name") j[k] = c.custom_op_name;
    else if (k == "compute_dtype") j[k] = c.compute_dtype ? nlohmann::json(dtype_name(*c.compute_dtype)) : nullptr;
  }
}

void from_json(const nlohmann::json& j, ObserverConfig& config) {
  TORCH_CHECK(j.is_object(), "an observer config must be a JSON object, got ", j.dump());
  TORCH_CHECK(j.contains("kind"), "an observer config needs a \"kind\" (e.g. \"MinMaxObserver\"), got ", j.dump());
  const ObserverKind kind = kind_from_name(json_string(j.at("kind"), "observer config", "kind"));
  const KindInfo& k = info(kind);
  ObserverConfig c = default_config(kind);
  const std::set<std::string> accepted(k.keys.begin(), k.keys.end());
  const bool fixed = kind == ObserverKind::kFixedQParams;
  bool has_scale = false, has_zero_point = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    if (key == "kind") continue;
    TORCH_CHECK(accepted.count(key), k.name, " does not take \"", key, "\"; it takes: ",
                join_names(std::vector<std::string>(k.keys.begin(), k.keys.end())));
    const char* name = k.name;
    if (key == "dtype") c.dtype = dtype_from_name(json_string(v, name, "dtype"));
    else if (key == "qscheme") c.qscheme = v.is_null() && kind == ObserverKind::kPlaceholder
                                               ? c10::kPerTensorAffine
                                               : qscheme_from_name(json_string(v, name, "qscheme"));
    else if (key == "quant_min") c.quant_min = json_optional_int(v, name, "quant_min");
    else if (key == "quant_max") c.quant_max = json_optional_int(v, name, "quant_max");
    else if (key == "reduce_range") c.reduce_range = json_bool(v, name, "reduce_range");
    else if (key == "eps") c.eps = v.is_null() && kind == ObserverKind::kPlaceholder ? kFloat32Eps
                                                                                    : json_number(v, name, "eps");
    else if (key == "ch_axis") c.ch_axis = json_int(v, name, "ch_axis");
    else if (key == "averaging_constant") c.averaging_constant = json_number(v, name, "averaging_constant");
    else if (key == "bins") c.bins = json_int(v, name, "bins");
    else if (key == "upsample_rate") c.upsample_rate = json_int(v, name, "upsample_rate");
    else if (key == "is_dynamic") c.is_dynamic = json_bool(v, name, "is_dynamic");
    else if (key == "scale") {
      c.fixed_scale = json_number(v, name, "scale");
      has_scale = true;
    } else if (key == "zero_point") {
      c.fixed_zero_point = json_int(v, name, "zero_point");
      has_zero_point = true;
    } else if (key == "custom_op_name") c.custom_op_name = json_string(v, name, "custom_op_name");
    else if (key == "compute_dtype") {
      c.compute_dtype = v.is_null() ? c10::nullopt
                                    : c10::optional<at::ScalarType>(dtype_from_name(json_string(v, name, "compute_dtype")));
    }
  }
  TORCH_CHECK(!fixed || (has_scale && has_zero_point),
              "FixedQParamsObserver needs \"scale\" and \"zero_point\" (upstream has no defaults for them)");
  validate(c);
  config = c;
}

std::string to_json_string(const ObserverConfig& config) {
  nlohmann::json j;
  to_json(j, config);
  return j.dump();
}

ObserverConfig config_from_json_string(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    TORCH_CHECK(false, "observer config is not valid JSON (", e.what(), "): ", text);
  }
  ObserverConfig c;
  from_json(j, c);
  return c;
}

bool operator==(const ObserverConfig& a, const ObserverConfig& b) {
  return a.kind == b.kind && a.dtype == b.dtype && a.qscheme == b.qscheme && a.quant_min == b.quant_min &&
         a.quant_max == b.quant_max && a.reduce_range == b.reduce_range && a.eps == b.eps &&
         a.ch_axis == b.ch_axis && a.averaging_constant == b.averaging_constant && a.bins == b.bins &&
         a.upsample_rate == b.upsample_rate && a.is_dynamic == b.is_dynamic && a.fixed_scale == b.fixed_scale &&
         a.fixed_zero_point == b.fixed_zero_point && a.custom_op_name == b.custom_op_name &&
         a.compute_dtype == b.compute_dtype;
}

}  // namespace observers
}  // namespace torch_pt2e
