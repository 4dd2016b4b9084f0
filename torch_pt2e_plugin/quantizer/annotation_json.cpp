#include "torch_pt2e_plugin/quantizer/annotation_json.h"

#include <unordered_map>

#include <c10/util/Exception.h>

namespace torch_pt2e {
namespace quantizer {
namespace {

using nlohmann::json;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

struct GraphIndex {
  std::vector<Node*> nodes;
  std::unordered_map<const Node*, int64_t> node_index;
  std::unordered_map<size_t, Value*> values;

  explicit GraphIndex(Graph& graph) {
    for (Value* input : graph.inputs()) values[input->unique()] = input;
    for (Node* node : graph.nodes()) {
      node_index[node] = static_cast<int64_t>(nodes.size());
      nodes.push_back(node);
      for (Value* output : node->outputs()) values[output->unique()] = output;
    }
  }

  Node* node(const json& index) const {
    TORCH_CHECK(index.is_number_integer(), "annotations: a node index must be an integer, got ", index.dump());
    const int64_t i = index.get<int64_t>();
    TORCH_CHECK(i >= 0 && i < static_cast<int64_t>(nodes.size()), "annotations: node index ", i,
                " is out of range (the graph has ", nodes.size(), " top-level nodes)");
    return nodes[i];
  }

  Value* value(const json& id) const {
    TORCH_CHECK(id.is_number_integer(), "annotations: a value id must be an integer, got ", id.dump());
    const auto it = values.find(id.get<size_t>());
    TORCH_CHECK(it != values.end(), "annotations: no graph input or top-level node output has value id ", id.dump());
    return it->second;
  }

