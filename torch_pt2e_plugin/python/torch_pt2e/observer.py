"""Observers for the TorchScript PT2E flow, under upstream's class names.

The classes here are descriptions, not modules: ``MinMaxObserver(dtype=torch.qint8)``
or ``HistogramObserver.with_args(eps=2**-12)`` say which observer to insert and
with which constructor arguments (upstream's names and defaults). The observer
module itself is created in C++ (torch_pt2e_plugin/observers/observer.h) as a
TorchScript submodule of the model, so a prepared model can be saved, loaded
and calibrated anywhere the plugin is loaded.

Upstream's own observer classes and ``with_args`` factories
(``torch.ao.quantization.observer.*``, torchao's ``torchao.quantization.pt2e.observer.*``)
are accepted wherever an observer is expected and mapped to the same configuration.
"""

import functools
import json
from typing import Any, Dict, Optional

import torch

from ._library import load_library

__all__ = [
    "FixedQParamsObserver",
    "HistogramObserver",
    "MinMaxObserver",
    "MovingAverageMinMaxObserver",
    "MovingAveragePerChannelMinMaxObserver",
    "ObserverConfigError",
    "PerChannelMinMaxObserver",
    "PlaceholderObserver",
    "add_observer",
    "is_observer",
    "observer_config",
    "read_observer_config",
]

_FP32_EPS = torch.finfo(torch.float32).eps

# Constructor parameters and defaults of each upstream class (torch 2.6);
# `None` where upstream's default is None. FixedQParams' scale and zero_point
# have no default.
_REQUIRED = object()
_KINDS: Dict[str, Dict[str, Any]] = {
    "MinMaxObserver": dict(dtype=torch.quint8, qscheme=torch.per_tensor_affine, reduce_range=False,
                           quant_min=None, quant_max=None, eps=_FP32_EPS, is_dynamic=False),
    "MovingAverageMinMaxObserver": dict(averaging_constant=0.01, dtype=torch.quint8,
                                        qscheme=torch.per_tensor_affine, reduce_range=False, quant_min=None,
                                        quant_max=None, eps=_FP32_EPS, is_dynamic=False),
    "PerChannelMinMaxObserver": dict(ch_axis=0, dtype=torch.quint8, qscheme=torch.per_channel_affine,
                                     reduce_range=False, quant_min=None, quant_max=None, eps=_FP32_EPS,
                                     is_dynamic=False),
    "MovingAveragePerChannelMinMaxObserver": dict(averaging_constant=0.01, ch_axis=0, dtype=torch.quint8,
                                                  qscheme=torch.per_channel_affine, reduce_range=False,
                                                  quant_min=None, quant_max=None, eps=_FP32_EPS,
                                                  is_dynamic=False),
    "HistogramObserver": dict(bins=2048, upsample_rate=16, dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                              reduce_range=False, quant_min=None, quant_max=None, eps=_FP32_EPS,
                              is_dynamic=False),
    "PlaceholderObserver": dict(dtype=torch.float32, custom_op_name="", compute_dtype=None, quant_min=None,
                                quant_max=None, qscheme=None, eps=None, is_dynamic=False),
    "FixedQParamsObserver": dict(scale=_REQUIRED, zero_point=_REQUIRED, dtype=torch.quint8,
                                 qscheme=torch.per_tensor_affine, quant_min=0, quant_max=255, is_dynamic=False),
}

# Upstream constructor arguments that only say where buffers live; the
# plugin's observers are created on the CPU like upstream's default.
_IGNORED_WHEN_NONE = ("factory_kwargs",)

# Modules whose observer classes map onto the plugin's by class name.
_UPSTREAM_MODULES = (
    "torch.ao.quantization.observer",
    "torch.quantization.observer",
    "torchao.quantization.pt2e.observer",
    "torchao.quantization.observer",
)


class ObserverConfigError(ValueError):
    """An observer description the plugin cannot turn into an observer."""


