"""Specs, configs and annotations between Python objects and the JSON the C++
quantizers read and write (torch_pt2e_plugin/quantizer/annotation_json.h,
quantization_config.h).

Python quantizers keep upstream's object model: annotations are
QuantizationAnnotation objects on the graph view's `node.meta`. To run a C++
annotator, the view's annotations so far go to C++ as JSON; the entries C++
adds or changes come back and are applied to the view, reusing the spec
objects they came from (so `annotation.output_qspec is config.output_activation`
holds as upstream).
"""

import functools
import json
import operator
from typing import Any, Callable, Dict, List, Optional

import torch

from .. import _annotations
from .. import observer as _observer
from .quantizer import (
    DerivedQuantizationSpec,
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    SharedQuantizationSpec,
)

# Fake-quantize constructors that QAT configs name (built by prepare_qat_pt2e).
_FAKE_QUANTIZE_NAMES = ("FakeQuantize", "FusedMovingAvgObsFakeQuantize", "FixedQParamsFakeQuantize",
                        "_LearnableFakeQuantize")
_DTYPE_KEYS = ("dtype", "compute_dtype")

ANNOTATION_KEY = "quantization_annotation"


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _torch_attr(name: Optional[str]):
    if name is None:
        return None
    value = getattr(torch, name, None)
    if value is None:
        raise ValueError(f"unknown torch attribute {name!r}")
    return value


# ---- observer / fake-quantize constructors ------------------------------------


def ctor_to_json(ctor) -> Dict[str, Any]:
    """{"name", "kwargs"} of an observer or fake-quantize constructor
    (torch_pt2e.observer descriptions, upstream's classes or with_args)."""
    try:
        config = _observer.observer_config(ctor)
        return {"name": config.pop("kind"), "kwargs": config}
    except _observer.ObserverConfigError:
        unwrapped = _observer._unwrap_upstream(ctor)
        if unwrapped is None or getattr(unwrapped[0], "__name__", None) not in _FAKE_QUANTIZE_NAMES:
            raise
    cls, kwargs = unwrapped
    encoded = {}
    for key, value in kwargs.items():
        encoded[key] = ctor_to_json(value) if key == "observer" else _observer._json_value(key, value)
    return {"name": cls.__name__, "kwargs": encoded}


def _decode_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    decoded = {}
    for key, value in kwargs.items():
        if key in _DTYPE_KEYS and isinstance(value, str):
            value = _torch_attr(value)
        elif key == "qscheme" and isinstance(value, str):
            value = _torch_attr(value)
        decoded[key] = value
    return decoded


def ctor_from_json(data: Dict[str, Any]):
    """The constructor a {"name", "kwargs"} describes: torch_pt2e.observer's
    descriptions for observers, upstream's classes for fake-quantize modules."""
    name, kwargs = data["name"], dict(data.get("kwargs", {}))
    if name in _FAKE_QUANTIZE_NAMES:
        from torch.ao.quantization import fake_quantize as upstream_fake_quantize
        from torch.ao.quantization import observer as upstream_observer

        if isinstance(kwargs.get("observer"), dict):
            inner = kwargs["observer"]
            cls = getattr(upstream_observer, inner["name"])
            inner_kwargs = _decode_kwargs(inner.get("kwargs", {}))
            kwargs["observer"] = cls.with_args(**inner_kwargs) if inner_kwargs else cls
        if name == "_LearnableFakeQuantize":
            from torch.ao.quantization import _learnable_fake_quantize as upstream_learnable

            return upstream_learnable._LearnableFakeQuantize.with_args(**_decode_kwargs(kwargs))
        return getattr(upstream_fake_quantize, name).with_args(**_decode_kwargs(kwargs))
    cls = getattr(_observer, name, None)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, _observer._Observer):
        raise ValueError(f"unknown observer {name!r} in a quantization spec")
    return cls.with_args(**_decode_kwargs(kwargs))


# ---- specs and configs -----------------------------------------------------------


def spec_to_json(spec: Optional[QuantizationSpec]) -> Optional[Dict[str, Any]]:
    if spec is None:
        return None
    if type(spec).__name__ != "QuantizationSpec":
        raise TypeError(f"a QuantizationConfig holds QuantizationSpec objects, got {type(spec).__name__}")
    return {
        "kind": "quantization",
        "dtype": _dtype_name(spec.dtype),
        "quant_min": spec.quant_min,
        "quant_max": spec.quant_max,
        "qscheme": None if spec.qscheme is None else str(spec.qscheme).replace("torch.", ""),
        "ch_axis": spec.ch_axis,
        "is_dynamic": bool(spec.is_dynamic),
        "observer": ctor_to_json(spec.observer_or_fake_quant_ctr),
    }


