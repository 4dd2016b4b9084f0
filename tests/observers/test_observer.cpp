// Observer modules (torch_pt2e_plugin/observers/observer.h): creation, class
// reuse, reading back, calculate_qparams, and a prepared module that is
// saved, loaded with torch::jit::load, calibrated and compared.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/jit/serialization/import.h>

#include "torch_pt2e_plugin/observers/observer.h"

namespace obs = torch_pt2e::observers;
using obs::ObserverKind;

namespace {

int module_counter = 0;

// A top-level module of its own class, like the one the flow prepares.
torch::jit::Module new_owner() {
  torch::jit::Module owner("__torch__.Owner" + std::to_string(module_counter++));
  owner.register_attribute("training", c10::BoolType::get(), true);
  return owner;
}

obs::ObserverConfig config(ObserverKind kind) { return obs::default_config(kind); }

at::Tensor forward(torch::jit::Module& observer, const at::Tensor& x) {
  return observer.forward({x}).toTensor();
}

// One observer of every kind, in a fixed order; the owner's forward sends its
// input through all of them, as the flow's graphs call observers.
std::vector<obs::ObserverConfig> every_kind() {
  std::vector<obs::ObserverConfig> configs;
  auto mm = config(ObserverKind::kMinMax);
  mm.dtype = at::kQInt8;
  mm.qscheme = c10::kPerTensorSymmetric;
  configs.push_back(mm);
  auto ma = config(ObserverKind::kMovingAverageMinMax);
  ma.averaging_constant = 0.25;
  configs.push_back(ma);
  auto pc = config(ObserverKind::kPerChannelMinMax);
  pc.ch_axis = 1;
  pc.qscheme = c10::kPerChannelAffineFloatQParams;
  configs.push_back(pc);
  auto mapc = config(ObserverKind::kMovingAveragePerChannelMinMax);
  mapc.ch_axis = -1;
  mapc.dtype = at::kQInt8;
  configs.push_back(mapc);
  auto hist = config(ObserverKind::kHistogram);
  hist.bins = 128;
  configs.push_back(hist);
  auto fixed = config(ObserverKind::kFixedQParams);
  fixed.fixed_scale = 0.125;
  fixed.fixed_zero_point = 3;
  configs.push_back(fixed);
  auto placeholder = config(ObserverKind::kPlaceholder);
  placeholder.dtype = at::kHalf;
  configs.push_back(placeholder);
  return configs;
}

std::string observer_name(size_t i) { return "activation_post_process_" + std::to_string(i); }

torch::jit::Module prepared_module() {
  torch::jit::Module owner = new_owner();
  const auto configs = every_kind();
  std::string body = "def forward(self, x: Tensor) -> Tensor:\n";
  for (size_t i = 0; i < configs.size(); ++i) {
    obs::add_observer(owner, observer_name(i), configs[i]);
    body += "    x = self." + observer_name(i) + ".forward(x)\n";
  }
  owner.define(body + "    return x\n");
  return owner;
}

std::vector<at::Tensor> batches() {
  at::manual_seed(11);
  std::vector<at::Tensor> out;
  for (int i = 0; i < 5; ++i) out.push_back(at::randn({4, 6, 5}) * (i + 1) - i);
  return out;
}

void calibrate(torch::jit::Module& module, const std::vector<at::Tensor>& inputs, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) module.forward({inputs[i]});
}

void expect_same_qparams(const std::tuple<at::Tensor, at::Tensor>& got,
                         const std::tuple<at::Tensor, at::Tensor>& expected, const std::string& what) {
  for (const auto& pair : {std::make_pair(std::get<0>(got), std::get<0>(expected)),
                           std::make_pair(std::get<1>(got), std::get<1>(expected))}) {
    EXPECT_EQ(pair.first.scalar_type(), pair.second.scalar_type()) << what;
    EXPECT_TRUE(at::equal(pair.first, pair.second)) << what << ": " << pair.first << " vs " << pair.second;
  }
}

