"""Annotations of a graph view as JSON for the C++ flow (format in
torch_pt2e_plugin/quantizer/annotation_json.h), and back.

Specs are read by duck typing (class name and fields), so upstream's own
spec classes (torch.ao.quantization.quantizer.*) are accepted too.
"""

import importlib
from typing import Any, Callable, Dict, List, Optional

import torch

from . import observer as _observer

_DERIVE_FNS: Dict[str, Callable] = {}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _qscheme_name(qscheme) -> Optional[str]:
    return None if qscheme is None else str(qscheme).replace("torch.", "")


def derive_fn_name(fn: Callable) -> str:
    """Registers `fn` and returns the name the C++ flow stores for it."""
    qualified = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    name = f"{qualified}#{id(fn):x}"
    _DERIVE_FNS[name] = fn
    return name


def register_derive_qparams_fn(fn: Callable) -> Callable:
    """Makes a derive function findable by its qualified name, for converting a
    prepared model in a process other than the one that prepared it."""
    _DERIVE_FNS[f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def resolve_derive_fn(name: str) -> Optional[Callable]:
    if name in _DERIVE_FNS:
        return _DERIVE_FNS[name]
    qualified = name.split("#", 1)[0]
    if qualified in _DERIVE_FNS:
        return _DERIVE_FNS[qualified]
    module_name, _, attr_path = qualified.rpartition(".")
    # Try every split point: "pkg.mod.Class.fn" may be module pkg.mod, attribute Class.fn.
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name, attr_path = ".".join(parts[:split]), parts[split:]
        if "<locals>" in attr_path:
            return None
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attr in attr_path:
                target = getattr(target, attr)
        except AttributeError:
            continue
        if callable(target):
            return target
    return None


def _observer_ctor_json(ctor) -> Dict[str, Any]:
    """{"name": observer class, "kwargs": its constructor arguments} of an
    observer description (torch_pt2e.observer or upstream's classes)."""
    config = _observer.observer_config(ctor)
    return {"name": config.pop("kind"), "kwargs": config}


class _Encoder:
    def __init__(self):
        self.specs: List[Dict[str, Any]] = []
        self._ids: Dict[int, int] = {}

    @staticmethod
    def edge_or_node(value) -> Dict[str, Any]:
        if isinstance(value, tuple):
            producer, consumer = value
            if consumer.ts_index is None:
                raise ValueError(f"an input edge must end at an operator node, got {consumer}")
            return {"edge": [producer.ts_value.unique(), consumer.ts_index]}
        if value.ts_value is None:
            raise ValueError(f"{value} has no single output to share with")
        return {"output": value.ts_value.unique()}

    def spec_id(self, spec) -> Optional[int]:
        if spec is None:
            return None
        key = id(spec)
        if key not in self._ids:
            self.specs.append(self.encode(spec))
            self._ids[key] = len(self.specs) - 1
        return self._ids[key]

    def encode(self, spec) -> Dict[str, Any]:
        kind = type(spec).__name__
        if kind == "QuantizationSpec":
            return {
                "kind": "quantization",
                "dtype": _dtype_name(spec.dtype),
                "quant_min": spec.quant_min,
                "quant_max": spec.quant_max,
                "qscheme": _qscheme_name(spec.qscheme),
                "ch_axis": spec.ch_axis,
                "is_dynamic": bool(spec.is_dynamic),
                "observer": _observer_ctor_json(spec.observer_or_fake_quant_ctr),
            }
        if kind == "FixedQParamsQuantizationSpec":
            return {
                "kind": "fixed",
                "dtype": _dtype_name(spec.dtype),
                "scale": float(spec.scale),
                "zero_point": int(spec.zero_point),
                "quant_min": spec.quant_min,
                "quant_max": spec.quant_max,
                "qscheme": _qscheme_name(spec.qscheme),
                "is_dynamic": bool(spec.is_dynamic),
            }
        if kind == "SharedQuantizationSpec":
            return {"kind": "shared", **self.edge_or_node(spec.edge_or_node)}
        if kind == "DerivedQuantizationSpec":
            return {
                "kind": "derived",
                "derived_from": [self.edge_or_node(e) for e in spec.derived_from],
                "fn": derive_fn_name(spec.derive_qparams_fn),
                "dtype": _dtype_name(spec.dtype),
                "quant_min": spec.quant_min,
                "quant_max": spec.quant_max,
                "qscheme": _qscheme_name(spec.qscheme),
                "ch_axis": spec.ch_axis,
                "is_dynamic": bool(spec.is_dynamic),
            }
        raise TypeError(f"unsupported quantization spec {type(spec).__module__}.{kind}")


def annotations_to_json(view) -> Dict[str, Any]:
    """Collects node.meta["quantization_annotation"] of a GraphModuleView."""
    encoder = _Encoder()
    entries = []
    for node in view.graph.nodes:
        annotation = node.meta.get("quantization_annotation")
        if annotation is None:
            continue
        if node.op in ("get_attr", "placeholder") and not annotation.input_qspec_map and annotation.output_qspec is None:
            continue  # only `_annotated` (a weight a pattern took in); nothing to observe
        if node.op != "call_function" or node.ts_index is None:
            raise ValueError(f"only operator nodes can be annotated, got {node.op} node {node}")
        inputs = []
        for producer, spec in annotation.input_qspec_map.items():
            if not hasattr(producer, "ts_value") or producer.ts_value is None:
                raise ValueError(f"input_qspec_map of {node} has a key that is not a node of this graph: {producer!r}")
            inputs.append([producer.ts_value.unique(), encoder.spec_id(spec)])
        entries.append({
            "node": node.ts_index,
            "inputs": inputs,
            "output": encoder.spec_id(annotation.output_qspec),
            "allow_implicit_sharing": bool(annotation.allow_implicit_sharing),
            "annotated": bool(getattr(annotation, "_annotated", False)),
        })
    return {"specs": encoder.specs, "annotations": entries}
