// What an observer is: its kind and configuration, with upstream's defaults
// and validation (torch/ao/quantization/observer.py, torch 2.6), and the JSON
// form in which Python hands configurations to C++.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <c10/core/QScheme.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <nlohmann/json_fwd.hpp>

namespace torch_pt2e {
namespace observers {

// One per upstream observer class; the names are upstream's class names.
enum class ObserverKind {
  kMinMax,
  kMovingAverageMinMax,
  kPerChannelMinMax,
  kMovingAveragePerChannelMinMax,
  kHistogram,
  kPlaceholder,
  kFixedQParams,
};

// torch.finfo(torch.float32).eps, upstream's default eps.
constexpr double kFloat32Eps = 1.1920928955078125e-07;

// Constructor arguments of the upstream observer classes. Fields a kind does
// not take keep their defaults and are ignored.
struct ObserverConfig {
  ObserverKind kind = ObserverKind::kMinMax;
  // As the user gave it (torch.quint8 stays quint8); see integer_dtype().
  at::ScalarType dtype = at::kQUInt8;
  c10::QScheme qscheme = c10::kPerTensorAffine;
  // A customized range when both are set (and FixedQParams' range).
  c10::optional<int64_t> quant_min;
  c10::optional<int64_t> quant_max;
  bool reduce_range = false;
  double eps = kFloat32Eps;
  int64_t ch_axis = 0;
  double averaging_constant = 0.01;
  int64_t bins = 2048;
  int64_t upsample_rate = 16;
  bool is_dynamic = false;
  double fixed_scale = 0.0;
  int64_t fixed_zero_point = 0;
  // PlaceholderObserver only.
  std::string custom_op_name;
  c10::optional<at::ScalarType> compute_dtype;
};

// Upstream's constructor defaults for `kind` (FixedQParams has no default
// scale/zero point; its config is invalid until they are set).
ObserverConfig default_config(ObserverKind kind);

// Throws c10::Error, naming the field, the value and what was expected, for
// every configuration upstream's constructor rejects, and also for: a
// quant_min without quant_max (or the reverse), a range outside the dtype's
// bounds, non-finite or non-positive eps, bins/upsample_rate < 1, a
// FixedQParams scale that is not finite and > 0.
void validate(const ObserverConfig& config);

// "MinMaxObserver", ... and back (throws for an unknown name, listing the known ones).
const char* kind_name(ObserverKind kind);
ObserverKind kind_from_name(const std::string& name);

// "quint8", "per_tensor_affine", ... (torch's names without "torch.") and back;
// the parsers also accept the "torch." prefix.
std::string dtype_name(at::ScalarType dtype);
at::ScalarType dtype_from_name(const std::string& name);
std::string qscheme_name(c10::QScheme qscheme);
c10::QScheme qscheme_from_name(const std::string& name);

// The plain integer dtype quantize/dequantize use for a quantized dtype:
// quint8 -> uint8, qint8 -> int8, qint32 -> int32; other dtypes unchanged.
at::ScalarType integer_dtype(at::ScalarType dtype);

// The range the observer quantizes to: upstream's calculate_qmin_qmax (dtype
// defaults, customized range, reduce_range) for the min/max and histogram
// kinds, the given range for FixedQParams and Placeholder (nullopt for a
// Placeholder without one).
c10::optional<std::pair<int64_t, int64_t>> quant_range(const ObserverConfig& config);

// True when quant_min and quant_max are both given (upstream's has_customized_qrange).
bool has_customized_qrange(const ObserverConfig& config);

bool is_per_channel(c10::QScheme qscheme);

// JSON object with "kind" and the kind's constructor arguments under
// upstream's keyword names (dtype, qscheme, quant_min, quant_max,
// reduce_range, eps, ch_axis, averaging_constant, bins, upsample_rate,
// is_dynamic, scale, zero_point, custom_op_name, compute_dtype). Missing keys
// take the kind's defaults; keys the kind does not take are an error. The
// parsed config is validated.
std::string to_json_string(const ObserverConfig& config);
ObserverConfig config_from_json_string(const std::string& text);
void to_json(nlohmann::json& j, const ObserverConfig& config);
void from_json(const nlohmann::json& j, ObserverConfig& config);

bool operator==(const ObserverConfig& a, const ObserverConfig& b);
inline bool operator!=(const ObserverConfig& a, const ObserverConfig& b) { return !(a == b); }

}  // namespace observers
}  // namespace torch_pt2e