  int64_t index_of(const Node* n) const {
    const auto it = node_index.find(n);
    TORCH_CHECK(it != node_index.end(), "annotations: node ", n->kind().toQualString(),
                " is not a top-level node of the graph");
    return it->second;
  }
};

template <typename T>
json optional_json(const c10::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

c10::optional<int64_t> optional_int(const json& spec, const char* key) {
  if (!spec.contains(key) || spec[key].is_null()) return c10::nullopt;
  return spec[key].get<int64_t>();
}

c10::optional<c10::QScheme> optional_qscheme(const json& spec) {
  if (!spec.contains("qscheme") || spec["qscheme"].is_null()) return c10::nullopt;
  return parse_qscheme(spec["qscheme"].get<std::string>());
}

json edge_or_node_to_json(const GraphIndex& index, const EdgeOrNode& key) {
  if (key.is_edge()) return json{{"edge", {key.value->unique(), index.index_of(key.consumer)}}};
  return json{{"output", key.value->unique()}};
}

EdgeOrNode edge_or_node_from_json(const GraphIndex& index, const json& data) {
  if (data.contains("edge")) {
    const json& edge = data["edge"];
    TORCH_CHECK(edge.is_array() && edge.size() == 2, "annotations: an edge is [value id, node index], got ",
                edge.dump());
    return EdgeOrNode::edge(index.value(edge[0]), index.node(edge[1]));
  }
  TORCH_CHECK(data.contains("output"), "annotations: expected {\"edge\": [v, n]} or {\"output\": v}, got ",
              data.dump());
  return EdgeOrNode::output(index.value(data["output"]));
}

json spec_json(const GraphIndex& index, const QuantizationSpecBase& base) {
  switch (base.kind()) {
    case SpecKind::kQuantization:
      return quantization_spec_to_json(static_cast<const QuantizationSpec&>(base));
    case SpecKind::kFixedQParams: {
      const auto& spec = static_cast<const FixedQParamsQuantizationSpec&>(base);
      return json{{"kind", "fixed"},
                  {"dtype", dtype_name(spec.dtype)},
                  {"scale", spec.scale},
                  {"zero_point", spec.zero_point},
                  {"quant_min", optional_json(spec.quant_min)},
                  {"quant_max", optional_json(spec.quant_max)},
                  {"qscheme", spec.qscheme ? json(qscheme_name(*spec.qscheme)) : json(nullptr)},
                  {"is_dynamic", spec.is_dynamic}};
    }
    case SpecKind::kShared: {
      const auto& spec = static_cast<const SharedQuantizationSpec&>(base);
      json result = edge_or_node_to_json(index, spec.edge_or_node);
      result["kind"] = "shared";
      return result;
    }
    case SpecKind::kDerived: {
      const auto& spec = static_cast<const DerivedQuantizationSpec&>(base);
      json sources = json::array();
      for (const auto& key : spec.derived_from) sources.push_back(edge_or_node_to_json(index, key));
      return json{{"kind", "derived"},
                  {"derived_from", sources},
                  {"fn", spec.derive_qparams_fn},
                  {"dtype", dtype_name(spec.dtype)},
                  {"quant_min", optional_json(spec.quant_min)},
                  {"quant_max", optional_json(spec.quant_max)},
                  {"qscheme", spec.qscheme ? json(qscheme_name(*spec.qscheme)) : json(nullptr)},
                  {"ch_axis", optional_json(spec.ch_axis)},
                  {"is_dynamic", spec.is_dynamic}};
    }
  }
  TORCH_CHECK(false, "annotations: unknown spec kind");
}

QuantizationSpecPtr spec_from_json(const GraphIndex& index, const json& data) {
  TORCH_CHECK(data.is_object() && data.contains("kind"), "annotations: a spec needs a \"kind\", got ", data.dump());
  const std::string kind = data["kind"].get<std::string>();
  if (kind == "quantization") return quantization_spec_from_json(data);
  if (kind == "fixed") {
    auto spec = std::make_shared<FixedQParamsQuantizationSpec>();
    spec->dtype = parse_dtype(data.at("dtype").get<std::string>());
    spec->scale = data.at("scale").get<double>();
    spec->zero_point = data.at("zero_point").get<int64_t>();
    spec->quant_min = optional_int(data, "quant_min");
    spec->quant_max = optional_int(data, "quant_max");
    spec->qscheme = optional_qscheme(data);
    spec->is_dynamic = data.value("is_dynamic", false);
    return spec;
  }
  if (kind == "shared") {
    auto spec = std::make_shared<SharedQuantizationSpec>();
    spec->edge_or_node = edge_or_node_from_json(index, data);
    return spec;
  }
  if (kind == "derived") {
    auto spec = std::make_shared<DerivedQuantizationSpec>();
    for (const json& source : data.at("derived_from")) spec->derived_from.push_back(edge_or_node_from_json(index, source));
    spec->derive_qparams_fn = data.at("fn").get<std::string>();
    spec->dtype = parse_dtype(data.at("dtype").get<std::string>());
    spec->quant_min = optional_int(data, "quant_min");
    spec->quant_max = optional_int(data, "quant_max");
    spec->qscheme = optional_qscheme(data);
    spec->ch_axis = optional_int(data, "ch_axis");
    spec->is_dynamic = data.value("is_dynamic", false);
    return spec;
  }
  TORCH_CHECK(false, "annotations: unknown spec kind '", kind, "' (expected quantization, fixed, shared or derived)");
}

}  // namespace

json quantization_spec_to_json(const QuantizationSpec& spec) {
  return json{{"kind", "quantization"},
              {"dtype", dtype_name(spec.dtype)},
              {"quant_min", optional_json(spec.quant_min)},
              {"quant_max", optional_json(spec.quant_max)},
              {"qscheme", spec.qscheme ? json(qscheme_name(*spec.qscheme)) : json(nullptr)},
              {"ch_axis", optional_json(spec.ch_axis)},
              {"is_dynamic", spec.is_dynamic},
              {"observer", {{"name", spec.observer_or_fake_quant_ctr.name},
                            {"kwargs", spec.observer_or_fake_quant_ctr.kwargs}}}};
}

std::shared_ptr<const QuantizationSpec> quantization_spec_from_json(const json& data) {
  TORCH_CHECK(data.is_object() && data.value("kind", std::string()) == "quantization",
              "expected a quantization spec ({\"kind\": \"quantization\", ...}), got ", data.dump());
  auto spec = std::make_shared<QuantizationSpec>();
  spec->dtype = parse_dtype(data.at("dtype").get<std::string>());
  spec->quant_min = optional_int(data, "quant_min");
  spec->quant_max = optional_int(data, "quant_max");
  spec->qscheme = optional_qscheme(data);
  spec->ch_axis = optional_int(data, "ch_axis");
  spec->is_dynamic = data.value("is_dynamic", false);
  const json& observer = data.at("observer");
  spec->observer_or_fake_quant_ctr.name = observer.at("name").get<std::string>();
  if (observer.contains("kwargs")) spec->observer_or_fake_quant_ctr.kwargs = observer["kwargs"];
  spec->validate();
  return spec;
}

json spec_to_json(Graph& graph, const QuantizationSpecBase& spec) { return spec_json(GraphIndex(graph), spec); }

json annotations_to_json(Graph& graph, const AnnotationTable& annotations,
                         std::vector<const QuantizationSpecBase*>* spec_order) {
  const GraphIndex index(graph);
  json specs = json::array();
  std::unordered_map<const QuantizationSpecBase*, size_t> spec_ids;
  auto spec_id = [&](const QuantizationSpecPtr& spec) -> json {
    if (!spec) return nullptr;
    const auto it = spec_ids.find(spec.get());
    if (it != spec_ids.end()) return it->second;
    specs.push_back(spec_json(index, *spec));
    spec_ids[spec.get()] = specs.size() - 1;
    if (spec_order) spec_order->push_back(spec.get());
    return specs.size() - 1;
  };
  json entries = json::array();
  for (Node* node : index.nodes) {
    const QuantizationAnnotation* annotation = annotations.find(node);
    if (!annotation) continue;
    json inputs = json::array();
    for (const auto& entry : annotation->input_qspec_map) {
      inputs.push_back({entry.first->unique(), spec_id(entry.second)});
    }
    entries.push_back({{"node", index.index_of(node)},
                       {"inputs", inputs},
                       {"output", spec_id(annotation->output_qspec)},
                       {"allow_implicit_sharing", annotation->allow_implicit_sharing},
                       {"annotated", annotation->annotated}});
  }
  json marked = json::array();
  for (Value* input : graph.inputs()) {
    if (annotations.is_marked(input)) marked.push_back(input->unique());
  }
  for (Node* node : index.nodes) {
    for (Value* output : node->outputs()) {
      if (annotations.is_marked(output)) marked.push_back(output->unique());
    }
  }
  return json{{"specs", specs}, {"annotations", entries}, {"marked", marked}};
}

AnnotationTable annotations_from_json(Graph& graph, const json& data) {
  const GraphIndex index(graph);
  TORCH_CHECK(data.is_object() && data.contains("annotations"), "annotations: expected an object with "
                                                                 "\"annotations\" (and \"specs\")");
  std::vector<QuantizationSpecPtr> specs;
  if (data.contains("specs")) {
    for (const json& spec : data["specs"]) specs.push_back(spec_from_json(index, spec));
  }
  auto spec_at = [&](const json& id) -> QuantizationSpecPtr {
    if (id.is_null()) return nullptr;
    TORCH_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<size_t>() < specs.size(),
                "annotations: spec index ", id.dump(), " is out of range (", specs.size(), " specs)");
    return specs[id.get<size_t>()];
  };
  AnnotationTable table;
  for (const json& entry : data["annotations"]) {
    Node* node = index.node(entry.at("node"));
    TORCH_CHECK(!table.has(node), "annotations: node ", entry["node"].dump(), " (", node->kind().toQualString(),
                ") is annotated twice");
    QuantizationAnnotation annotation;
    for (const json& input : entry.value("inputs", json::array())) {
      TORCH_CHECK(input.is_array() && input.size() == 2, "annotations: an input is [value id, spec], got ",
                  input.dump());
      annotation.set_input(index.value(input[0]), spec_at(input[1]));
    }
    annotation.output_qspec = spec_at(entry.value("output", json(nullptr)));
    annotation.allow_implicit_sharing = entry.value("allow_implicit_sharing", true);
    annotation.annotated = entry.value("annotated", false);
    table.set(node, std::move(annotation));
  }
  for (const json& id : data.value("marked", json::array())) table.mark(index.value(id));
  return table;
}

}  // namespace quantizer
}  // namespace torch_pt2e
