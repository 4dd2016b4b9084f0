// What convert needs from prepare (which nodes a quantizer annotated), kept
// inside the prepared module so it survives torch.jit.save / torch::jit::load.
//
// Annotated nodes are recorded by their ordinal among the graph's operator
// nodes (top-level nodes outside the prim:: namespace) together with their
// kind; saving and loading a module keeps operators and their order, and
// convert checks the kinds before trusting the record.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <c10/util/Optional.h>
#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace passes {

struct AnnotatedNodeRecord {
  int64_t ordinal = 0;
  std::string kind;
  // Upstream's "valid" annotation: non-empty input map or an output spec.
  bool valid = false;
  // Annotated input edges as (input index, element index within a list input or -1).
  std::vector<std::pair<int64_t, int64_t>> inputs;
  bool output = false;
};

struct PrepareState {
  bool is_qat = false;
  std::vector<AnnotatedNodeRecord> annotated;
};

constexpr const char* kPrepareStateAttribute = "_torch_pt2e_prepare_state";

bool is_operator_node(const torch::jit::Node* node);

void store_prepare_state(torch::jit::Module& module, const PrepareState& state);
// The attribute's text (version 1): a JSON object with "annotated" (records
// with "inputs", "kind", "ordinal", "output", "valid"), "is_qat" and
// "version", keys sorted, no spaces; prepare_state_json_reference builds the
// same text through nlohmann::json (tests compare the two).
std::string prepare_state_json(const PrepareState& state);
std::string prepare_state_json_reference(const PrepareState& state);
c10::optional<PrepareState> load_prepare_state(const torch::jit::Module& module);
// The state in a state attribute's text; parse_prepare_state_reference reads
// it through nlohmann::json only (tests compare the two).
PrepareState parse_prepare_state(const std::string& text);
PrepareState parse_prepare_state_reference(const std::string& text);

// Maps each record to its node in `graph`. Throws, naming the ordinal and
// both kinds, if the graph no longer has the operators prepare saw.
std::unordered_map<const torch::jit::Node*, AnnotatedNodeRecord> resolve_annotated_nodes(torch::jit::Graph& graph,
                                                                                     const PrepareState& state);

}  // namespace passes
}  // namespace torch_pt2e
