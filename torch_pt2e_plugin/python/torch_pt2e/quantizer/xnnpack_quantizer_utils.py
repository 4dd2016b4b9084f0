"""XNNPACK annotators under upstream's names (xnnpack_quantizer_utils):
QuantizationConfig, OP_TO_ANNOTATOR, propagate_annotation.

Every annotator runs the C++ implementation
(torch_pt2e_plugin/quantizer/xnnpack_quantizer_utils.h) on the graph view a
quantizer's `annotate` receives, and records its annotations on the view's
`node.meta["quantization_annotation"]` as upstream's do, so they compose with
other Python quantizers:

    OP_TO_ANNOTATOR["linear"](model, quantization_config, filter_fn=None)

`filter_fn(node)` is called on the view's nodes (operators, weights, graph
inputs) and only patterns whose nodes it accepts are annotated.
"""

import json
from dataclasses import dataclass
from typing import Callable, Dict, List, NamedTuple, Optional

import torch

from .._wrap import wrap_cpp_module
from . import _bridge
from .quantizer import QuantizationSpec

__all__ = [
    "OP_TO_ANNOTATOR",
    "OperatorConfig",
    "OperatorPatternType",
    "QuantizationConfig",
    "get_bias_qspec",
    "get_input_act_qspec",
    "get_output_act_qspec",
    "get_weight_qspec",
    "propagate_annotation",
]


@dataclass(eq=True, frozen=True)
class QuantizationConfig:
    """The specs a pattern's annotations are built from (None: not observed)."""

    input_activation: Optional[QuantizationSpec]
    output_activation: Optional[QuantizationSpec]
    weight: Optional[QuantizationSpec]
    bias: Optional[QuantizationSpec]
    is_qat: bool = False


OperatorPatternType = List[Callable]


class OperatorConfig(NamedTuple):
    config: QuantizationConfig
    operators: List[OperatorPatternType]


def config_to_json(config: Optional[QuantizationConfig]):
    return _bridge.config_to_json(config)


def validate_config(config: Optional[QuantizationConfig]) -> None:
    """Raises (naming the field) if the C++ quantizers cannot use `config`."""
    if config is not None:
        torch.ops.torch_pt2e.validate_quantization_config(json.dumps(config_to_json(config)))


def config_from_json(data) -> Optional[QuantizationConfig]:
    if data is None:
        return None
    specs = {field: _bridge.spec_from_json(data[field]) for field in _bridge.CONFIG_FIELDS}
    if data["output_activation"] is not None and data["output_activation"] == data["input_activation"]:
        specs["output_activation"] = specs["input_activation"]
    return QuantizationConfig(is_qat=bool(data.get("is_qat", False)), **specs)


def _act_qspec(config: Optional[QuantizationConfig], field: str):
    if config is None or getattr(config, field) is None:
        return None
    spec = getattr(config, field)
    if spec.qscheme not in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        raise ValueError(f"QuantizationConfig.{field}: activations are quantized per tensor, got {spec}")
    return spec


def get_input_act_qspec(quantization_config: Optional[QuantizationConfig]):
    return _act_qspec(quantization_config, "input_activation")


def get_output_act_qspec(quantization_config: Optional[QuantizationConfig]):
    return _act_qspec(quantization_config, "output_activation")


def get_weight_qspec(quantization_config: Optional[QuantizationConfig]):
    if quantization_config is None or quantization_config.weight is None:
        return None
    spec = quantization_config.weight
    if spec.qscheme not in (torch.per_tensor_symmetric, torch.per_channel_symmetric, None):
        raise ValueError(f"Unsupported quantization_spec {spec} for weight")
    return spec


def get_bias_qspec(quantization_config: Optional[QuantizationConfig]):
    if quantization_config is None or quantization_config.bias is None:
        return None
    spec = quantization_config.bias
    if spec.dtype != torch.float:
        raise ValueError(f"Only float dtype for bias is supported for bias right now, got {spec}")
    return spec


def _annotator(name: str):
    def annotate(model, quantization_config: Optional[QuantizationConfig],
                 filter_fn: Optional[Callable] = None) -> List[List]:
        request = {
            "name": name,
            "config": config_to_json(quantization_config),
            "allowed": _bridge.allowed_values(model, filter_fn),
        }
        return _bridge.call("xnnpack_run_annotator", model, request,
                            _bridge.config_origins("config", quantization_config))

    annotate.__name__ = f"_annotate_{name}"
    annotate.__qualname__ = annotate.__name__
    annotate.__doc__ = f"Runs the C++ '{name}' annotator on the graph view `model`; returns the annotated partitions."
    return annotate


def _load_annotators() -> Dict[str, Callable]:
    return {name: _annotator(name) for name in torch.ops.torch_pt2e.xnnpack_annotator_names()}


# name -> annotator(model, quantization_config, filter_fn=None), in upstream's registration order.
OP_TO_ANNOTATOR: Dict[str, Callable] = _load_annotators()


def propagate_annotation(model) -> None:
    """Observer-sharing ops after an annotated output share its observer (C++ propagate_annotation)."""
    _bridge.call("xnnpack_propagate_annotation", model, {})


def _convert_scalars_to_attrs(model):
    """Scalar operands of add/mul become float32 buffers (XNNPACKQuantizer.transform_for_annotation)."""
    return wrap_cpp_module(torch.ops.torch_pt2e.xnnpack_transform_for_annotation(model._c))
