// Fake-quantize modules (torch_pt2e_plugin/observers/fake_quantize.h):
// configuration from upstream's constructor arguments, forward numerics
// against the aten ops upstream calls, the straight-through gradient,
// enable/disable, and save/load.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/csrc/jit/serialization/import.h>

#include "torch_pt2e_plugin/observers/fake_quantize.h"
#include "torch_pt2e_plugin/observers/observer.h"

namespace obs = torch_pt2e::observers;
using obs::FakeQuantizeKind;
using obs::ObserverKind;

namespace {

int module_counter = 0;

torch::jit::Module new_owner() {
  torch::jit::Module owner("__torch__.FqOwner" + std::to_string(module_counter++));
  owner.register_attribute("training", c10::BoolType::get(), true);
  return owner;
}

obs::FakeQuantizeConfig qint8_config(FakeQuantizeKind kind) {
  return obs::fake_quantize_config(kind == FakeQuantizeKind::kFakeQuantize ? "FakeQuantize"
                                                                          : "FusedMovingAvgObsFakeQuantize",
                                   {{"dtype", "qint8"}, {"quant_min", -128}, {"quant_max", 127}});
}

at::Tensor forward(torch::jit::Module& fq, const at::Tensor& x) { return fq.forward({x}).toTensor(); }

}  // namespace

TEST(FakeQuantizeConfig, UpstreamDefaultsAndOverrides) {
  // FusedMovingAvgObsFakeQuantize defaults to quant_min=0, quant_max=255.
  const auto fused = obs::fake_quantize_config("FusedMovingAvgObsFakeQuantize", nlohmann::json::object());
  EXPECT_EQ(fused.observer.kind, ObserverKind::kMovingAverageMinMax);
  EXPECT_EQ(*fused.observer.quant_min, 0);
  EXPECT_EQ(*fused.observer.quant_max, 255);
  // Outer keyword arguments override the observer constructor's.
  const auto fq = obs::fake_quantize_config(
      "FakeQuantize", {{"observer", {{"name", "MovingAveragePerChannelMinMaxObserver"},
                                     {"kwargs", {{"averaging_constant", 0.5}, {"ch_axis", 2}}}}},
                       {"ch_axis", 1},
                       {"qscheme", "per_channel_symmetric"},
                       {"dtype", "qint8"}});
  EXPECT_EQ(fq.kind, FakeQuantizeKind::kFakeQuantize);
  EXPECT_EQ(fq.observer.kind, ObserverKind::kMovingAveragePerChannelMinMax);
  EXPECT_EQ(fq.observer.ch_axis, 1);
  EXPECT_DOUBLE_EQ(fq.observer.averaging_constant, 0.5);
  EXPECT_FALSE(fq.observer.quant_min.has_value());
}

