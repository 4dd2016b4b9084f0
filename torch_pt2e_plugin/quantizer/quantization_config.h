// QuantizationConfig (upstream's xnnpack_quantizer_utils.QuantizationConfig)
// and get_symmetric_quantization_config (xnnpack_quantizer.py), with their
// JSON form, the currency between the Python package and C++ quantizers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace quantizer {

using QuantizationSpecCPtr = std::shared_ptr<const QuantizationSpec>;

// Specs a pattern's annotations are built from; a null spec means "leave
// that edge or output unobserved". Annotations refer to these spec objects
// (so equal configs give shared specs, as upstream's lru_cache does).
struct QuantizationConfig {
  QuantizationSpecCPtr input_activation;
  QuantizationSpecCPtr output_activation;
  QuantizationSpecCPtr weight;
  QuantizationSpecCPtr bias;
  bool is_qat = false;

  // The checks of upstream's get_*_qspec helpers, with the field and value:
  // activations per-tensor (affine or symmetric), weight per_tensor_symmetric,
  // per_channel_symmetric or no qscheme, bias float32; each spec valid.
  void validate() const;
  bool is_dynamic() const { return input_activation && input_activation->is_dynamic; }
};
using QuantizationConfigPtr = std::shared_ptr<const QuantizationConfig>;

// Upstream's symmetric int8 config: activations int8 per-tensor affine
// [act_qmin, act_qmax] (HistogramObserver, PlaceholderObserver when dynamic,
// FusedMovingAvgObsFakeQuantize / FakeQuantize for QAT; eps 2^-12), weights
// int8 symmetric [weight_qmin, weight_qmax] per tensor or per output channel
// (MinMaxObserver / PerChannelMinMaxObserver, FusedMovingAvgObsFakeQuantize
// for QAT; eps 2^-12), no bias spec, no output spec when dynamic. Equal
// arguments return the same object.
QuantizationConfigPtr get_symmetric_quantization_config(bool is_per_channel = false, bool is_qat = false,
                                                        bool is_dynamic = false, int64_t act_qmin = -128,
                                                        int64_t act_qmax = 127, int64_t weight_qmin = -127,
                                                        int64_t weight_qmax = 127);

// {"input_activation": spec or null, "output_activation": ..., "weight": ...,
//  "bias": ..., "is_qat": false}, specs as quantization_spec_to_json.
nlohmann::json config_to_json(const QuantizationConfig& config);
// Throws naming the field if a spec is malformed or invalid for a config.
QuantizationConfigPtr config_from_json(const nlohmann::json& data);

}  // namespace quantizer
}  // namespace torch_pt2e