TEST(AddObserver, MinMaxWorkedExample) {
  torch::jit::Module owner = new_owner();
  torch::jit::Module observer = obs::add_observer(owner, "activation_post_process_0", config(ObserverKind::kMinMax));
  EXPECT_TRUE(obs::is_observer(observer));
  EXPECT_FALSE(obs::is_observer(owner));
  EXPECT_FALSE(obs::has_qparams(observer));
  const at::Tensor x = at::tensor({-1.0f, 0.5f, 3.0f});
  EXPECT_TRUE(forward(observer, x).is_same(x));  // returns its input itself
  EXPECT_TRUE(obs::has_qparams(observer));
  const auto qp = obs::calculate_qparams(observer);
  // quint8 [0, 255] over [-1, 3]: scale 4/255, zero point 0 - round(-1 / (4/255)) = 64
  EXPECT_EQ(std::get<0>(qp).item<float>(), 4.0f / 255.0f);
  EXPECT_EQ(std::get<1>(qp).item<int>(), 64);
  EXPECT_EQ(std::get<1>(qp).scalar_type(), at::kInt);
  // The submodule is reachable from the owner under its name.
  EXPECT_TRUE(obs::is_observer(owner.attr("activation_post_process_0").toModule()));
}

TEST(AddObserver, ReadConfigRoundTripsEveryKind) {
  torch::jit::Module owner = new_owner();
  const auto configs = every_kind();
  for (size_t i = 0; i < configs.size(); ++i) {
    torch::jit::Module observer = obs::add_observer(owner, observer_name(i), configs[i]);
    EXPECT_EQ(obs::read_config(observer), configs[i]) << obs::to_json_string(configs[i]);
    EXPECT_EQ(obs::observer_quant_range(observer), obs::quant_range(configs[i]));
  }
  auto eps = config(ObserverKind::kMinMax);
  eps.eps = 1e-5;  // stored as float32, like upstream's buffer
  EXPECT_EQ(obs::read_config(obs::add_observer(owner, "eps_observer", eps)).eps, static_cast<double>(1e-5f));
}

TEST(AddObserver, ClassesAreSharedPerKindAndCompilationUnit) {
  torch::jit::Module owner = new_owner();
  auto a = obs::add_observer(owner, "a", config(ObserverKind::kMinMax));
  auto int8 = config(ObserverKind::kMinMax);
  int8.dtype = at::kQInt8;
  auto b = obs::add_observer(owner, "b", int8);
  auto c = obs::add_observer(owner, "c", config(ObserverKind::kHistogram));
  EXPECT_EQ(a.type(), b.type());
  EXPECT_NE(a.type(), c.type());
  EXPECT_EQ(a.type()->name()->qualifiedName(), "__torch__.torch_pt2e.observers.v1.MinMaxObserver");
  EXPECT_NE(a.attr("dtype").toInt(), b.attr("dtype").toInt());
}

TEST(AddObserver, RejectsBadNamesAndConfigs) {
  torch::jit::Module owner = new_owner();
  obs::add_observer(owner, "taken", config(ObserverKind::kMinMax));
  EXPECT_THROW(obs::add_observer(owner, "taken", config(ObserverKind::kMinMax)), c10::Error);
  EXPECT_THROW(obs::add_observer(owner, "1abc", config(ObserverKind::kMinMax)), c10::Error);
  auto bad = config(ObserverKind::kMinMax);
  bad.qscheme = c10::kPerChannelAffine;
  EXPECT_THROW(obs::add_observer(owner, "other", bad), c10::Error);
  EXPECT_FALSE(owner.hasattr("other"));
  EXPECT_THROW(obs::read_config(owner), c10::Error);
}

// The variant for callers that keep the names themselves registers the same
// observer, still validates the config and the identifier, and shares the
// class with add_observer's.
TEST(AddObserver, WithNewNameRegistersTheSameObserver) {
  torch::jit::Module owner = new_owner();
  torch::jit::Module checked = obs::add_observer(owner, "checked", config(ObserverKind::kHistogram));
  torch::jit::Module trusted = obs::add_observer_with_new_name(owner, "trusted", config(ObserverKind::kHistogram));
  EXPECT_EQ(trusted.type(), checked.type());
  EXPECT_EQ(obs::read_config(trusted), obs::read_config(checked));
  EXPECT_TRUE(owner.attr("trusted").toModule()._ivalue() == trusted._ivalue());
  const at::Tensor x = at::randn({64});
  forward(checked, x);
  forward(trusted, x);
  EXPECT_TRUE(at::equal(std::get<0>(obs::calculate_qparams(trusted)), std::get<0>(obs::calculate_qparams(checked))));
  EXPECT_THROW(obs::add_observer_with_new_name(owner, "1abc", config(ObserverKind::kMinMax)), c10::Error);
  auto bad = config(ObserverKind::kMinMax);
  bad.qscheme = c10::kPerChannelAffine;
  EXPECT_THROW(obs::add_observer_with_new_name(owner, "other", bad), c10::Error);
  EXPECT_FALSE(owner.hasattr("other"));
}

