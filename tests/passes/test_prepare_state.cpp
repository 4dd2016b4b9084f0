// passes/prepare_state: the state attribute's text is written directly; it
// must be the text nlohmann::json builds for the same state (models prepared
// by earlier versions and by this one are read by the same parser), and it
// must load back to the same records.
#include <gtest/gtest.h>

#include <torch/script.h>

#include "torch_pt2e_plugin/passes/prepare_state.h"

namespace p = torch_pt2e::passes;

namespace {

p::AnnotatedNodeRecord record(int64_t ordinal, std::string kind, bool valid,
                              std::vector<std::pair<int64_t, int64_t>> inputs, bool output) {
  p::AnnotatedNodeRecord r;
  r.ordinal = ordinal;
  r.kind = std::move(kind);
  r.valid = valid;
  r.inputs = std::move(inputs);
  r.output = output;
  return r;
}

std::vector<p::PrepareState> sample_states() {
  std::vector<p::PrepareState> states(4);
  states[1].is_qat = true;
  states[1].annotated.push_back(record(0, "aten::conv2d", true, {{0, -1}, {1, -1}, {2, -1}}, true));
  states[2].annotated.push_back(record(7, "aten::cat", false, {}, false));
  states[2].annotated.push_back(record(123456789012, "aten::cat", true, {{0, 0}, {0, 1}, {0, 35}}, true));
  states[2].annotated.push_back(record(-3, "my_ops::odd_kind_2", true, {{-1, -9223372036854775807}}, false));
  // Kinds the direct writer hands to nlohmann::json (escapes).
  states[3].annotated.push_back(record(1, "ns::quote\"d", true, {{0, -1}}, true));
  states[3].annotated.push_back(record(2, "ns::back\\slash\n\x01", false, {}, true));
  states[3].annotated.push_back(record(3, "ns::caf\xc3\xa9", true, {}, false));
  return states;
}

TEST(PrepareState, DirectTextIsNlohmannsText) {
  for (const auto& state : sample_states()) {
    EXPECT_EQ(p::prepare_state_json(state), p::prepare_state_json_reference(state));
  }
}

TEST(PrepareState, StoredStateLoadsBack) {
  for (const auto& state : sample_states()) {
    torch::jit::Module module("m");
    p::store_prepare_state(module, state);
    p::store_prepare_state(module, state);  // a second store replaces the first
    const auto loaded = p::load_prepare_state(module);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->is_qat, state.is_qat);
    ASSERT_EQ(loaded->annotated.size(), state.annotated.size());
    for (size_t i = 0; i < state.annotated.size(); ++i) {
      const auto& a = loaded->annotated[i];
      const auto& b = state.annotated[i];
      EXPECT_EQ(a.ordinal, b.ordinal);
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.valid, b.valid);
      EXPECT_EQ(a.inputs, b.inputs);
      EXPECT_EQ(a.output, b.output);
    }
  }
}

void expect_same_state(const p::PrepareState& a, const p::PrepareState& b) {
  EXPECT_EQ(a.is_qat, b.is_qat);
  ASSERT_EQ(a.annotated.size(), b.annotated.size());
  for (size_t i = 0; i < a.annotated.size(); ++i) {
    EXPECT_EQ(a.annotated[i].ordinal, b.annotated[i].ordinal);
    EXPECT_EQ(a.annotated[i].kind, b.annotated[i].kind);
    EXPECT_EQ(a.annotated[i].valid, b.annotated[i].valid);
    EXPECT_EQ(a.annotated[i].inputs, b.annotated[i].inputs);
    EXPECT_EQ(a.annotated[i].output, b.annotated[i].output);
  }
}

TEST(PrepareState, DirectReaderAgreesWithNlohmann) {
  for (const auto& state : sample_states()) {
    const std::string text = p::prepare_state_json(state);
    expect_same_state(p::parse_prepare_state(text), p::parse_prepare_state_reference(text));
  }
  // Texts the direct reader does not take (spaces, other key orders, absent
  // optional keys, leading zeros and out-of-range numbers) go to nlohmann::json.
  for (const std::string text : {
           std::string("{ \"annotated\": [], \"is_qat\": true, \"version\": 1 }"),
           std::string("{\"version\":1,\"is_qat\":false,\"annotated\":[{\"ordinal\":4,\"kind\":\"aten::add\","
                       "\"inputs\":[[1,-1]]}]}"),
           std::string("{\"annotated\":[{\"inputs\":[],\"kind\":\"aten::relu\",\"ordinal\":7,\"output\":true,"
                       "\"valid\":true}],\"is_qat\":false,\"version\":1}"),
           // (past int64: nlohmann::json reads a double and converts it)
           std::string("{\"annotated\":[{\"inputs\":[],\"kind\":\"k\",\"ordinal\":99999999999999999999,"
                       "\"output\":true,\"valid\":true}],\"is_qat\":false,\"version\":1}"),
       }) {
    expect_same_state(p::parse_prepare_state(text), p::parse_prepare_state_reference(text));
  }
  EXPECT_ANY_THROW(p::parse_prepare_state("{\"annotated\":[{\"inputs\":[],\"kind\":\"k\",\"ordinal\":07,"
                                          "\"output\":true,\"valid\":true}],\"is_qat\":false,\"version\":1}"));
}

TEST(PrepareState, OtherVersionsAreRefusedByName) {
  torch::jit::Module module("m");
  module.register_attribute(p::kPrepareStateAttribute, c10::StringType::get(),
                            std::string("{\"annotated\":[],\"is_qat\":false,\"version\":2}"));
  try {
    p::load_prepare_state(module);
    FAIL() << "a version 2 state loaded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("prepare state version 2"), std::string::npos) << e.what();
  }
}

}  // namespace
