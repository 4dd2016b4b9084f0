// passes/traced_training_flags (run by canonicalize_for_annotation for QAT):
// a traced module's constant batch-norm / dropout training flags become reads
// of the module's `training`, its num_batches_tracked update runs in training only.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/jit/testing/file_check.h>

#include "torch_pt2e_plugin/passes/canonicalize.h"

using torch::jit::testing::FileCheck;

namespace {

// What torch.jit.trace records for BatchNorm2d(4) -> Dropout(0.5) in training
// mode: constant flags, an unconditional counter update and, when `traced`,
// complete input types.
torch::jit::Module traced_bn_dropout(bool traced) {
  torch::jit::Module bn("BN");
  bn.register_attribute("training", c10::BoolType::get(), true);
  bn.register_parameter("weight", at::rand({4}) + 0.5, false);
  bn.register_parameter("bias", at::randn({4}), false);
  bn.register_buffer("running_mean", at::zeros({4}));
  bn.register_buffer("running_var", at::ones({4}));
  bn.register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
  bn.define(R"(
def forward(self, x):
    self.num_batches_tracked.add_(1)
    return torch.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var, True, 0.1, 1e-5, True)
)");
  torch::jit::Module top("Top");
  top.register_attribute("training", c10::BoolType::get(), true);
  top.register_module("bn", bn);
  top.define(R"(
def forward(self, x):
    return torch.dropout(self.bn.forward(x), 0.5, True)
)");
  if (traced) {
    auto graph = top.get_method("forward").graph();
    graph->inputs()[1]->setType(c10::TensorType::create(at::randn({8, 4, 3, 3})));
  }
  return top;
}

torch::jit::Module canonicalize_for_training(const torch::jit::Module& model) {
  torch_pt2e::passes::CanonicalizeOptions options;
  options.fold_conv_bn = false;
  options.fold_training = false;
  return torch_pt2e::passes::canonicalize_for_annotation(model, options);
}

TEST(TracedTrainingFlags, ConstantFlagsBecomeReadsOfTheModulesTrainingFlag) {
  at::manual_seed(0);
  torch::jit::Module prepared = canonicalize_for_training(traced_bn_dropout(/*traced=*/true));
  auto graph = prepared.get_method("forward").graph();
  FileCheck()
      .check("prim::GetAttr[name=\"training\"]")
      ->check("prim::If")
      ->check("aten::add_")
      ->check("aten::batch_norm")
      ->check("aten::dropout")
      ->run(*graph);
  const at::Tensor x = at::randn({8, 4, 3, 3}) * 3 + 1;
  const at::Tensor counter = prepared.attr("bn").toModule().attr("num_batches_tracked").toTensor();

  prepared.train();
  const at::Tensor trained = prepared.forward({x}).toTensor();
  EXPECT_EQ(counter.item().toLong(), 1);
  EXPECT_GT((trained == 0).sum().item().toLong(), 0) << "dropout zeroes elements in training";

  prepared.eval();
  torch::jit::Module bn = prepared.attr("bn").toModule();
  const at::Tensor expected =
      at::batch_norm(x, bn.attr("weight").toTensor(), bn.attr("bias").toTensor(), bn.attr("running_mean").toTensor(),
                     bn.attr("running_var").toTensor(), /*training=*/false, 0.1, 1e-5, true);
  const at::Tensor mean_before = bn.attr("running_mean").toTensor().clone();
  EXPECT_TRUE(at::equal(prepared.forward({x}).toTensor(), expected)) << "eval: running statistics, no dropout";
  EXPECT_TRUE(at::equal(bn.attr("running_mean").toTensor(), mean_before));
  EXPECT_EQ(counter.item().toLong(), 1);
}

TEST(TracedTrainingFlags, ScriptedModulesKeepTheirConstantFlags) {
  torch::jit::Module prepared = canonicalize_for_training(traced_bn_dropout(/*traced=*/false));
  prepared.eval();
  const at::Tensor x = at::randn({8, 4, 3, 3});
  const at::Tensor out = prepared.forward({x}).toTensor();
  // Written with constants in a scripted module: batch statistics and dropout whatever the mode.
  EXPECT_GT((out == 0).sum().item().toLong(), 0);
  EXPECT_EQ(prepared.attr("bn").toModule().attr("num_batches_tracked").toTensor().item().toLong(), 1);
}

}  // namespace