TEST(AddObserver, PlaceholderAndFixedQParams) {
  torch::jit::Module owner = new_owner();
  auto placeholder = obs::add_observer(owner, "p", config(ObserverKind::kPlaceholder));
  EXPECT_FALSE(obs::has_qparams(placeholder));
  EXPECT_THROW(obs::calculate_qparams(placeholder), c10::Error);
  auto fixed_config = config(ObserverKind::kFixedQParams);
  fixed_config.fixed_scale = 2.0 / 256.0;
  fixed_config.fixed_zero_point = 128;
  auto fixed = obs::add_observer(owner, "f", fixed_config);
  EXPECT_TRUE(obs::has_qparams(fixed));
  const auto qp = obs::calculate_qparams(fixed);
  EXPECT_EQ(std::get<0>(qp).item<float>(), 0.0078125f);
  EXPECT_EQ(std::get<1>(qp).scalar_type(), at::kInt);
  EXPECT_EQ(std::get<1>(qp).item<int>(), 128);
}

TEST(AddObserver, DefaultResolverCannotCompileTorchOps) {
  // Why observer.cpp passes its own resolver to Module::define.
  torch::jit::Module m = new_owner();
  m.register_buffer("lo", at::zeros({}));
  m.register_buffer("hi", at::zeros({}));
  EXPECT_ANY_THROW(m.define(R"(
def forward(self, x: Tensor) -> Tensor:
    torch.ops.torch_pt2e.observe_min_max_(x, self.lo, self.hi)
    return x
)"));
}

TEST(AddObserver, SharedOwnerClassSlotIsFilledPerInstance) {
  // Two instances of one class: the attribute added through the first is an
  // empty slot in the second, which an observer of the same kind can fill.
  torch::jit::Module first = new_owner();
  torch::jit::Module second(first._ivalue()->compilation_unit(), first.type());
  second.register_attribute("training", c10::BoolType::get(), true);
  obs::add_observer(first, "obs", config(ObserverKind::kMinMax));
  EXPECT_THROW(obs::add_observer(second, "obs", config(ObserverKind::kHistogram)), c10::Error);
  auto filled = obs::add_observer(second, "obs", config(ObserverKind::kMinMax));
  EXPECT_TRUE(obs::is_observer(second.attr("obs").toModule()));
  EXPECT_FALSE(first.attr("obs").toModule()._ivalue() == filled._ivalue());
}

// Same dtype, shape and bytes.
void expect_identical(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.scalar_type(), want.scalar_type()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor a = got.contiguous(), b = want.contiguous();
  EXPECT_EQ(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()), 0) << what << ": " << a << " vs " << b;
}

