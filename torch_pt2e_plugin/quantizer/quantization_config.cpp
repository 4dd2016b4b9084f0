#include "torch_pt2e_plugin/quantizer/quantization_config.h"

#include <map>
#include <mutex>
#include <tuple>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/quantizer/annotation_json.h"

namespace torch_pt2e {
namespace quantizer {
namespace {

using nlohmann::json;

constexpr double kEps = 1.0 / 4096.0;  // upstream's eps=2**-12

std::string describe(const QuantizationSpec& spec) { return quantization_spec_to_json(spec).dump(); }

void check_activation(const char* field, const QuantizationSpecCPtr& spec) {
  if (!spec) return;
  spec->validate();
  const bool per_tensor = spec->qscheme && (*spec->qscheme == c10::kPerTensorAffine ||
                                            *spec->qscheme == c10::kPerTensorSymmetric);
  TORCH_CHECK(per_tensor, "QuantizationConfig.", field,
              ": activations are quantized per tensor (qscheme per_tensor_affine or per_tensor_symmetric), got ",
              describe(*spec));
}

ObserverCtor ctor(const std::string& name, json kwargs) { return ObserverCtor{name, std::move(kwargs)}; }

json nested(const std::string& name, json kwargs = json::object()) {
  return json{{"name", name}, {"kwargs", std::move(kwargs)}};
}

QuantizationConfigPtr make_symmetric_config(bool is_per_channel, bool is_qat, bool is_dynamic, int64_t act_qmin,
                                            int64_t act_qmax, int64_t weight_qmin, int64_t weight_qmax) {
  auto act = std::make_shared<QuantizationSpec>();
  act->dtype = at::kChar;
  act->quant_min = act_qmin;
  act->quant_max = act_qmax;
  act->qscheme = c10::kPerTensorAffine;
  act->is_dynamic = is_dynamic;
  if (is_qat) {
    act->observer_or_fake_quant_ctr =
        is_dynamic ? ctor("FakeQuantize", {{"eps", kEps},
                                           {"observer", nested("MovingAverageMinMaxObserver",
                                                               {{"averaging_constant", 1}})}})
                   : ctor("FusedMovingAvgObsFakeQuantize", {{"eps", kEps}});
  } else {
    act->observer_or_fake_quant_ctr = ctor(is_dynamic ? "PlaceholderObserver" : "HistogramObserver", {{"eps", kEps}});
  }
  act->validate();

  auto weight = std::make_shared<QuantizationSpec>();
  weight->dtype = at::kChar;
  weight->quant_min = weight_qmin;
  weight->quant_max = weight_qmax;
  weight->qscheme = is_per_channel ? c10::kPerChannelSymmetric : c10::kPerTensorSymmetric;
  weight->ch_axis = 0;
  weight->is_dynamic = false;
  if (is_qat) {
    // Upstream's QAT weights keep FusedMovingAvgObsFakeQuantize for both
    // granularities and choose the observer inside it.
    weight->observer_or_fake_quant_ctr = ctor(
        "FusedMovingAvgObsFakeQuantize",
        {{"eps", kEps},
         {"observer", nested(is_per_channel ? "MovingAveragePerChannelMinMaxObserver" : "MovingAverageMinMaxObserver")}});
  } else {
    weight->observer_or_fake_quant_ctr =
        ctor(is_per_channel ? "PerChannelMinMaxObserver" : "MinMaxObserver", {{"eps", kEps}});
  }
  weight->validate();

  auto config = std::make_shared<QuantizationConfig>();
  config->input_activation = act;
  config->output_activation = is_dynamic ? nullptr : act;
  config->weight = weight;
  config->bias = nullptr;
  config->is_qat = is_qat;
  config->validate();
  return config;
}

json spec_or_null(const QuantizationSpecCPtr& spec) { return spec ? quantization_spec_to_json(*spec) : json(nullptr); }

QuantizationSpecCPtr spec_field(const json& data, const char* field) {
  if (!data.contains(field) || data[field].is_null()) return nullptr;
  try {
    return quantization_spec_from_json(data[field]);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "QuantizationConfig.", field, ": ", error.what_without_backtrace());
  } catch (const json::exception& error) {
    TORCH_CHECK(false, "QuantizationConfig.", field, ": malformed spec ", data[field].dump(), " (", error.what(), ")");
  }
}

}  // namespace

void QuantizationConfig::validate() const {
  check_activation("input_activation", input_activation);
  check_activation("output_activation", output_activation);
  if (weight) {
    weight->validate();
    const bool supported = !weight->qscheme || *weight->qscheme == c10::kPerTensorSymmetric ||
                           *weight->qscheme == c10::kPerChannelSymmetric;
    TORCH_CHECK(supported, "QuantizationConfig.weight: weights are quantized symmetrically (qscheme ",
                "per_tensor_symmetric, per_channel_symmetric or None), got ", describe(*weight));
  }
  if (bias) {
    bias->validate();
    TORCH_CHECK(bias->dtype == at::kFloat, "QuantizationConfig.bias: only a float32 bias spec is supported, got ",
                describe(*bias));
  }
}

QuantizationConfigPtr get_symmetric_quantization_config(bool is_per_channel, bool is_qat, bool is_dynamic,
                                                        int64_t act_qmin, int64_t act_qmax, int64_t weight_qmin,
                                                        int64_t weight_qmax) {
  using Key = std::tuple<bool, bool, bool, int64_t, int64_t, int64_t, int64_t>;
  static std::mutex mutex;
  static auto* cache = new std::map<Key, QuantizationConfigPtr>();
  const Key key{is_per_channel, is_qat, is_dynamic, act_qmin, act_qmax, weight_qmin, weight_qmax};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache->find(key);
  if (it == cache->end()) {
    it = cache->emplace(key, make_symmetric_config(is_per_channel, is_qat, is_dynamic, act_qmin, act_qmax, weight_qmin,
                                                   weight_qmax))
             .first;
  }
  return it->second;
}

json config_to_json(const QuantizationConfig& config) {
  return json{{"input_activation", spec_or_null(config.input_activation)},
              {"output_activation", spec_or_null(config.output_activation)},
              {"weight", spec_or_null(config.weight)},
              {"bias", spec_or_null(config.bias)},
              {"is_qat", config.is_qat}};
}

QuantizationConfigPtr config_from_json(const json& data) {
  TORCH_CHECK(data.is_object(), "QuantizationConfig: expected an object with input_activation, output_activation, ",
              "weight, bias and is_qat, got ", data.dump());
  auto config = std::make_shared<QuantizationConfig>();
  config->input_activation = spec_field(data, "input_activation");
  config->output_activation = spec_field(data, "output_activation");
  config->weight = spec_field(data, "weight");
  config->bias = spec_field(data, "bias");
  config->is_qat = data.value("is_qat", false);
  // The same spec in two fields stays one object, as in the config it came from.
  if (config->output_activation && config->input_activation &&
      data["output_activation"] == data["input_activation"]) {
    config->output_activation = config->input_activation;
  }
  config->validate();
  return config;
}

}  // namespace quantizer
}  // namespace torch_pt2e
