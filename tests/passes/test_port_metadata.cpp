// passes/port_metadata: q/dq nodes of an annotated op carry its source range
// and inlined call stack (the module path the op came from).
#include <gtest/gtest.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace t = torch_pt2e::testing;

namespace {

TEST(PortMetadata, DequantizesOfConvInputsAndItsOutputQuantizeCarryTheConvsOrigin) {
  at::manual_seed(0);
  t::ConvQuantizer quantizer;
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(t::conv_relu_module(), quantizer);
  prepared.forward({at::randn({1, 3, 6, 6})});
  torch::jit::Module converted = torch_pt2e::convert_pt2e(prepared);
  auto graph = converted.get_method("forward").graph();
  torch::jit::Node* conv = nullptr;
  for (torch::jit::Node* n : graph->nodes()) {
    if (n->kind() == c10::aten::conv2d) conv = n;
  }
  ASSERT_NE(conv, nullptr);
  const auto conv_stack = torch_pt2e::passes::module_stack(conv);
  ASSERT_FALSE(conv_stack.empty());
  EXPECT_EQ(conv_stack.back().first, "conv");
  for (size_t i = 0; i < 2; ++i) {  // input and weight; the bias stays float32
    torch::jit::Node* dq = conv->input(i)->node();
    ASSERT_TRUE(torch_pt2e::passes::is_dequantize(dq)) << i;
    EXPECT_EQ(torch_pt2e::passes::module_stack(dq), conv_stack) << i;
    EXPECT_EQ(dq->sourceRange().str(), conv->sourceRange().str()) << i;
  }
  torch::jit::Node* output_q = conv->output()->uses().at(0).user;
  ASSERT_TRUE(torch_pt2e::passes::is_quantize(output_q));
  EXPECT_EQ(torch_pt2e::passes::module_stack(output_q), conv_stack);
}

}  // namespace
