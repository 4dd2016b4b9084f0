// passes/insert_observers: observer calls where annotations ask for them,
// one instance per sharing group, and the prepare state for convert.
#include <gtest/gtest.h>

#include <torch/csrc/jit/testing/file_check.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/insert_observers.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"

namespace t = torch_pt2e::testing;
using torch::jit::testing::FileCheck;

namespace {

TEST(InsertObservers, ConvInputsWeightBiasAndOutputAreObservedOnce) {
  at::manual_seed(0);
  torch::jit::Module model = t::conv_relu_module();
  torch::jit::Module module = torch_pt2e::passes::canonicalize_for_annotation(model);
  torch_pt2e::quantizer::AnnotationTable annotations;
  t::ConvQuantizer().annotate(module, annotations);
  const auto result = torch_pt2e::passes::insert_observers(module, annotations);
  EXPECT_EQ(result.observers, 4);
  EXPECT_EQ(result.observer_calls, 4);
  auto graph = module.get_method("forward").graph();
  // x -> obs -> conv; weight -> obs -> conv; conv -> obs -> relu
  FileCheck()
      .check_count("prim::CallMethod[name=\"forward\"]", 3)
      ->check("aten::conv2d")
      ->check("prim::CallMethod[name=\"forward\"]")
      ->check("aten::relu")
      ->run(*graph);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(module.hasattr("activation_post_process_" + std::to_string(i)));
  const auto state = torch_pt2e::passes::load_prepare_state(module);
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->annotated.size(), 1u);
  EXPECT_EQ(state->annotated[0].kind, "aten::conv2d");
  EXPECT_EQ(state->annotated[0].inputs.size(), 3u);
  EXPECT_TRUE(state->annotated[0].output);
  // Observers return their input: the prepared module computes what the model does.
  const at::Tensor x = at::randn({1, 3, 6, 6});
  EXPECT_TRUE(at::equal(module.forward({x}).toTensor(), model.forward({x}).toTensor()));
}

TEST(InsertObservers, ConsumerEdgeWithTheProducersObserverReusesIt) {
  torch::jit::Module model = t::conv_relu_module();
  torch::jit::Module module = torch_pt2e::passes::canonicalize_for_annotation(model);
  auto graph = module.get_method("forward").graph();
  torch_pt2e::quantizer::AnnotationTable annotations;
  t::ConvQuantizer().annotate(module, annotations);
  // relu's input edge with the same spec as the conv output: implicit sharing, no new call.
  for (torch::jit::Node* node : graph->nodes()) {
    if (node->kind() != c10::aten::relu) continue;
    torch_pt2e::quantizer::QuantizationAnnotation annotation;
    annotation.set_input(node->input(0),
                         t::make_spec(at::kByte, 0, 255, c10::kPerTensorAffine, "MinMaxObserver"));
    annotations.set(node, annotation);
  }
  const auto result = torch_pt2e::passes::insert_observers(module, annotations);
  EXPECT_EQ(result.observer_calls, 4);
}

}  // namespace
