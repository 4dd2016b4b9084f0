#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"

#include <algorithm>
#include <set>
#include <sstream>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/quantizer/convert_scalars_to_attrs.h"

namespace torch_pt2e {
namespace quantizer {
namespace {

using nlohmann::json;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

// "aten::conv2d" names every overload of the kind; "aten::conv2d.default"
// the unnamed overload; "aten::add.Tensor" one overload.
bool operator_matches(const std::string& key, const std::string& schema) {
  const auto dot = key.find('.');
  if (dot == std::string::npos) return schema == key || schema.rfind(key + ".", 0) == 0;
  if (key.compare(dot, std::string::npos, ".default") == 0) return schema == key.substr(0, dot);
  return schema == key;
}

bool pattern_has_operator(const std::string& pattern, const std::string& key) {
  const auto& ops = pattern_operators(pattern);
  return std::any_of(ops.begin(), ops.end(), [&](const std::string& op) { return operator_matches(key, op); });
}

// TorchScript class names without the __torch__ prefix and the
// ___torch_mangle_N parts TorchScript adds to tell same-named classes apart.
std::string normalize_type_name(const std::string& name) {
  std::stringstream parts(name);
  std::string part;
  std::string result;
  bool first = true;
  while (std::getline(parts, part, '.')) {
    if (first && part == "__torch__") {
      first = false;
      continue;
    }
    first = false;
    if (part.rfind("___torch_mangle_", 0) == 0) continue;
    result += (result.empty() ? "" : ".") + part;
  }
  return result;
}

NodeFilter module_name_filter(const std::string& name) {
  return [name](Value* value) {
    for (const auto& entry : passes::module_stack(value->node())) {
      if (entry.first == name) return true;
    }
    return false;
  };
}

NodeFilter module_type_filter(const std::string& type) {
  const std::string wanted = normalize_type_name(type);
  return [wanted](Value* value) {
    for (const auto& entry : passes::module_stack(value->node())) {
      if (normalize_type_name(entry.second) == wanted) return true;
    }
    return false;
  };
}

NodeFilter both(NodeFilter a, NodeFilter b) {
  if (!a) return b;
  if (!b) return a;
  return [a, b](Value* value) { return a(value) && b(value); };
}

// The module paths a name may refer to: submodules that still exist after
// canonicalization and every module a node was inlined from.
std::set<std::string> known_module_names(const Module& module) {
  std::set<std::string> names;
  for (const auto& child : module.named_modules()) {
    if (!child.name.empty()) names.insert(child.name);
  }
  for (Node* node : module.get_method("forward").graph()->nodes()) {
    for (const auto& entry : passes::module_stack(node)) names.insert(entry.first);
  }
  return names;
}

template <typename Entries>
void set_entry(Entries& entries, const std::string& key, QuantizationConfigPtr config) {
  if (config) config->validate();
  for (auto& entry : entries) {
    if (entry.first == key) {
      entry.second = std::move(config);
      return;
    }
  }
  entries.emplace_back(key, std::move(config));
}

json config_or_null(const QuantizationConfigPtr& config) { return config ? config_to_json(*config) : json(nullptr); }

QuantizationConfigPtr config_or_null(const json& data) { return data.is_null() ? nullptr : config_from_json(data); }

}  // namespace

const std::vector<XNNPACKQuantizer::Pattern>& XNNPACKQuantizer::supported_patterns() {
  static const std::vector<Pattern> patterns = {
      {"conv_bn_relu", false, true},
      {"conv_bn", false, true},
      {"conv_transpose_bn_relu", false, true},
      {"conv_transpose_bn", false, true},
      {"linear_relu", false, false},
      {"linear", true, false},
      {"conv", true, false},
      {"conv_transpose", true, false},
      {"conv_relu", false, false},
      {"conv_transpose_relu", false, false},
      {"adaptive_avg_pool2d", false, false},
      {"add_relu", false, false},
      {"add", false, false},
      {"mul_relu", false, false},
      {"mul", false, false},
      {"cat", false, false},
  };
  return patterns;
}

XNNPACKQuantizer& XNNPACKQuantizer::set_global(QuantizationConfigPtr config) {
  if (config) config->validate();
  global_config_ = std::move(config);
  return *this;
}

XNNPACKQuantizer& XNNPACKQuantizer::set_operator_type(const std::string& op, QuantizationConfigPtr config) {
  const auto& patterns = supported_patterns();
  const bool supported = std::any_of(patterns.begin(), patterns.end(),
                                     [&](const Pattern& pattern) { return pattern_has_operator(pattern.name, op); });
  if (!supported) {
    std::set<std::string> known;
    for (const auto& pattern : patterns) {
      for (const auto& name : pattern_operators(pattern.name)) known.insert(name);
    }
    std::string list;
    for (const auto& name : known) list += (list.empty() ? "" : ", ") + name;
    TORCH_CHECK(false, "XNNPACKQuantizer.set_operator_type: no XNNPACK pattern annotates ", op,
                " (operators with patterns: ", list, ")");
  }
  set_entry(operator_type_config_, op, std::move(config));
  return *this;
}

XNNPACKQuantizer& XNNPACKQuantizer::set_module_type(const std::string& type, QuantizationConfigPtr config) {
  TORCH_CHECK(!normalize_type_name(type).empty(), "XNNPACKQuantizer.set_module_type: empty module type name");
  set_entry(module_type_config_, type, std::move(config));
  return *this;
}

XNNPACKQuantizer& XNNPACKQuantizer::set_module_name(const std::string& name, QuantizationConfigPtr config) {
  TORCH_CHECK(config != nullptr, "XNNPACKQuantizer.set_module_name('", name,
              "', None): a None quantization_config is not supported (as upstream)");
  set_entry(module_name_config_, name, std::move(config));
  return *this;
}

XNNPACKQuantizer& XNNPACKQuantizer::set_filter_function(NodeFilter filter) {
  filter_ = std::move(filter);
  return *this;
}

torch::jit::Module XNNPACKQuantizer::transform_for_annotation(torch::jit::Module module) {
  convert_scalars_to_attrs(module);
  return module;
}

void XNNPACKQuantizer::annotate_all_patterns(Module& module, AnnotationTable& annotations,
                                             const QuantizationConfigPtr& config, const NodeFilter& filter,
                                             const std::string* operator_type) const {
  if (!config) return;
  const NodeFilter combined = both(filter_, filter);
  for (const auto& pattern : supported_patterns()) {
    if (operator_type && !pattern_has_operator(pattern.name, *operator_type)) continue;
    const bool run = (config->is_dynamic() && pattern.is_dynamic) || (config->is_qat && pattern.is_qat) ||
                     !config->is_dynamic();
    if (!run) continue;
    NodeFilter pattern_filter = combined;
    if (operator_type) {
      // Within the pattern, only nodes of the configured operator (ExecuTorch
      // runs the whole pattern, e.g. conv1d nodes under a conv2d config).
      const auto& ops = pattern_operators(pattern.name);
      const std::string key = *operator_type;
      pattern_filter = both(combined, [ops, key](Value* value) {
        const std::string schema = passes::schema_name(value->node());
        if (std::find(ops.begin(), ops.end(), schema) == ops.end()) return true;
        return operator_matches(key, schema);
      });
    }
    find_annotator(pattern.name)(module, annotations, config.get(), pattern_filter);
  }
}

void XNNPACKQuantizer::annotate(Module& module, AnnotationTable& annotations) {
  if (!module_name_config_.empty()) {
    const auto known = known_module_names(module);
    for (const auto& entry : module_name_config_) {
      if (known.count(entry.first)) continue;
      std::string list;
      size_t shown = 0;
      for (const auto& name : known) {
        if (shown++ == 20) {
          list += ", ...";
          break;
        }
        list += (list.empty() ? "" : ", ") + name;
      }
      TORCH_CHECK(false, "XNNPACKQuantizer.set_module_name: the model has no submodule '", entry.first,
                  "' (submodules: ", list.empty() ? std::string("none") : list, ")");
    }
  }
  const NodeIndexScope node_index(*module.get_method("forward").graph());
  std::vector<NodeFilter> module_filters;
  for (const auto& entry : module_name_config_) {
    const NodeFilter filter = module_name_filter(entry.first);
    module_filters.push_back(filter);
    annotate_all_patterns(module, annotations, entry.second, filter, nullptr);
  }
  for (const auto& entry : module_type_config_) {
    const NodeFilter filter = module_type_filter(entry.first);
    module_filters.push_back(filter);
    annotate_all_patterns(module, annotations, entry.second, filter, nullptr);
  }
  const NodeFilter outside_modules = [module_filters](Value* value) {
    return std::none_of(module_filters.begin(), module_filters.end(),
                        [&](const NodeFilter& filter) { return filter(value); });
  };
  for (const auto& entry : operator_type_config_) {
    annotate_all_patterns(module, annotations, entry.second, outside_modules, &entry.first);
  }
  annotate_all_patterns(module, annotations, global_config_, outside_modules, nullptr);
  propagate_annotation(module, annotations);
}

json XNNPACKQuantizer::to_json() const {
  auto entries = [](const std::vector<std::pair<std::string, QuantizationConfigPtr>>& list) {
    json result = json::array();
    for (const auto& entry : list) result.push_back({entry.first, config_or_null(entry.second)});
    return result;
  };
  return json{{"global", config_or_null(global_config_)},
              {"operator_type", entries(operator_type_config_)},
              {"module_type", entries(module_type_config_)},
              {"module_name", entries(module_name_config_)}};
}

std::vector<std::pair<std::string, QuantizationConfigPtr>> XNNPACKQuantizer::configs() const {
  std::vector<std::pair<std::string, QuantizationConfigPtr>> result = {{"global", global_config_}};
  auto add = [&](const char* kind, const std::vector<std::pair<std::string, QuantizationConfigPtr>>& list) {
    for (size_t i = 0; i < list.size(); ++i) result.emplace_back(std::string(kind) + "/" + std::to_string(i), list[i].second);
  };
  add("operator_type", operator_type_config_);
  add("module_type", module_type_config_);
  add("module_name", module_name_config_);
  return result;
}

XNNPACKQuantizer XNNPACKQuantizer::from_json(const json& data) {
  TORCH_CHECK(data.is_object(), "XNNPACKQuantizer: expected an object with global, operator_type, module_type and ",
              "module_name, got ", data.dump());
  XNNPACKQuantizer quantizer;
  if (data.contains("global")) quantizer.set_global(config_or_null(data["global"]));
  auto pairs = [&](const char* key) {
    std::vector<std::pair<std::string, QuantizationConfigPtr>> result;
    for (const json& entry : data.value(key, json::array())) {
      TORCH_CHECK(entry.is_array() && entry.size() == 2 && entry[0].is_string(), "XNNPACKQuantizer: ", key,
                  " entries are [name, config], got ", entry.dump());
      result.emplace_back(entry[0].get<std::string>(), config_or_null(entry[1]));
    }
    return result;
  };
  for (auto& entry : pairs("operator_type")) quantizer.set_operator_type(entry.first, entry.second);
  for (auto& entry : pairs("module_type")) quantizer.set_module_type(entry.first, entry.second);
  for (auto& entry : pairs("module_name")) quantizer.set_module_name(entry.first, entry.second);
  return quantizer;
}

}  // namespace quantizer
}  // namespace torch_pt2e