// calculate_qparams computes in C++ what the observer's TorchScript method
// computes through the interpreter and the dispatcher: the same tensors, bit
// for bit, for every kind, before and after data (and the same error for a
// Placeholder).
TEST(CalculateQParams, MatchesTheMethodForEveryKind) {
  std::vector<obs::ObserverConfig> configs = every_kind();
  auto xnnpack = config(ObserverKind::kHistogram);  // XNNPACK's activations
  xnnpack.dtype = at::kChar;
  xnnpack.quant_min = -128;
  xnnpack.quant_max = 127;
  xnnpack.eps = 0.000244140625;
  configs.push_back(xnnpack);
  auto symmetric_histogram = config(ObserverKind::kHistogram);
  symmetric_histogram.dtype = at::kQInt8;
  symmetric_histogram.qscheme = c10::kPerTensorSymmetric;
  configs.push_back(symmetric_histogram);
  auto weights = config(ObserverKind::kPerChannelMinMax);  // XNNPACK's weights
  weights.dtype = at::kChar;
  weights.qscheme = c10::kPerChannelSymmetric;
  weights.quant_min = -127;
  weights.quant_max = 127;
  configs.push_back(weights);
  auto reduced = config(ObserverKind::kMinMax);
  reduced.reduce_range = true;
  configs.push_back(reduced);
  auto wide = config(ObserverKind::kMovingAverageMinMax);
  wide.dtype = at::kQInt32;
  configs.push_back(wide);

  // Small and large activations (past 1e13 the histogram search's errors
  // overflow to NaN), constants and zeros.
  at::manual_seed(5);
  const std::vector<at::Tensor> inputs = {at::randn({4, 6}),   at::randn({2, 8}) * 1e24, at::randn({4, 4}) * 3e13,
                                          at::full({3, 3}, 2.5), at::zeros({2, 5}),       at::randn({4, 6}).relu()};
  for (size_t i = 0; i < configs.size(); ++i) {
    for (size_t j = 0; j <= inputs.size(); ++j) {
      torch::jit::Module owner = new_owner();
      torch::jit::Module observer = obs::add_observer(owner, "activation_post_process_0", configs[i]);
      if (j < inputs.size()) forward(observer, inputs[j]);
      const std::string what = obs::to_json_string(configs[i]) + ", input " + std::to_string(j);
      if (configs[i].kind == ObserverKind::kPlaceholder) {
        EXPECT_THROW(obs::calculate_qparams(observer), c10::Error) << what;
        EXPECT_ANY_THROW(observer.get_method("calculate_qparams")({})) << what;
        continue;
      }
      const auto direct = obs::calculate_qparams(observer);
      const auto method = observer.get_method("calculate_qparams")({}).toTupleRef().elements();
      ASSERT_EQ(method.size(), 2u) << what;
      expect_identical(std::get<0>(direct), method[0].toTensor(), what + ", scale");
      expect_identical(std::get<1>(direct), method[1].toTensor(), what + ", zero point");
    }
  }
}

TEST(PreparedModule, SaveLoadCalibrateMatchesAnUnsavedTwin) {
  const auto inputs = batches();
  torch::jit::Module model = prepared_module();
  torch::jit::Module twin = prepared_module();
  calibrate(model, inputs, 0, 2);
  calibrate(twin, inputs, 0, inputs.size());

  const std::string path = ::testing::TempDir() + "/torch_pt2e_prepared_observers.pt";
  model.save(path);
  torch::jit::Module loaded = torch::jit::load(path);
  std::remove(path.c_str());

  const auto configs = every_kind();
  for (size_t i = 0; i < configs.size(); ++i) {
    const auto observer = loaded.attr(observer_name(i)).toModule();
    ASSERT_TRUE(obs::is_observer(observer)) << observer_name(i);
    EXPECT_EQ(obs::read_config(observer), configs[i]) << observer_name(i);
  }
  calibrate(loaded, inputs, 2, inputs.size());
  for (size_t i = 0; i < configs.size(); ++i) {
    if (configs[i].kind == ObserverKind::kPlaceholder) continue;
    expect_same_qparams(obs::calculate_qparams(loaded.attr(observer_name(i)).toModule()),
                        obs::calculate_qparams(twin.attr(observer_name(i)).toModule()), observer_name(i));
  }
  // The loaded classes are reused for new observers in the loaded module.
  auto extra = obs::add_observer(loaded, "extra", configs[0]);
  EXPECT_EQ(extra.type(), loaded.attr(observer_name(0)).toModule().type());
}

TEST(PreparedModule, StateSurvivesAnInMemoryRoundTrip) {
  torch::jit::Module model = new_owner();
  auto per_channel = config(ObserverKind::kPerChannelMinMax);
  per_channel.ch_axis = 0;
  auto observer = obs::add_observer(model, "pc", per_channel);
  forward(observer, at::tensor({1.0f, -1.0f, 3.0f, 5.0f}).view({2, 2}));
  std::stringstream buffer;
  model.save(buffer);
  torch::jit::Module loaded = torch::jit::load(buffer);
  const auto reloaded = loaded.attr("pc").toModule();
  EXPECT_TRUE(at::equal(reloaded.attr("min_val").toTensor(), at::tensor({-1.0f, 3.0f})));
  EXPECT_TRUE(at::equal(reloaded.attr("max_val").toTensor(), at::tensor({1.0f, 5.0f})));
}

}  // namespace
