#include "torch_pt2e_plugin/observers/fake_quantize_ops.h"

#include <string>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/observers/fake_quantize.h"

namespace torch_pt2e {
namespace observers {
namespace {

torch::jit::Module as_module(const char* op, const c10::IValue& value) {
  TORCH_CHECK(value.isObject() && value.toObject()->type()->is_module(), op,
              ": expected a TorchScript module (a ScriptModule's `_c`), got ", value.tagKind());
  return torch::jit::Module(value.toObject());
}

void add(const c10::IValue& owner, const std::string& name, const std::string& kind, const std::string& kwargs) {
  auto module = as_module("torch_pt2e::add_fake_quantize", owner);
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(kwargs);
  } catch (const nlohmann::json::parse_error& e) {
    TORCH_CHECK(false, "add_fake_quantize: kwargs are not valid JSON (", e.what(), "): ", kwargs);
  }
  add_fake_quantize(module, name, fake_quantize_config(kind, parsed));
}

bool is_fq(const c10::IValue& module) {
  return module.isObject() && module.toObject()->type()->is_module() &&
         is_fake_quantize(torch::jit::Module(module.toObject()));
}

std::string config(const c10::IValue& module) {
  const auto c = read_fake_quantize_config(as_module("torch_pt2e::fake_quantize_config", module));
  nlohmann::json result = {{"kind", fake_quantize_kind_name(c.kind)}, {"observer", c.observer}};
  if (c.kind == FakeQuantizeKind::kLearnableFakeQuantize) {
    result["scale"] = c.initial_scale;
    result["zero_point"] = c.initial_zero_point;
    result["channel_len"] = c.channel_len;
    result["use_grad_scaling"] = c.use_grad_scaling;
  }
  return result.dump();
}

int64_t fake_quant_enabled(const c10::IValue& module, bool enabled) {
  return set_fake_quant_enabled(as_module("torch_pt2e::set_fake_quant_enabled", module), enabled);
}

int64_t observer_enabled(const c10::IValue& module, bool enabled) {
  return set_observer_enabled(as_module("torch_pt2e::set_observer_enabled", module), enabled);
}

int64_t qparam_learning_enabled(const c10::IValue& module, bool enabled) {
  return set_qparam_learning_enabled(as_module("torch_pt2e::set_qparam_learning_enabled", module), enabled);
}

int64_t learnable_mode(const c10::IValue& module, const std::string& mode) {
  const auto root = as_module("torch_pt2e::set_learnable_mode", module);
  if (mode == "param_learning") return set_learnable_mode(root, LearnableMode::kParamLearning);
  if (mode == "static_estimate") return set_learnable_mode(root, LearnableMode::kStaticEstimate);
  if (mode == "static_observation") return set_learnable_mode(root, LearnableMode::kStaticObservation);
  TORCH_CHECK(false, "set_learnable_mode: unknown mode \"", mode,
              "\"; expected param_learning, static_estimate or static_observation");
}

}  // namespace

ops::OpFamily fake_quantize_ops() {
  ops::OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "fake_quantize";
  family.schemas = {
      "add_fake_quantize(Any module, str name, str kind, str kwargs) -> ()",
      "is_fake_quantize(Any module) -> bool",
      "fake_quantize_config(Any module) -> str",
      "set_fake_quant_enabled(Any module, bool enabled) -> int",
      "set_observer_enabled(Any module, bool enabled) -> int",
      "set_qparam_learning_enabled(Any module, bool enabled) -> int",
      "set_learnable_mode(Any module, str mode) -> int",
  };
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    auto impl = [&](const char* name, auto&& fn) {
      if (ops::defined_by_plugin(defined, name)) lib.impl(name, std::forward<decltype(fn)>(fn));
    };
    impl("add_fake_quantize", TORCH_FN(add));
    impl("is_fake_quantize", TORCH_FN(is_fq));
    impl("fake_quantize_config", TORCH_FN(config));
    impl("set_fake_quant_enabled", TORCH_FN(fake_quant_enabled));
    impl("set_observer_enabled", TORCH_FN(observer_enabled));
    impl("set_qparam_learning_enabled", TORCH_FN(qparam_learning_enabled));
    impl("set_learnable_mode", TORCH_FN(learnable_mode));
  };
  return family;
}

}  // namespace observers
}  // namespace torch_pt2e