def _json_value(key: str, value: Any) -> Any:
    if isinstance(value, torch.dtype) or isinstance(value, torch.qscheme):
        return str(value).replace("torch.", "")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ObserverConfigError(f"{key} must be a number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    raise ObserverConfigError(f"{key}={value!r} ({type(value).__name__}) cannot be part of an observer config")


def _config(kind: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    params = _KINDS[kind]
    unknown = sorted(k for k in kwargs if k not in params and k not in _IGNORED_WHEN_NONE)
    if unknown:
        raise ObserverConfigError(f"{kind} does not take {', '.join(unknown)}; it takes {', '.join(params)}")
    for key in _IGNORED_WHEN_NONE:
        if kwargs.get(key) is not None:
            raise ObserverConfigError(f"{kind}: {key}={kwargs[key]!r} is not supported (observers live on the CPU)")
    config = {"kind": kind}
    for key, default in params.items():
        value = kwargs.get(key, default)
        if value is _REQUIRED:
            raise ObserverConfigError(f"{kind} needs {key}")
        config[key] = _json_value(key, value)
    if kind == "PlaceholderObserver":
        # Upstream's constructor resolves these two Nones.
        config["qscheme"] = config["qscheme"] or "per_tensor_affine"
        config["eps"] = _FP32_EPS if config["eps"] is None else config["eps"]
    return config


class _ObserverFactory:
    """What ``with_args`` returns: a callable with bound constructor arguments."""

    def __init__(self, cls, kwargs: Dict[str, Any]):
        self._cls = cls
        self._kwargs = dict(kwargs)

    def __call__(self, **kwargs):
        return self._cls(**{**self._kwargs, **kwargs})

    def with_args(self, **kwargs) -> "_ObserverFactory":
        return _ObserverFactory(self._cls, {**self._kwargs, **kwargs})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._kwargs.items())
        return f"{self._cls.__name__}.with_args({args})"


class _Observer:
    """Base of the descriptions: the observer kind and its constructor arguments."""

    _kind = ""

    def __init__(self, **kwargs):
        self.config = _config(self._kind, kwargs)

    @classmethod
    def with_args(cls, **kwargs) -> _ObserverFactory:
        return _ObserverFactory(cls, kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "kind")
        return f"{self._kind}({args})"


def _describe(kind: str, doc: str):
    cls = type(kind, (_Observer,), {"_kind": kind, "__doc__": doc, "__module__": __name__})
    return cls


MinMaxObserver = _describe("MinMaxObserver", "Running min/max (upstream's MinMaxObserver).")
MovingAverageMinMaxObserver = _describe(
    "MovingAverageMinMaxObserver", "Moving averages of min/max (upstream's MovingAverageMinMaxObserver).")
PerChannelMinMaxObserver = _describe(
    "PerChannelMinMaxObserver", "Running min/max per channel along ch_axis (upstream's PerChannelMinMaxObserver).")
MovingAveragePerChannelMinMaxObserver = _describe(
    "MovingAveragePerChannelMinMaxObserver",
    "Moving averages of min/max per channel (upstream's MovingAveragePerChannelMinMaxObserver).")
HistogramObserver = _describe(
    "HistogramObserver", "Histogram with an L2-optimal range search (upstream's HistogramObserver, torch 2.6).")
PlaceholderObserver = _describe(
    "PlaceholderObserver", "Records nothing; carries dtype and range for dynamic or float quantization.")
FixedQParamsObserver = _describe("FixedQParamsObserver", "Fixed scale and zero point.")


def _unwrap_upstream(obj) -> Optional[tuple]:
    """(class, kwargs) of an upstream class or chain of with_args/partial wrappers."""
    kwargs: Dict[str, Any] = {}
    seen = 0
    while seen < 32:
        seen += 1
        if isinstance(obj, type):
            return obj, kwargs
        callable_args = getattr(obj, "callable_args", None)
        inner = getattr(obj, "p", None)
        if isinstance(inner, functools.partial) and isinstance(callable_args, dict):
            # torch.ao's _PartialWrapper: callable_args are evaluated at construction.
            kwargs = {**{k: f() for k, f in callable_args.items()}, **kwargs}
            obj = inner
            continue
        if isinstance(obj, functools.partial):
            if obj.args:
                raise ObserverConfigError(
                    f"positional constructor arguments are not supported in {obj!r}; use keyword arguments")
            kwargs = {**obj.keywords, **kwargs}
            obj = obj.func
            continue
        return None
    return None


def observer_config(observer) -> Dict[str, Any]:
    """The JSON-ready configuration of an observer description.

    Accepts this module's classes, instances and ``with_args`` factories, and
    upstream's observer classes and ``with_args`` factories."""
    if isinstance(observer, _Observer):
        return dict(observer.config)
    if isinstance(observer, _ObserverFactory):
        return dict(observer().config)
    if isinstance(observer, type) and issubclass(observer, _Observer) and observer is not _Observer:
        return dict(observer().config)
    unwrapped = _unwrap_upstream(observer)
    if unwrapped is not None:
        cls, kwargs = unwrapped
        if isinstance(cls, type) and issubclass(cls, _Observer) and cls is not _Observer:
            return dict(cls(**kwargs).config)
        module = getattr(cls, "__module__", "")
        if module in _UPSTREAM_MODULES and cls.__name__ in _KINDS:
            return _config(cls.__name__, kwargs)
        name = f"{module}.{getattr(cls, '__qualname__', cls)}"
        raise ObserverConfigError(
            f"unsupported observer class {name}; supported: {', '.join(_KINDS)} "
            f"(from torch_pt2e.observer, {' or '.join(_UPSTREAM_MODULES[:3])})")
    if isinstance(observer, torch.nn.Module):
        raise ObserverConfigError(
            f"got an observer instance ({type(observer).__module__}.{type(observer).__qualname__}); "
            "pass its class or a with_args(...) factory")
    raise ObserverConfigError(f"not an observer description: {observer!r}")


def _script_module_c(module):
    c = getattr(module, "_c", None)
    if c is None or not isinstance(module, torch.jit.ScriptModule):
        raise TypeError(f"expected a torch.jit.ScriptModule, got {type(module).__name__}")
    return c


def add_observer(model, name: str, observer):
    """Creates an observer and registers it as submodule `name` of the scripted `model`.

    Returns the observer as a ScriptModule. The Python wrapper `model` does not
    list the new submodule among its attributes; re-wrap it with
    ``torch.jit._recursive.wrap_cpp_module(model._c)`` (the C++ module is the same)."""
    load_library()
    config = observer_config(observer)
    c = _script_module_c(model)
    torch.ops.torch_pt2e.add_observer(c, name, json.dumps(config))
    return torch.jit._recursive.wrap_cpp_module(c.getattr(name))


def is_observer(module) -> bool:
    """True for observers created by the plugin (also after save and load)."""
    load_library()
    c = getattr(module, "_c", None)
    return c is not None and bool(torch.ops.torch_pt2e.is_observer(c))


def read_observer_config(observer) -> Dict[str, Any]:
    """The configuration a plugin observer module was created with."""
    load_library()
    return json.loads(torch.ops.torch_pt2e.observer_config(_script_module_c(observer)))
