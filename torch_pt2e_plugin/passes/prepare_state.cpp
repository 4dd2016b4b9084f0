#include "torch_pt2e_plugin/passes/prepare_state.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

namespace torch_pt2e {
namespace passes {

using nlohmann::json;

bool is_operator_node(const torch::jit::Node* node) {
  return node->kind().ns() != c10::namespaces::prim;
}

// The state as nlohmann::json builds and dumps it (objects' keys sorted).
std::string prepare_state_json_reference(const PrepareState& state) {
  json records = json::array();
  for (const auto& record : state.annotated) {
    json inputs = json::array();
    for (const auto& input : record.inputs) inputs.push_back({input.first, input.second});
    records.push_back({{"ordinal", record.ordinal},
                       {"kind", record.kind},
                       {"valid", record.valid},
                       {"inputs", inputs},
                       {"output", record.output}});
  }
  const json data = {{"version", 1}, {"is_qat", state.is_qat}, {"annotated", records}};
  return data.dump();
}

namespace {

// A kind json::dump writes as it is: printable ASCII without quote or backslash.
bool needs_no_escape(const std::string& text) {
  for (const char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

}  // namespace

std::string prepare_state_json(const PrepareState& state) {
  // The same text as prepare_state_json_reference, written directly: building the
  // JSON tree costs about 7 us per annotated node (0.3 s at 40k nodes).
  for (const auto& record : state.annotated) {
    if (!needs_no_escape(record.kind)) return prepare_state_json_reference(state);
  }
  std::string text = "{\"annotated\":[";
  text.reserve(text.size() + 96 * state.annotated.size() + 32);
  const char* separator = "";
  for (const auto& record : state.annotated) {
    text += separator;
    separator = ",";
    text += "{\"inputs\":[";
    for (size_t i = 0; i < record.inputs.size(); ++i) {
      if (i > 0) text += ',';
      text += '[';
      text += std::to_string(record.inputs[i].first);
      text += ',';
      text += std::to_string(record.inputs[i].second);
      text += ']';
    }
    text += "],\"kind\":\"";
    text += record.kind;
    text += "\",\"ordinal\":";
    text += std::to_string(record.ordinal);
    text += record.output ? ",\"output\":true" : ",\"output\":false";
    text += record.valid ? ",\"valid\":true}" : ",\"valid\":false}";
  }
  text += state.is_qat ? "],\"is_qat\":true,\"version\":1}" : "],\"is_qat\":false,\"version\":1}";
  return text;
}

void store_prepare_state(torch::jit::Module& module, const PrepareState& state) {
  std::string text = prepare_state_json(state);
  if (module.hasattr(kPrepareStateAttribute)) {
    module.setattr(kPrepareStateAttribute, std::move(text));
  } else {
    module.register_attribute(kPrepareStateAttribute, c10::StringType::get(), std::move(text));
  }
}

PrepareState parse_prepare_state_reference(const std::string& text) {
  const json data = json::parse(text);
  TORCH_CHECK(data.value("version", 0) == 1, "convert_pt2e: the module was prepared by an incompatible version "
                                            "of torch_pt2e (prepare state version ", data.value("version", 0), ")");
  PrepareState state;
  state.is_qat = data.value("is_qat", false);
  for (const json& entry : data.at("annotated")) {
    AnnotatedNodeRecord record;
    record.ordinal = entry.at("ordinal").get<int64_t>();
    record.kind = entry.at("kind").get<std::string>();
    record.valid = entry.value("valid", false);
    for (const json& input : entry.at("inputs")) record.inputs.emplace_back(input[0].get<int64_t>(), input[1].get<int64_t>());
    record.output = entry.value("output", false);
    state.annotated.push_back(std::move(record));
  }
  return state;
}

namespace {

// Reads exactly the text prepare_state_json writes (version 1), without
// building a JSON tree; anything else (another layout, an escape, another
// version) gives nullopt and goes to nlohmann::json.
class CompactStateReader {
 public:
  explicit CompactStateReader(const std::string& text) : p_(text.data()), end_(text.data() + text.size()) {}

  c10::optional<PrepareState> read() {
    PrepareState state;
    if (!literal("{\"annotated\":[")) return c10::nullopt;
    if (!literal("]")) {
      do {
        AnnotatedNodeRecord record;
        if (!read_record(record)) return c10::nullopt;
        state.annotated.push_back(std::move(record));
      } while (literal(","));
      if (!literal("]")) return c10::nullopt;
    }
    if (!literal(",\"is_qat\":") || !boolean(state.is_qat)) return c10::nullopt;
    if (!literal(",\"version\":1}") || p_ != end_) return c10::nullopt;
    return state;
  }

 private:
  bool read_record(AnnotatedNodeRecord& record) {
    if (!literal("{\"inputs\":[")) return false;
    if (!literal("]")) {
      do {
        int64_t index = 0, element = 0;
        if (!literal("[") || !integer(index) || !literal(",") || !integer(element) || !literal("]")) return false;
        record.inputs.emplace_back(index, element);
      } while (literal(","));
      if (!literal("]")) return false;
    }
    if (!literal(",\"kind\":\"")) return false;
    const char* kind_end = std::find(p_, end_, '"');
    if (kind_end == end_ || std::find(p_, kind_end, '\\') != kind_end) return false;
    record.kind.assign(p_, kind_end);
    p_ = kind_end + 1;
    return literal(",\"ordinal\":") && integer(record.ordinal) && literal(",\"output\":") &&
           boolean(record.output) && literal(",\"valid\":") && boolean(record.valid) && literal("}");
  }

  bool literal(const char* text) {
    const size_t n = std::strlen(text);
    if (static_cast<size_t>(end_ - p_) < n || std::memcmp(p_, text, n) != 0) return false;
    p_ += n;
    return true;
  }

  bool boolean(bool& value) {
    if (literal("true")) {
      value = true;
      return true;
    }
    if (literal("false")) {
      value = false;
      return true;
    }
    return false;
  }

  // A decimal integer in int64 range, as json::dump writes it.
  bool integer(int64_t& value) {
    const char* start = p_;
    const bool negative = p_ < end_ && *p_ == '-';
    if (negative) ++p_;
    uint64_t magnitude = 0;
    const char* digits = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      const uint64_t digit = static_cast<uint64_t>(*p_ - '0');
      if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
      magnitude = magnitude * 10 + digit;
      ++p_;
    }
    if (p_ == digits || (p_ - digits > 1 && *digits == '0')) {
      p_ = start;
      return false;
    }
    const uint64_t limit = negative ? uint64_t(std::numeric_limits<int64_t>::max()) + 1
                                    : uint64_t(std::numeric_limits<int64_t>::max());
    if (magnitude > limit) return false;
    value = negative ? static_cast<int64_t>(uint64_t(0) - magnitude) : static_cast<int64_t>(magnitude);
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

PrepareState parse_prepare_state(const std::string& text) {
  auto compact = CompactStateReader(text).read();
  if (compact) return std::move(*compact);
  return parse_prepare_state_reference(text);
}

c10::optional<PrepareState> load_prepare_state(const torch::jit::Module& module) {
  if (!module.hasattr(kPrepareStateAttribute)) return c10::nullopt;
  return parse_prepare_state(module.attr(kPrepareStateAttribute).toStringRef());
}

std::unordered_map<const torch::jit::Node*, AnnotatedNodeRecord> resolve_annotated_nodes(torch::jit::Graph& graph,
                                                                                     const PrepareState& state) {
  std::vector<torch::jit::Node*> operators;
  for (torch::jit::Node* node : graph.nodes()) {
    if (is_operator_node(node)) operators.push_back(node);
  }
  std::unordered_map<const torch::jit::Node*, AnnotatedNodeRecord> resolved;
  for (const auto& record : state.annotated) {
    TORCH_CHECK(record.ordinal >= 0 && record.ordinal < static_cast<int64_t>(operators.size()),
                "convert_pt2e: the prepared graph has changed since prepare_pt2e: operator #", record.ordinal, " (",
                record.kind, ") no longer exists (", operators.size(), " operators now)");
    torch::jit::Node* node = operators[record.ordinal];
    TORCH_CHECK(node->kind().toQualString() == record.kind,
                "convert_pt2e: the prepared graph has changed since prepare_pt2e: operator #", record.ordinal,
                " was ", record.kind, " and is now ", node->kind().toQualString());
    resolved[node] = record;
  }
  return resolved;
}

}  // namespace passes
}  // namespace torch_pt2e
