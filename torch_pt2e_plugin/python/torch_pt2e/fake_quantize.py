"""Fake-quantize modules of the TorchScript QAT flow and upstream's helpers
that switch them (torch.ao.quantization.enable_fake_quant, ...), applied to a
whole ScriptModule: every fake-quantize module in its tree is set.

    prepared = prepare_qat_pt2e(torch.jit.script(model), quantizer)
    ...train...
    disable_observer(prepared)      # freeze scales and zero points
    enable_fake_quant(prepared)

The modules are C++ classes (torch_pt2e_plugin/observers/fake_quantize.h)
with upstream's buffers: fake_quant_enabled, observer_enabled, scale,
zero_point, and the observer as `activation_post_process`. A
LearnableFakeQuantize (upstream's _LearnableFakeQuantize) has Parameters
scale and zero_point and buffers static_enabled and learning_enabled; switch
it with enable_param_learning / enable_static_estimate /
enable_static_observation.
"""

import json
from typing import Any, Dict

import torch

__all__ = [
    "add_fake_quantize",
    "disable_fake_quant",
    "disable_observer",
    "enable_fake_quant",
    "enable_observer",
    "enable_param_learning",
    "enable_static_estimate",
    "enable_static_observation",
    "fake_quantize_config",
    "is_fake_quantize",
    "toggle_qparam_learning",
]


def _cpp_module(module, fn: str):
    c = getattr(module, "_c", None)
    if c is None:
        raise TypeError(f"{fn} expects a TorchScript module, got {type(module).__name__}")
    return c


def enable_fake_quant(module) -> int:
    """Turns fake quantization on in every fake-quantize module of `module`; returns how many."""
    return torch.ops.torch_pt2e.set_fake_quant_enabled(_cpp_module(module, "enable_fake_quant"), True)


def disable_fake_quant(module) -> int:
    """Turns fake quantization off (forward passes values through) in every fake-quantize module."""
    return torch.ops.torch_pt2e.set_fake_quant_enabled(_cpp_module(module, "disable_fake_quant"), False)


def enable_observer(module) -> int:
    """Lets every fake-quantize module update its statistics and qparams again."""
    return torch.ops.torch_pt2e.set_observer_enabled(_cpp_module(module, "enable_observer"), True)


def disable_observer(module) -> int:
    """Freezes the statistics, scales and zero points of every fake-quantize module."""
    return torch.ops.torch_pt2e.set_observer_enabled(_cpp_module(module, "disable_observer"), False)


def toggle_qparam_learning(module, enabled: bool = True) -> int:
    """Upstream's toggle_qparam_learning on every LearnableFakeQuantize: sets
    learning_enabled and requires_grad of scale and zero_point."""
    c = _cpp_module(module, "toggle_qparam_learning")
    return torch.ops.torch_pt2e.set_qparam_learning_enabled(c, enabled)


def enable_param_learning(module) -> int:
    """Every LearnableFakeQuantize learns scale/zero_point and fake-quantizes; its observer stops."""
    return torch.ops.torch_pt2e.set_learnable_mode(_cpp_module(module, "enable_param_learning"), "param_learning")


def enable_static_estimate(module) -> int:
    """Every LearnableFakeQuantize takes scale/zero_point from its observer and fake-quantizes."""
    return torch.ops.torch_pt2e.set_learnable_mode(_cpp_module(module, "enable_static_estimate"), "static_estimate")


def enable_static_observation(module) -> int:
    """Every LearnableFakeQuantize observes and sets scale/zero_point, passing values through unchanged."""
    return torch.ops.torch_pt2e.set_learnable_mode(
        _cpp_module(module, "enable_static_observation"), "static_observation")


def is_fake_quantize(module) -> bool:
    c = getattr(module, "_c", None)
    return c is not None and bool(torch.ops.torch_pt2e.is_fake_quantize(c))


def fake_quantize_config(module) -> Dict[str, Any]:
    """{"kind": "FakeQuantize" | "FusedMovingAvgObsFakeQuantize" | "FixedQParamsFakeQuantize" |
    "LearnableFakeQuantize", "observer": observer config}, plus scale, zero_point, channel_len and
    use_grad_scaling (the constructor's) for LearnableFakeQuantize."""
    return json.loads(torch.ops.torch_pt2e.fake_quantize_config(_cpp_module(module, "fake_quantize_config")))


def add_fake_quantize(owner, name: str, kind: str, **kwargs):
    """Adds a fake-quantize module to the ScriptModule `owner` as `name` and returns it (a ScriptModule).

    kind is "FakeQuantize", "FusedMovingAvgObsFakeQuantize", "FixedQParamsFakeQuantize" or
    "LearnableFakeQuantize" (upstream's _LearnableFakeQuantize); kwargs are upstream's
    constructor arguments (dtype and qscheme as torch objects or their names,
    observer as a class name or {"name", "kwargs"}).
    """
    encoded = {}
    for key, value in kwargs.items():
        if isinstance(value, (torch.dtype, torch.qscheme)):
            value = str(value).replace("torch.", "")
        encoded[key] = value
    c = _cpp_module(owner, "add_fake_quantize")
    torch.ops.torch_pt2e.add_fake_quantize(c, name, kind, json.dumps(encoded))
    # The Python wrapper `owner` does not list the new submodule; the C++ module does.
    return torch.jit._recursive.wrap_cpp_module(c.getattr(name))
