// quantizer/annotation_json: annotations survive a JSON round trip, and bad
// JSON is rejected with the offending entry.
#include <gtest/gtest.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/quantizer/annotation_json.h"

namespace q = torch_pt2e::quantizer;
namespace t = torch_pt2e::testing;

namespace {

TEST(AnnotationJson, RoundTripKeepsEveryField) {
  torch::jit::Module module = torch_pt2e::passes::canonicalize_for_annotation(t::conv_relu_module());
  auto graph = module.get_method("forward").graph();
  q::AnnotationTable table;
  t::ConvQuantizer().annotate(module, table);
  torch::jit::Node* conv = nullptr;
  for (torch::jit::Node* n : graph->nodes()) {
    if (n->kind() == c10::aten::conv2d) conv = n;
  }
  auto shared = std::make_shared<q::SharedQuantizationSpec>();
  shared->edge_or_node = q::EdgeOrNode::edge(conv->input(0), conv);
  table.at(conv).output_qspec = shared;
  table.at(conv).allow_implicit_sharing = false;

  const nlohmann::json data = q::annotations_to_json(*graph, table);
  const q::AnnotationTable back = q::annotations_from_json(*graph, data);
  ASSERT_EQ(back.size(), 1u);
  const q::QuantizationAnnotation* annotation = back.find(conv);
  ASSERT_NE(annotation, nullptr);
  EXPECT_FALSE(annotation->allow_implicit_sharing);
  EXPECT_TRUE(annotation->annotated);
  ASSERT_EQ(annotation->input_qspec_map.size(), 3u);
  const auto& weight = static_cast<const q::QuantizationSpec&>(*annotation->input_spec(conv->input(1)));
  EXPECT_EQ(weight.dtype, at::kChar);
  EXPECT_EQ(*weight.quant_min, -128);
  EXPECT_EQ(*weight.qscheme, c10::kPerTensorSymmetric);
  EXPECT_EQ(weight.observer_or_fake_quant_ctr.name, "MinMaxObserver");
  ASSERT_EQ(annotation->output_qspec->kind(), q::SpecKind::kShared);
  EXPECT_TRUE(static_cast<const q::SharedQuantizationSpec&>(*annotation->output_qspec).edge_or_node ==
              q::EdgeOrNode::edge(conv->input(0), conv));
  EXPECT_EQ(q::annotations_to_json(*graph, back), data);
}

TEST(AnnotationJson, RejectsUnknownNodesValuesAndSpecs) {
  torch::jit::Module module = torch_pt2e::passes::canonicalize_for_annotation(t::conv_relu_module());
  auto graph = module.get_method("forward").graph();
  auto message = [&](const std::string& text) {
    try {
      q::annotations_from_json(*graph, nlohmann::json::parse(text));
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(R"({"annotations": [{"node": 999}]})").find("node index 999 is out of range"), std::string::npos);
  EXPECT_NE(message(R"({"annotations": [{"node": 0, "inputs": [[123456, null]]}]})").find("value id 123456"),
            std::string::npos);
  EXPECT_NE(message(R"({"specs": [{"kind": "magic"}], "annotations": []})").find("unknown spec kind 'magic'"),
            std::string::npos);
  EXPECT_NE(message(R"({"specs": [{"kind": "quantization", "dtype": "int8", "quant_min": 5, "quant_max": 1,
                       "observer": {"name": "MinMaxObserver"}}], "annotations": []})")
                .find("quant_min must be <= quant_max"),
            std::string::npos);
}

}  // namespace
