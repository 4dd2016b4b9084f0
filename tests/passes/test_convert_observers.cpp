// passes/convert_observers (+ duplicate_dequantize, port_metadata,
// fold_quantize): observers become quantize/dequantize pairs with the
// observers' qparams; folding stores int8 weights.
#include <gtest/gtest.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

#include <torch/csrc/jit/testing/file_check.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/observers/observer.h"
#include "torch_pt2e_plugin/passes/canonicalize.h"
#include "torch_pt2e_plugin/passes/convert_observers.h"
#include "torch_pt2e_plugin/passes/fold_quantize.h"
#include "torch_pt2e_plugin/passes/insert_observers.h"

namespace t = torch_pt2e::testing;
using torch::jit::testing::FileCheck;

namespace {

torch::jit::Module calibrated_prepared(const at::Tensor& x) {
  torch::jit::Module module = torch_pt2e::passes::canonicalize_for_annotation(t::conv_relu_module());
  torch_pt2e::quantizer::AnnotationTable annotations;
  t::ConvQuantizer().annotate(module, annotations);
  torch_pt2e::passes::insert_observers(module, annotations);
  module.forward({x});
  // The passes rewrite forward in place; TorchScript caches a module's
  // optimized graph when it first runs, so they work on a fresh clone (as
  // convert_pt2e does).
  return module.clone();
}

TEST(ConvertObservers, StaticPerTensorObserversBecomeLiteralQDQPairs) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({1, 3, 6, 6});
  torch::jit::Module module = calibrated_prepared(x);
  const auto input_qparams =
      torch_pt2e::observers::calculate_qparams(torch::jit::Module(module.attr("activation_post_process_0").toObject()));
  const auto converted = torch_pt2e::passes::convert_observers(module);
  // input, weight, output quantized; the float32 placeholder on the bias removed.
  int pairs = 0;
  for (const auto& c : converted) pairs += c.quantize != nullptr;
  EXPECT_EQ(pairs, 3);
  auto graph = module.get_method("forward").graph();
  FileCheck()
      .check("quantized_decomposed::quantize_per_tensor")
      ->check("quantized_decomposed::dequantize_per_tensor")
      ->check("aten::conv2d")
      ->check("quantized_decomposed::quantize_per_tensor")
      ->check("quantized_decomposed::dequantize_per_tensor")
      ->check("aten::relu")
      ->check_not("prim::CallMethod")
      ->run(*graph);
  // The first quantize carries the input observer's qparams as literals.
  torch::jit::Node* first_q = converted.front().quantize;
  EXPECT_DOUBLE_EQ(torch::jit::toIValue(first_q->input(1))->toDouble(), std::get<0>(input_qparams).item<double>());
  EXPECT_EQ(torch::jit::toIValue(first_q->input(2))->toInt(), std::get<1>(input_qparams).item<int64_t>());
  torch_pt2e::passes::remove_observer_modules(module);
  EXPECT_FALSE(module.hasattr("activation_post_process_0"));
  EXPECT_EQ(module.forward({x}).toTensor().sizes(), at::IntArrayRef({1, 4, 4, 4}));
}

// convert_pt2e's way: the clone comes without forward, which is copied
// with its observer calls converted on the way.
TEST(ConvertObservers, CopyConvertingGivesTheGraphOfConvertingACopy) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({1, 3, 6, 6});
  torch::jit::Module prepared = calibrated_prepared(x);
  const auto observer_names = torch_pt2e::passes::observer_attribute_names(prepared);
  const std::unordered_set<std::string> ignored(observer_names.begin(), observer_names.end());

  torch::jit::Module in_place = torch_pt2e::jit::clone_module(prepared, {}, ignored);
  const auto converted_in_place = torch_pt2e::passes::convert_observers(in_place, prepared);

  torch_pt2e::jit::ClassClones classes;
  torch::jit::Module copied = torch_pt2e::jit::clone_module(prepared, {"forward"}, ignored, &classes);
  std::unordered_map<const torch::jit::Node*, torch::jit::Node*> copies;
  const auto converted = torch_pt2e::passes::copy_converting_observers(
      copied, prepared, classes, [&](const torch::jit::Node* from, torch::jit::Node* to) { copies.emplace(from, to); });

  EXPECT_EQ(t::comparable_forward_text(copied), t::comparable_forward_text(in_place));
  ASSERT_EQ(converted.size(), converted_in_place.size());
  for (size_t i = 0; i < converted.size(); ++i) {
    EXPECT_EQ(converted[i].quantize == nullptr, converted_in_place[i].quantize == nullptr) << i;
  }
  // Every node of prepared's forward but the observer calls and reads was
  // copied, and told: the conv among them.
  int calls = 0, conv_copies = 0;
  for (torch::jit::Node* node : prepared.get_method("forward").graph()->nodes()) {
    const bool observer_node = node->kind() == c10::prim::CallMethod ||
                               (node->kind() == c10::prim::GetAttr && ignored.count(node->s(c10::attr::name)));
    calls += node->kind() == c10::prim::CallMethod;
    EXPECT_EQ(copies.count(node), observer_node ? 0u : 1u) << *node;
    if (node->kind() == c10::aten::conv2d) conv_copies += copies.at(node)->kind() == c10::aten::conv2d;
  }
  EXPECT_EQ(calls, static_cast<int>(converted.size()));
  EXPECT_EQ(conv_copies, 1);
  // prepared is untouched and both run alike.
  EXPECT_EQ(t::count_nodes(prepared, "prim::CallMethod"), calls);
  torch_pt2e::passes::remove_observer_modules(in_place);
  torch_pt2e::passes::remove_observer_modules(copied);
  EXPECT_TRUE(at::equal(copied.forward({x}).toTensor(), in_place.forward({x}).toTensor()));
}