TEST(FakeQuantizeConfig, ErrorsNameTheValue) {
  try {
    obs::fake_quantize_config("FusedMovingAvgObsFakeQuantize", {{"observer", "HistogramObserver"}});
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got HistogramObserver"), std::string::npos) << e.what();
  }
  try {
    obs::fake_quantize_config("FakeQuantize", {{"dtype", "qint8"}, {"quant_min", 0}, {"quant_max", 300}});
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got [0, 300]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(obs::fake_quantize_config("FakeQuantize", {{"observer", 3}}), c10::Error);
  EXPECT_THROW(obs::fake_quantize_config("FakeQuantise", nlohmann::json::object()), c10::Error);
}

TEST(FakeQuantize, ForwardIsTheAtenFakeQuantizeWithTheObserversQParams) {
  for (const auto kind : {FakeQuantizeKind::kFakeQuantize, FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize}) {
    auto owner = new_owner();
    auto fq = obs::add_fake_quantize(owner, "fq", qint8_config(kind));
    EXPECT_TRUE(obs::is_fake_quantize(fq));
    EXPECT_FALSE(obs::is_observer(fq));
    EXPECT_TRUE(obs::is_observer(obs::fake_quantize_observer(fq)));
    const at::Tensor x = at::linspace(-2.0, 6.0, 17);
    const at::Tensor out = forward(fq, x);
    // min -2, max 6 (first batch: the moving average starts at the batch's range):
    // scale = 8 / 255, zero_point = -128 - round(-2 / scale) = -64
    const auto qparams = obs::calculate_qparams(obs::fake_quantize_observer(fq));
    EXPECT_FLOAT_EQ(std::get<0>(qparams).item<float>(), 8.0f / 255.0f);
    EXPECT_EQ(std::get<1>(qparams).item<int64_t>(), -64);
    const at::Tensor expected =
        at::fake_quantize_per_tensor_affine(x, std::get<0>(qparams).item<double>(), -64, -128, 127);
    EXPECT_TRUE(at::equal(out, expected)) << obs::fake_quantize_kind_name(kind);
    EXPECT_TRUE(at::equal(fq.attr("scale").toTensor(), std::get<0>(qparams)));
  }
}

TEST(FakeQuantize, StraightThroughGradientMasksClampedValues) {
  auto owner = new_owner();
  auto fq = obs::add_fake_quantize(owner, "fq", qint8_config(FakeQuantizeKind::kFakeQuantize));
  forward(fq, at::linspace(-1.0, 1.0, 9));
  ASSERT_EQ(obs::set_observer_enabled(owner, false), 1);
  at::Tensor x = torch::tensor({-4.0f, -0.25f, 0.5f, 3.0f}).requires_grad_();
  forward(fq, x).sum().backward();
  // -4 and 3 lie outside [-1, 1]: no gradient; inside: 1.
  EXPECT_TRUE(at::equal(x.grad(), torch::tensor({0.0f, 1.0f, 1.0f, 0.0f})));
}

TEST(FakeQuantize, EnableAndDisable) {
  auto owner = new_owner();
  auto a = obs::add_fake_quantize(owner, "a", qint8_config(FakeQuantizeKind::kFakeQuantize));
  auto b = obs::add_fake_quantize(owner, "b", qint8_config(FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize));
  const at::Tensor x = at::linspace(-1.0, 1.0, 7) / 3.0;
  forward(a, x);
  EXPECT_EQ(obs::set_fake_quant_enabled(owner, false), 2);
  EXPECT_EQ(a.attr("fake_quant_enabled").toTensor().item<int64_t>(), 0);
  EXPECT_EQ(b.attr("fake_quant_enabled").toTensor().scalar_type(), at::kLong);  // as upstream's buffers
  EXPECT_TRUE(at::equal(forward(a, x), x));
  EXPECT_TRUE(at::equal(forward(b, x), x));
  EXPECT_EQ(obs::set_observer_enabled(owner, false), 2);
  const at::Tensor scale = a.attr("scale").toTensor().clone();
  forward(a, x * 100);
  EXPECT_TRUE(at::equal(a.attr("scale").toTensor(), scale));
  EXPECT_EQ(obs::set_fake_quant_enabled(owner, true), 2);
  EXPECT_FALSE(at::equal(forward(a, x), x));
}

TEST(FakeQuantize, SavedAndLoaded) {
  auto owner = new_owner();
  owner.register_attribute("scale_only", c10::FloatType::get(), 1.0);
  auto fq = obs::add_fake_quantize(owner, "fq", qint8_config(FakeQuantizeKind::kFusedMovingAvgObsFakeQuantize));
  owner.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return self.fq.forward(x)
)");
  owner.forward({at::linspace(-3.0, 1.0, 11)});
  std::stringstream stream;
  owner.save(stream);
  auto loaded = torch::jit::load(stream);
  auto loaded_fq = loaded.attr("fq").toModule();
  EXPECT_TRUE(obs::is_fake_quantize(loaded_fq));
  EXPECT_EQ(obs::read_fake_quantize_config(loaded_fq).observer, obs::read_fake_quantize_config(fq).observer);
  EXPECT_TRUE(at::equal(loaded_fq.attr("scale").toTensor(), fq.attr("scale").toTensor()));
  const at::Tensor x = at::linspace(-2.0, 2.0, 13);
  EXPECT_TRUE(at::equal(loaded.forward({x}).toTensor(), owner.forward({x}).toTensor()));
}

TEST(FixedQParamsFakeQuantize, FakeQuantizesWithTheFixedQParamsAndNeverObserves) {
  auto owner = new_owner();
  const auto config = obs::fake_quantize_config(
      "FixedQParamsFakeQuantize",
      {{"observer", {{"name", "FixedQParamsObserver"},
                     {"kwargs", {{"scale", 0.125}, {"zero_point", 3}, {"quant_min", 0}, {"quant_max", 15}}}}}});
  auto fq = obs::add_fake_quantize(owner, "fq", config);
  const at::Tensor x = at::linspace(-4.0, 4.0, 17) * 10;
  const at::Tensor expected = at::fake_quantize_per_tensor_affine(x, 0.125, 3, 0, 15);
  EXPECT_TRUE(at::equal(forward(fq, x), expected));
  EXPECT_EQ(fq.attr("scale").toTensor().item<float>(), 0.125f);
  EXPECT_EQ(fq.attr("zero_point").toTensor().item<int64_t>(), 3);
  const auto qparams = fq.get_method("calculate_qparams")({}).toTupleRef().elements();
  EXPECT_EQ(qparams[0].toTensor().item<float>(), 0.125f);
  EXPECT_EQ(qparams[1].toTensor().item<int64_t>(), 3);
  EXPECT_EQ(obs::read_fake_quantize_config(fq).kind, FakeQuantizeKind::kFixedQParamsFakeQuantize);
  EXPECT_THROW(obs::fake_quantize_config("FixedQParamsFakeQuantize", nlohmann::json::object()), c10::Error);
}