def spec_from_json(data: Optional[Dict[str, Any]], ctors: Optional[Dict[str, Any]] = None
                   ) -> Optional[QuantizationSpec]:
    """`ctors` (constructor JSON key -> constructor) lets a new spec reuse a
    known spec's constructor object, as upstream's change_quantization_config does."""
    if data is None:
        return None
    ctor = (ctors or {}).get(spec_key(data["observer"]))
    return QuantizationSpec(
        dtype=_torch_attr(data["dtype"]),
        observer_or_fake_quant_ctr=ctor if ctor is not None else ctor_from_json(data["observer"]),
        quant_min=data.get("quant_min"),
        quant_max=data.get("quant_max"),
        qscheme=_torch_attr(data.get("qscheme")),
        ch_axis=data.get("ch_axis"),
        is_dynamic=bool(data.get("is_dynamic", False)),
    )


CONFIG_FIELDS = ("input_activation", "output_activation", "weight", "bias")


def config_to_json(config) -> Optional[Dict[str, Any]]:
    if config is None:
        return None
    data = {field: spec_to_json(getattr(config, field)) for field in CONFIG_FIELDS}
    data["is_qat"] = bool(config.is_qat)
    return data


def spec_key(data: Dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)


# ---- annotations of a graph view --------------------------------------------------


class _StateEncoder(_annotations._Encoder):
    """Encodes the view's annotations; remembers which object each spec came from."""

    def __init__(self):
        super().__init__()
        self.objects: Dict[str, Any] = {}

    def encode(self, spec) -> Dict[str, Any]:
        data = spec_to_json(spec) if type(spec).__name__ == "QuantizationSpec" else super().encode(spec)
        self.objects.setdefault(spec_key(data), spec)
        return data


def _view_nodes(view):
    """(node index -> view node, value id -> view node) of a GraphModuleView."""
    by_index, by_value = {}, {}
    for node in view.graph.nodes:
        if node.op == "call_function" and node.target is not operator.getitem and node.ts_index is not None:
            by_index[node.ts_index] = node
        if node.ts_value is not None:
            by_value[node.ts_value.unique()] = node
        if node.op == "get_attr":
            by_value[node.ts_node.output().unique()] = node
    return by_index, by_value


def _is_empty(annotation) -> bool:
    return not annotation.input_qspec_map and annotation.output_qspec is None


def encode_state(view, known: Dict[str, Any]) -> Dict[str, Any]:
    """The view's annotations as annotation_json.h JSON; fills `known` with
    spec JSON key -> spec object."""
    encoder = _StateEncoder()
    entries, marked = [], []
    for node in view.graph.nodes:
        annotation = node.meta.get(ANNOTATION_KEY)
        if annotation is None:
            continue
        if node.op in ("get_attr", "placeholder"):
            if not _is_empty(annotation):
                raise ValueError(f"{node.op} node {node} carries quantization specs; only operator nodes can")
            if getattr(annotation, "_annotated", False):
                marked.append(node.ts_value.unique())
            continue
        if node.op != "call_function" or node.target is operator.getitem or node.ts_index is None:
            raise ValueError(f"only operator nodes can be annotated, got {node.op} node {node}")
        inputs = [[producer.ts_value.unique(), encoder.spec_id(spec)]
                  for producer, spec in annotation.input_qspec_map.items()]
        entries.append({
            "node": node.ts_index,
            "inputs": inputs,
            "output": encoder.spec_id(annotation.output_qspec),
            "allow_implicit_sharing": bool(annotation.allow_implicit_sharing),
            "annotated": bool(getattr(annotation, "_annotated", False)),
        })
    known.update(encoder.objects)
    return {"specs": encoder.specs, "annotations": entries, "marked": marked}


def allowed_values(view, filter_fn: Optional[Callable]) -> Optional[List[int]]:
    """Value ids of the view nodes `filter_fn` accepts (None: no filter).
    C++ annotators see an operator node as its first output."""
    if filter_fn is None:
        return None
    allowed = []
    for node in view.graph.nodes:
        if node.op == "placeholder" or node.op == "get_attr":
            ids = [node.ts_value.unique()]
            if node.op == "get_attr":
                ids.append(node.ts_node.output().unique())
        elif node.op == "call_function" and node.target is not operator.getitem and node.ts_node is not None:
            outputs = list(node.ts_node.outputs())
            ids = [outputs[0].unique()] if outputs else []
        else:
            continue
        if ids and filter_fn(node):
            allowed.extend(ids)
    return allowed


def _known_ctors(known: Dict[str, Any]) -> Dict[str, Any]:
    ctors = {}
    for key, spec in known.items():
        data = json.loads(key)
        if data.get("kind") == "quantization":
            ctors.setdefault(spec_key(data["observer"]), spec.observer_or_fake_quant_ctr)
    return ctors