TEST(FoldQuantize, WeightQuantizationBecomesAnInt8AttributeAndActivationsStay) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({1, 3, 6, 6});
  torch::jit::Module module = calibrated_prepared(x);
  torch_pt2e::passes::convert_observers(module);
  const at::Tensor before = module.clone().forward({x}).toTensor();
  EXPECT_EQ(torch_pt2e::passes::fold_quantize(module), 1);
  auto graph = module.get_method("forward").graph();
  // The folded weight is read where its quantize was, and feeds its dequantize;
  // the activations' two quantize nodes stay.
  FileCheck()
      .check("%_frozen_param0 : Tensor = prim::GetAttr[name=\"_frozen_param0\"]")
      ->check_next("quantized_decomposed::dequantize_per_tensor(%_frozen_param0")
      ->run(*graph);
  FileCheck().check_count("quantized_decomposed::quantize_per_", 2, /*exactly=*/true)->run(*graph);
  EXPECT_EQ(module.attr("_frozen_param0").toTensor().scalar_type(), at::kChar);
  EXPECT_TRUE(at::equal(module.clone().forward({x}).toTensor(), before));
  torch_pt2e::passes::remove_observer_modules(module);
  // The fp32 conv weight is no longer read and leaves the module.
  EXPECT_GE(torch_pt2e::passes::remove_unused_attributes(module), 1);
  EXPECT_FALSE(torch::jit::Module(module.attr("conv").toObject()).hasattr("weight"));
  EXPECT_TRUE(at::equal(module.forward({x}).toTensor(), before));
}

TEST(RemoveUnusedAttributes, ReadsInsideBranchesKeepTheirAttributes) {
  // `inner.weight` is read only inside the branch, `unused` nowhere.
  torch::jit::Module inner("Inner");
  inner.register_buffer("weight", at::ones({2}));
  inner.register_buffer("unused", at::ones({3}));
  torch::jit::Module module("Outer");
  module.register_module("inner", inner);
  module.define(R"(
    def forward(self, x, flag: bool):
        if flag:
            x = x * self.inner.weight
        return x
  )");
  module.get_method("forward").graph();
  // Only the top module's forward may read attributes (the flow drops other methods).
  EXPECT_EQ(torch_pt2e::passes::remove_unused_attributes(module), 1);
  const torch::jit::Module kept(module.attr("inner").toObject());
  EXPECT_TRUE(kept.hasattr("weight"));
  EXPECT_FALSE(kept.hasattr("unused"));
  const at::Tensor x = at::full({2}, 3.0);
  EXPECT_TRUE(at::equal(module.forward({x, true}).toTensor(), x));
}

// A module with nn.Module's `training` flag, as scripted modules have.
torch::jit::Module plain_module(const std::string& name) {
  torch::jit::Module module(name);
  module.register_attribute("training", c10::BoolType::get(), false);
  return module;
}

TEST(RemoveUnusedAttributes, SubmodulesLeftWithOnlyTheirFlagsLeaveEveryParent) {
  // Norm's type is shared by a child of Block and a child of Down; Down is
  // met after Norm in a walk of the tree, so a parents-before-children order
  // of first meetings would look at Down while its norm still held `stat`.
  torch::jit::Module norm_a = plain_module("Norm");
  norm_a.register_buffer("stat", at::ones({2}));
  torch::jit::Module norm_b(norm_a._ivalue()->compilation_unit(), norm_a.type());
  norm_b.register_attribute("training", c10::BoolType::get(), false);
  norm_b.register_buffer("stat", at::ones({2}));
  torch::jit::Module block = plain_module("Block");
  block.register_module("norm", norm_a);
  torch::jit::Module down = plain_module("Down");
  down.register_module("norm", norm_b);
  torch::jit::Module keep = plain_module("Keep");
  keep.register_attribute("flag", c10::IntType::get(), int64_t(3));  // not nn.Module's: stays
  torch::jit::Module used = plain_module("Used");
  used.register_buffer("weight", at::full({2}, 2.0));
  torch::jit::Module module = plain_module("Top");
  module.register_module("a", block);
  module.register_module("down", down);
  module.register_module("keep", keep);
  module.register_module("used", used);
  module.define(R"(
    def forward(self, x):
        return x * self.used.weight
  )");
  // Norm's stat; norm of Block and of Down; a and down of the top module.
  EXPECT_EQ(torch_pt2e::passes::remove_unused_attributes(module), 5);
  EXPECT_FALSE(module.hasattr("a"));
  EXPECT_FALSE(module.hasattr("down"));
  EXPECT_TRUE(module.hasattr("keep"));
  EXPECT_EQ(torch::jit::Module(module.attr("keep").toObject()).attr("flag").toInt(), 3);
  EXPECT_TRUE(torch::jit::Module(module.attr("used").toObject()).hasattr("weight"));
  const at::Tensor x = at::full({2}, 3.0);
  EXPECT_TRUE(at::equal(module.forward({x}).toTensor(), at::full({2}, 6.0)));
}

}  // namespace