TEST(LearnableFakeQuantize, ConfigKeepsItsOwnArgumentsAndUpstreamDefaults) {
  const auto config = obs::fake_quantize_config(
      "_LearnableFakeQuantize", {{"scale", 0.25}, {"zero_point", 2.0}, {"channel_len", 4}, {"use_grad_scaling", true},
                                 {"observer", "MovingAveragePerChannelMinMaxObserver"}});
  EXPECT_EQ(config.kind, FakeQuantizeKind::kLearnableFakeQuantize);
  EXPECT_DOUBLE_EQ(config.initial_scale, 0.25);
  EXPECT_DOUBLE_EQ(config.initial_zero_point, 2.0);
  EXPECT_EQ(config.channel_len, 4);
  EXPECT_TRUE(config.use_grad_scaling);
  // Upstream's signature defaults quant_min=0, quant_max=255 go to the observer.
  EXPECT_EQ(*config.observer.quant_min, 0);
  EXPECT_EQ(*config.observer.quant_max, 255);
  try {
    obs::fake_quantize_config("LearnableFakeQuantize", {{"channel_len", -3}});
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("got -3"), std::string::npos) << e.what();
  }
}

TEST(LearnableFakeQuantize, ForwardGradientsModesAndQParams) {
  auto owner = new_owner();
  auto fq = obs::add_fake_quantize(
      owner, "fq", obs::fake_quantize_config("LearnableFakeQuantize", {{"scale", 0.1}, {"zero_point", 5.0}}));
  const at::Tensor x = at::linspace(-1.0, 3.0, 9);
  // Static estimate (initial): the observer's qparams, then the learnable op.
  const at::Tensor out = forward(fq, x);
  const auto observed = obs::calculate_qparams(obs::fake_quantize_observer(fq));
  const at::Tensor scale = fq.attr("scale").toTensor();
  EXPECT_TRUE(at::equal(scale, std::get<0>(observed)));
  EXPECT_TRUE(at::equal(out, at::_fake_quantize_learnable_per_tensor_affine(
                                 x, std::get<0>(observed), std::get<1>(observed).to(at::kFloat), 0, 255, 1.0)));
  EXPECT_EQ(obs::set_learnable_mode(owner, obs::LearnableMode::kParamLearning), 1);
  EXPECT_TRUE(scale.requires_grad());
  const at::Tensor before = scale.detach().clone();
  forward(fq, x * 10).sum().backward();
  EXPECT_TRUE(scale.grad().defined());
  EXPECT_TRUE(at::equal(scale.detach(), before));  // no observation while learning
  {
    at::NoGradGuard no_grad;
    scale.fill_(-1.0);
    fq.attr("zero_point").toTensor().fill_(300.4);
  }
  // calculate_qparams clamps the scale to eps and rounds/clamps the zero point.
  const auto qparams = fq.get_method("calculate_qparams")({}).toTupleRef().elements();
  EXPECT_EQ(qparams[0].toTensor().item<float>(), static_cast<float>(obs::kFloat32Eps));
  EXPECT_EQ(qparams[1].toTensor().item<int64_t>(), 255);
  EXPECT_EQ(qparams[1].toTensor().scalar_type(), at::kLong);
  EXPECT_EQ(obs::set_learnable_mode(owner, obs::LearnableMode::kStaticObservation), 1);
  EXPECT_FALSE(scale.requires_grad());
  EXPECT_TRUE(at::equal(forward(fq, x), x));
  EXPECT_EQ(obs::set_qparam_learning_enabled(owner, true), 1);
  EXPECT_EQ(fq.attr("learning_enabled").toTensor().item<int64_t>(), 1);
}

TEST(LearnableFakeQuantize, SavedAndLoadedWithItsParameters) {
  auto owner = new_owner();
  auto fq = obs::add_fake_quantize(
      owner, "fq", obs::fake_quantize_config("LearnableFakeQuantize", {{"use_grad_scaling", true}}));
  owner.define(R"(
def forward(self, x: Tensor) -> Tensor:
    return self.fq.forward(x)
)");
  owner.forward({at::linspace(-3.0, 1.0, 11)});
  std::stringstream stream;
  owner.save(stream);
  auto loaded = torch::jit::load(stream);
  auto loaded_fq = loaded.attr("fq").toModule();
  const auto config = obs::read_fake_quantize_config(loaded_fq);
  EXPECT_EQ(config.kind, FakeQuantizeKind::kLearnableFakeQuantize);
  EXPECT_TRUE(config.use_grad_scaling);
  EXPECT_TRUE(at::equal(loaded_fq.attr("scale").toTensor(), fq.attr("scale").toTensor()));
  int64_t parameters = 0;
  for (const auto& p : loaded_fq.named_parameters(/*recurse=*/false)) {
    parameters += p.name == "scale" || p.name == "zero_point";
  }
  EXPECT_EQ(parameters, 2);
}
