// Annotations as JSON, the form in which Python quantizers hand them to the
// C++ flow (and C++ quantizers hand them back to Python).
//
// Nodes are numbered by their position among the top-level nodes of the
// graph; values by Value::unique(). Format:
//   {"specs": [{"kind": "quantization", "dtype": "int8", "quant_min": -128, ...,
//               "observer": {"name": "HistogramObserver", "kwargs": {...}}},
//              {"kind": "shared", "edge": [value, node]} | {"kind": "shared", "output": value},
//              {"kind": "fixed", "dtype": ..., "scale": ..., "zero_point": ...},
//              {"kind": "derived", "derived_from": [{"edge": [v, n]}, {"output": v}], "fn": "name", ...}],
//    "annotations": [{"node": 12, "inputs": [[value, spec index or null], ...],
//                     "output": spec index or null, "allow_implicit_sharing": true, "annotated": true}],
//    "marked": [value, ...]}   (AnnotationTable::marked, optional)
#pragma once

#include <nlohmann/json.hpp>
#include <torch/csrc/jit/ir/ir.h>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace quantizer {

// `spec_order`, if given, receives the spec objects in the order of "specs".
nlohmann::json annotations_to_json(torch::jit::Graph& graph, const AnnotationTable& annotations,
                                   std::vector<const QuantizationSpecBase*>* spec_order = nullptr);

// Throws with the offending entry if a node index or value id does not exist
// in `graph`, or a spec is malformed.
AnnotationTable annotations_from_json(torch::jit::Graph& graph, const nlohmann::json& data);

nlohmann::json spec_to_json(torch::jit::Graph& graph, const QuantizationSpecBase& spec);

// The "quantization" spec alone (it refers to no graph), as in "specs" above.
nlohmann::json quantization_spec_to_json(const QuantizationSpec& spec);
std::shared_ptr<const QuantizationSpec> quantization_spec_from_json(const nlohmann::json& data);

}  // namespace quantizer
}  // namespace torch_pt2e
