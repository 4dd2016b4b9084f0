#include "torch_pt2e_plugin/quantizer/quantizer_ops.h"

#include <unordered_set>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/annotation_json.h"
#include "torch_pt2e_plugin/quantizer/embedding_quantizer.h"
#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer_utils.h"

namespace torch_pt2e {
namespace quantizer {
namespace {

using nlohmann::json;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

Module as_module(const char* op, const c10::IValue& value) {
  TORCH_CHECK(value.isObject() && value.toObject()->type()->is_module(), op,
              ": expected a TorchScript module (a ScriptModule's `_c`), got ", value.tagKind());
  return Module(value.toObject());
}

json parse_request(const char* op, const std::string& text) {
  try {
    json data = json::parse(text);
    TORCH_CHECK(data.is_object(), op, ": the request must be a JSON object, got ", text);
    return data;
  } catch (const json::parse_error& error) {
    TORCH_CHECK(false, op, ": the request is not JSON (", error.what(), ")");
  }
}

// {"allowed": [value ids] or null}: the values a Python filter_fn accepted.
NodeFilter allowed_filter(const json& request) {
  if (!request.contains("allowed") || request["allowed"].is_null()) return nullptr;
  auto allowed = std::make_shared<std::unordered_set<size_t>>();
  for (const json& id : request["allowed"]) allowed->insert(id.get<size_t>());
  return [allowed](Value* value) { return allowed->count(value->unique()) != 0; };
}

AnnotationTable current_annotations(torch::jit::Graph& graph, const json& request) {
  if (!request.contains("annotations") || request["annotations"].is_null()) return {};
  return annotations_from_json(graph, request["annotations"]);
}

bool same_entry(const QuantizationAnnotation& a, const QuantizationAnnotation& b) {
  return a.input_qspec_map == b.input_qspec_map && a.output_qspec == b.output_qspec &&
         a.allow_implicit_sharing == b.allow_implicit_sharing && a.annotated == b.annotated;
}

// Where a spec object comes from ("global/weight", ...): the Python side maps
// these back to its own spec objects.
using Origins = std::unordered_map<const QuantizationSpecBase*, std::string>;

void add_origins(Origins& origins, const std::string& prefix, const QuantizationConfigPtr& config) {
  if (!config) return;
  const std::pair<const char*, const QuantizationSpecCPtr*> fields[] = {
      {"input_activation", &config->input_activation}, {"output_activation", &config->output_activation},
      {"weight", &config->weight}, {"bias", &config->bias}};
  for (const auto& field : fields) {
    if (*field.second) origins.emplace(field.second->get(), prefix + "/" + field.first);
  }
}

// What `after` added to or changed in `before`, and the partitions.
std::string answer(torch::jit::Graph& graph, const AnnotationTable& before, const AnnotationTable& after,
                   const std::vector<Partition>& partitions, const Origins& origins = {}) {
  AnnotationTable changed;
  for (Node* node : graph.nodes()) {
    const auto* now = after.find(node);
    const auto* was = before.find(node);
    if (now && (!was || !same_entry(*now, *was))) changed.set(node, *now);
  }
  for (const Value* value : after.marked()) {
    if (!before.is_marked(value)) changed.mark(value);
  }
  std::vector<const QuantizationSpecBase*> order;
  json result = annotations_to_json(graph, changed, &order);
  json spec_origins = json::array();
  for (const auto* spec : order) {
    const auto it = origins.find(spec);
    spec_origins.push_back(it == origins.end() ? json(nullptr) : json(it->second));
  }
  result["origins"] = spec_origins;
  json list = json::array();
  for (const auto& partition : partitions) {
    json ids = json::array();
    for (Value* value : partition) ids.push_back(value->unique());
    list.push_back(ids);
  }
  result["partitions"] = list;
  return result.dump();
}

std::string xnnpack_annotate(const c10::IValue& module_value, const std::string& text) {
  constexpr const char* kOp = "torch_pt2e::xnnpack_annotate";
  Module module = as_module(kOp, module_value);
  const json request = parse_request(kOp, text);
  auto graph = module.get_method("forward").graph();
  const AnnotationTable before = current_annotations(*graph, request);
  AnnotationTable after = before;
  XNNPACKQuantizer quantizer = XNNPACKQuantizer::from_json(request.at("quantizer"));
  if (const NodeFilter filter = allowed_filter(request)) quantizer.set_filter_function(filter);
  quantizer.annotate(module, after);
  Origins origins;
  for (const auto& entry : quantizer.configs()) add_origins(origins, entry.first, entry.second);
  return answer(*graph, before, after, {}, origins);
}

std::string xnnpack_run_annotator(const c10::IValue& module_value, const std::string& text) {
  constexpr const char* kOp = "torch_pt2e::xnnpack_run_annotator";
  Module module = as_module(kOp, module_value);
  const json request = parse_request(kOp, text);
  auto graph = module.get_method("forward").graph();
  const Annotator& annotator = find_annotator(request.at("name").get<std::string>());
  const QuantizationConfigPtr config =
      request.contains("config") && !request["config"].is_null() ? config_from_json(request["config"]) : nullptr;
  const AnnotationTable before = current_annotations(*graph, request);
  AnnotationTable after = before;
  const auto partitions = annotator(module, after, config.get(), allowed_filter(request));
  Origins origins;
  add_origins(origins, "config", config);
  return answer(*graph, before, after, partitions, origins);
}

std::string xnnpack_propagate_annotation(const c10::IValue& module_value, const std::string& text) {
  constexpr const char* kOp = "torch_pt2e::xnnpack_propagate_annotation";
  Module module = as_module(kOp, module_value);
  const json request = parse_request(kOp, text);
  auto graph = module.get_method("forward").graph();
  const AnnotationTable before = current_annotations(*graph, request);
  AnnotationTable after = before;
  propagate_annotation(module, after);
  return answer(*graph, before, after, {});
}

std::string embedding_annotate(const c10::IValue& module_value, const std::string& text) {
  constexpr const char* kOp = "torch_pt2e::embedding_annotate";
  Module module = as_module(kOp, module_value);
  const json request = parse_request(kOp, text);
  auto graph = module.get_method("forward").graph();
  const AnnotationTable before = current_annotations(*graph, request);
  AnnotationTable after = before;
  EmbeddingQuantizer().annotate(module, after);
  return answer(*graph, before, after, {}, {{embedding_weight_spec().get(), "embedding/weight"}});
}

c10::IValue xnnpack_transform_for_annotation(const c10::IValue& module_value) {
  Module module = as_module("torch_pt2e::xnnpack_transform_for_annotation", module_value);
  return XNNPACKQuantizer().transform_for_annotation(module)._ivalue();
}

std::string xnnpack_symmetric_quantization_config(bool is_per_channel, bool is_qat, bool is_dynamic,
                                                  int64_t act_qmin, int64_t act_qmax, int64_t weight_qmin,
                                                  int64_t weight_qmax) {
  return config_to_json(*get_symmetric_quantization_config(is_per_channel, is_qat, is_dynamic, act_qmin, act_qmax,
                                                           weight_qmin, weight_qmax))
      .dump();
}

void validate_quantization_config(const std::string& text) {
  config_from_json(parse_request("torch_pt2e::validate_quantization_config", text));
}

void xnnpack_check_quantizer(const std::string& text) {
  XNNPACKQuantizer::from_json(parse_request("torch_pt2e::xnnpack_check_quantizer", text));
}

std::string embedding_weight_spec_json() { return quantization_spec_to_json(*embedding_weight_spec()).dump(); }

std::vector<std::string> xnnpack_annotator_names() { return annotator_names(); }

}  // namespace

ops::OpFamily quantizer_ops() {
  ops::OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "quantizer";
  family.schemas = {
      "xnnpack_annotate(Any module, str request) -> str",
      "xnnpack_run_annotator(Any module, str request) -> str",
      "xnnpack_propagate_annotation(Any module, str request) -> str",
      "xnnpack_transform_for_annotation(Any module) -> Any",
      "xnnpack_symmetric_quantization_config(bool is_per_channel=False, bool is_qat=False, bool is_dynamic=False, "
      "int act_qmin=-128, int act_qmax=127, int weight_qmin=-127, int weight_qmax=127) -> str",
      "xnnpack_annotator_names() -> str[]",
      "embedding_annotate(Any module, str request) -> str",
      "embedding_weight_spec() -> str",
      "validate_quantization_config(str config) -> ()",
      "xnnpack_check_quantizer(str quantizer) -> ()",
  };
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    auto impl = [&](const char* name, auto&& fn) {
      if (ops::defined_by_plugin(defined, name)) lib.impl(name, std::forward<decltype(fn)>(fn));
    };
    impl("xnnpack_annotate", TORCH_FN(xnnpack_annotate));
    impl("xnnpack_run_annotator", TORCH_FN(xnnpack_run_annotator));
    impl("xnnpack_propagate_annotation", TORCH_FN(xnnpack_propagate_annotation));
    impl("xnnpack_transform_for_annotation", TORCH_FN(xnnpack_transform_for_annotation));
    impl("xnnpack_symmetric_quantization_config", TORCH_FN(xnnpack_symmetric_quantization_config));
    impl("xnnpack_annotator_names", TORCH_FN(xnnpack_annotator_names));
    impl("embedding_annotate", TORCH_FN(embedding_annotate));
    impl("embedding_weight_spec", TORCH_FN(embedding_weight_spec_json));
    impl("validate_quantization_config", TORCH_FN(validate_quantization_config));
    impl("xnnpack_check_quantizer", TORCH_FN(xnnpack_check_quantizer));
  };
  return family;
}

}  // namespace quantizer
}  // namespace torch_pt2e
