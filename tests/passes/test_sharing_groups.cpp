// passes/sharing_groups: union-find over annotated edges and outputs.
#include <gtest/gtest.h>

#include <torch/csrc/jit/ir/irparser.h>

#include "torch_pt2e_plugin/passes/sharing_groups.h"

namespace q = torch_pt2e::quantizer;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

namespace {

std::shared_ptr<q::QuantizationSpec> uint8_spec() {
  auto spec = std::make_shared<q::QuantizationSpec>();
  spec->dtype = at::kByte;
  spec->quant_min = 0;
  spec->quant_max = 255;
  spec->qscheme = c10::kPerTensorAffine;
  spec->observer_or_fake_quant_ctr.name = "MinMaxObserver";
  return spec;
}

std::shared_ptr<q::SharedQuantizationSpec> shared(q::EdgeOrNode key) {
  auto spec = std::make_shared<q::SharedQuantizationSpec>();
  spec->edge_or_node = key;
  return spec;
}

// x1 -> add1 -> add3 ; x3 -> add2 -> add3 (upstream's ThreeAdd)
std::shared_ptr<Graph> three_add() {
  auto graph = std::make_shared<Graph>();
  torch::jit::parseIR(R"IR(
graph(%x1 : Tensor, %x2 : Tensor, %x3 : Tensor, %x4 : Tensor):
  %one : int = prim::Constant[value=1]()
  %y : Tensor = aten::add(%x1, %x2, %one)
  %z : Tensor = aten::add(%x3, %x4, %one)
  %w : Tensor = aten::add(%y, %z, %one)
  return (%w))IR",
                      graph.get());
  return graph;
}

std::vector<Node*> adds(Graph& graph) {
  std::vector<Node*> result;
  for (Node* n : graph.nodes()) {
    if (n->kind() == c10::aten::add) result.push_back(n);
  }
  return result;
}

// Each add: second input act spec, first input and output share with it.
q::AnnotationTable annotate_three_add(Graph& graph, bool allow_implicit_sharing) {
  q::AnnotationTable table;
  for (Node* add : adds(graph)) {
    q::QuantizationAnnotation annotation;
    annotation.set_input(add->input(1), uint8_spec());
    annotation.set_input(add->input(0), shared(q::EdgeOrNode::edge(add->input(1), add)));
    annotation.output_qspec = shared(q::EdgeOrNode::edge(add->input(1), add));
    annotation.allow_implicit_sharing = allow_implicit_sharing;
    table.set(add, annotation);
  }
  return table;
}

TEST(SharingGroups, NoImplicitSharingGivesOneGroupPerAdd) {
  auto graph = three_add();
  const auto groups = torch_pt2e::passes::compute_sharing_groups(*graph, annotate_three_add(*graph, false));
  EXPECT_EQ(groups.keys.size(), 9u);  // 3 adds x (2 inputs + output)
  EXPECT_EQ(groups.num_groups, 3);
  const auto add = adds(*graph);
  for (Node* n : add) {
    const int64_t g = groups.group_of(q::EdgeOrNode::output(n->output()));
    EXPECT_EQ(groups.group_of(q::EdgeOrNode::edge(n->input(0), n)), g);
    EXPECT_EQ(groups.group_of(q::EdgeOrNode::edge(n->input(1), n)), g);
  }
}

TEST(SharingGroups, ImplicitSharingJoinsProducerOutputAndConsumerEdge) {
  auto graph = three_add();
  const auto groups = torch_pt2e::passes::compute_sharing_groups(*graph, annotate_three_add(*graph, true));
  // add1's and add2's outputs feed add3's inputs with equal specs: one group.
  EXPECT_EQ(groups.num_groups, 1);
}

TEST(SharingGroups, DifferentSpecsDoNotShareImplicitly) {
  auto graph = three_add();
  q::AnnotationTable table;
  const auto add = adds(*graph);
  auto int8 = uint8_spec();
  auto other = std::make_shared<q::QuantizationSpec>(*int8);
  other->dtype = at::kChar;
  other->quant_min = -128;
  other->quant_max = 127;
  q::QuantizationAnnotation first;
  first.output_qspec = int8;
  table.set(add[0], first);
  q::QuantizationAnnotation last;
  last.set_input(add[2]->input(0), other);
  table.set(add[2], last);
  const auto groups = torch_pt2e::passes::compute_sharing_groups(*graph, table);
  EXPECT_EQ(groups.num_groups, 2);
}

TEST(SharingGroups, SharedSpecToUnannotatedKeyIsAClearError) {
  auto graph = three_add();
  q::AnnotationTable table;
  const auto add = adds(*graph);
  q::QuantizationAnnotation annotation;
  annotation.output_qspec = shared(q::EdgeOrNode::edge(add[0]->input(0), add[0]));
  table.set(add[0], annotation);
  try {
    torch_pt2e::passes::compute_sharing_groups(*graph, table);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no quantization annotation"), std::string::npos) << e.what();
  }
}

TEST(SharingGroups, LinearInTheNumberOfKeys) {
  // A chain of 20000 adds sharing with their producers builds and resolves quickly
  // (path compression; a quadratic implementation would take minutes).
  auto graph = std::make_shared<Graph>();
  Value* x = graph->addInput("x");
  x->setType(c10::TensorType::get());
  Value* one = graph->insertConstant(1);
  q::AnnotationTable table;
  Value* current = x;
  for (int i = 0; i < 20000; ++i) {
    Node* add = graph->insertNode(graph->create(c10::aten::add, {current, current, one}));
    add->output()->setType(c10::TensorType::get());
    q::QuantizationAnnotation annotation;
    annotation.set_input(current, uint8_spec());
    annotation.output_qspec = shared(q::EdgeOrNode::edge(current, add));
    table.set(add, annotation);
    current = add->output();
  }
  graph->registerOutput(current);
  const auto groups = torch_pt2e::passes::compute_sharing_groups(*graph, table);
  EXPECT_EQ(groups.num_groups, 1);
}

}  // namespace