def _decode_spec(data, known, by_index, by_value):
    key = spec_key(data)
    if key in known:
        return known[key]
    kind = data["kind"]
    if kind == "quantization":
        spec = spec_from_json(data, _known_ctors(known))
    elif kind == "shared":
        if "edge" in data:
            spec = SharedQuantizationSpec((by_value[data["edge"][0]], by_index[data["edge"][1]]))
        else:
            spec = SharedQuantizationSpec(by_value[data["output"]])
    elif kind == "fixed":
        spec = FixedQParamsQuantizationSpec(
            dtype=_torch_attr(data["dtype"]), scale=data["scale"], zero_point=data["zero_point"],
            quant_min=data.get("quant_min"), quant_max=data.get("quant_max"),
            qscheme=_torch_attr(data.get("qscheme")), is_dynamic=bool(data.get("is_dynamic", False)))
    elif kind == "derived":
        def source(item):
            if "edge" in item:
                return (by_value[item["edge"][0]], by_index[item["edge"][1]])
            return by_value[item["output"]]

        spec = DerivedQuantizationSpec(
            derived_from=[source(item) for item in data["derived_from"]],
            derive_qparams_fn=_annotations.resolve_derive_fn(data["fn"]),
            dtype=_torch_attr(data["dtype"]), quant_min=data.get("quant_min"), quant_max=data.get("quant_max"),
            qscheme=_torch_attr(data.get("qscheme")), ch_axis=data.get("ch_axis"),
            is_dynamic=bool(data.get("is_dynamic", False)))
    else:
        raise ValueError(f"unknown spec kind {kind!r} from the C++ quantizer")
    known[key] = spec
    return spec


def config_origins(prefix: str, config) -> Dict[str, Any]:
    """"<prefix>/<field>" -> spec object, the names C++ answers give config specs."""
    if config is None:
        return {}
    return {f"{prefix}/{field}": getattr(config, field) for field in CONFIG_FIELDS
            if getattr(config, field) is not None}


def apply_answer(view, answer: Dict[str, Any], known: Dict[str, Any],
                 origins: Optional[Dict[str, Any]] = None) -> List[List[Any]]:
    """Applies a C++ answer to the view's node.meta; returns its partitions as view nodes.

    Specs that C++ took from a config ("origins") become that config's spec
    objects, others the view's existing objects of equal content, or new ones.
    An existing annotation object is updated in place (as upstream's
    annotators do); nodes without one get a new QuantizationAnnotation."""
    by_index, by_value = _view_nodes(view)
    origins = origins or {}
    answer_origins = answer.get("origins") or [None] * len(answer.get("specs", []))
    specs = []
    for data, origin in zip(answer.get("specs", []), answer_origins):
        if origin is not None and origin in origins:
            specs.append(origins[origin])
        else:
            specs.append(_decode_spec(data, known, by_index, by_value))

    def spec_at(index):
        return None if index is None else specs[index]

    for entry in answer.get("annotations", []):
        node = by_index[entry["node"]]
        input_qspec_map = {by_value[value]: spec_at(spec) for value, spec in entry["inputs"]}
        annotation = node.meta.get(ANNOTATION_KEY)
        if annotation is None:
            annotation = QuantizationAnnotation()
            node.meta[ANNOTATION_KEY] = annotation
        if annotation.input_qspec_map is None:
            annotation.input_qspec_map = {}
        if dict(annotation.input_qspec_map) != input_qspec_map:
            annotation.input_qspec_map.clear()
            annotation.input_qspec_map.update(input_qspec_map)
        annotation.output_qspec = spec_at(entry["output"])
        annotation.allow_implicit_sharing = entry["allow_implicit_sharing"]
        annotation._annotated = entry["annotated"]
    for value in answer.get("marked", []):
        node = by_value[value]
        annotation = node.meta.get(ANNOTATION_KEY)
        if annotation is None:
            annotation = QuantizationAnnotation()
            node.meta[ANNOTATION_KEY] = annotation
        annotation._annotated = True
    return [[by_value[value] for value in partition] for partition in answer.get("partitions", [])]


def _script_module_c(model):
    c = getattr(model, "_c", None)
    if c is None:
        raise TypeError(
            "expected the graph view prepare_pt2e hands to Quantizer.annotate (torch_pt2e.graph_view."
            f"GraphModuleView), got {type(model).__name__}")
    return c


def call(op_name: str, view, request: Dict[str, Any], origins: Optional[Dict[str, Any]] = None):
    """Runs torch.ops.torch_pt2e.<op_name> on the view's module with the view's
    annotations; applies and returns the answer's partitions. `origins` names
    the config spec objects the answer may refer to (config_origins)."""
    known: Dict[str, Any] = {}
    for spec in (origins or {}).values():
        known.setdefault(spec_key(spec_to_json(spec)), spec)
    request = dict(request)
    request["annotations"] = encode_state(view, known)
    op = getattr(torch.ops.torch_pt2e, op_name)
    answer = json.loads(op(_script_module_c(view), json.dumps(request)))
    return apply_answer(view, answer, known, origins)


@functools.lru_cache(maxsize=None)
def embedding_weight_spec() -> QuantizationSpec:
    return spec_from_json(json.loads(torch.ops.torch_pt2e.embedding_weight_spec()))
