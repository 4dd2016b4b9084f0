"""The quantizer vocabulary under torchao's names
(torchao.quantization.pt2e.quantizer): specs, annotations and the Quantizer base.

Quantizers annotate the nodes of a TorchScript graph seen through
`torch_pt2e.graph_view` (an FX-like view: `node.op`, `node.target`,
`node.args`, `node.meta`), exactly as upstream quantizers annotate FX graphs:
`node.meta["quantization_annotation"] = QuantizationAnnotation(...)`, with
input edges keyed by the producing node.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch

__all__ = [
    "DerivedQuantizationSpec",
    "EdgeOrNode",
    "FixedQParamsQuantizationSpec",
    "QuantizationAnnotation",
    "QuantizationSpec",
    "QuantizationSpecBase",
    "Quantizer",
    "SharedQuantizationSpec",
]


class QuantizationSpecBase(ABC):  # noqa: B024
    """Base of the quantization specs (what an edge or output should become)."""


@dataclass(eq=True, frozen=True)
class QuantizationSpec(QuantizationSpecBase):
    """Quantize with an observer or fake-quantize module built by
    `observer_or_fake_quant_ctr` (e.g. `HistogramObserver.with_args(eps=2**-12)`)."""

    dtype: torch.dtype
    observer_or_fake_quant_ctr: Any
    quant_min: Optional[int] = None
    quant_max: Optional[int] = None
    qscheme: Optional[torch.qscheme] = None
    ch_axis: Optional[int] = None
    is_dynamic: bool = False

    def __post_init__(self):
        if self.quant_min is not None and self.quant_max is not None and self.quant_min > self.quant_max:
            raise ValueError(
                f"quant_min {self.quant_min} must be <= quant_max {self.quant_max}."
            )
        if self.ch_axis is not None and self.ch_axis < 0:
            raise ValueError("Ch_axis is < 0.")


@dataclass(eq=True, frozen=True)
class FixedQParamsQuantizationSpec(QuantizationSpecBase):
    """Quantize with a fixed scale and zero point (e.g. sigmoid's output)."""

    dtype: torch.dtype
    scale: float
    zero_point: int
    quant_min: Optional[int] = None
    quant_max: Optional[int] = None
    qscheme: Optional[torch.qscheme] = None
    is_dynamic: bool = False


# An input edge (producer node, consumer node) or a node (its output).
EdgeOrNode = Union[Tuple[Any, Any], Any]


@dataclass(eq=True, frozen=True)
class SharedQuantizationSpec(QuantizationSpecBase):
    """Use the same observer as another input edge or output."""

    edge_or_node: EdgeOrNode


@dataclass(eq=True, frozen=True)
class DerivedQuantizationSpec(QuantizationSpecBase):
    """Qparams computed at convert time by `derive_qparams_fn(observers)` from
    the observers of `derived_from` (e.g. a bias scale = input scale * weight
    scale). The function must be importable by its qualified name if the
    prepared model is converted in another process (or registered again
    there with `torch_pt2e.quantize_pt2e.register_derive_qparams_fn`)."""

    derived_from: List[EdgeOrNode]
    derive_qparams_fn: Callable[[List[Any]], Tuple[torch.Tensor, torch.Tensor]]
    dtype: torch.dtype
    quant_min: Optional[int] = None
    quant_max: Optional[int] = None
    qscheme: Optional[torch.qscheme] = None
    ch_axis: Optional[int] = None
    is_dynamic: bool = False


@dataclass
class QuantizationAnnotation:
    """How a node's inputs and output are quantized."""

    input_qspec_map: Dict[Any, Optional[QuantizationSpecBase]] = field(default_factory=dict)
    output_qspec: Optional[QuantizationSpecBase] = None
    allow_implicit_sharing: bool = True
    _annotated: bool = False


class Quantizer(ABC):
    """Annotates a TorchScript model (seen through torch_pt2e.graph_view) for prepare_pt2e."""

    def transform_for_annotation(self, model):
        """May return a rewritten model before annotation (default: unchanged)."""
        return model

    @abstractmethod
    def annotate(self, model):
        """Sets node.meta["quantization_annotation"] on the nodes of model.graph."""

    @abstractmethod
    def validate(self, model) -> None:
        """Raises if the annotated model cannot be lowered by the backend."""

    def prepare_obs_or_fq_callback(self, model, edge_or_node_to_obs_or_fq) -> None:
        """Upstream's hook to edit observer instances before insertion. Observers
        here are C++ modules created by prepare_pt2e, so a quantizer that
        overrides this hook is rejected by prepare_pt2e with an explanation."""
        return None
