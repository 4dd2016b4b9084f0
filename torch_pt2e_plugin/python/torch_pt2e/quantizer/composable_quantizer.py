"""ComposableQuantizer under upstream's name: quantizers applied in order to
one graph view (C++ and Python quantizers alike, since both leave their
annotations on node.meta).

Once a quantizer has annotated a node, a later quantizer that replaces or
removes that annotation, or changes its inputs, specs or sharing, raises a
RuntimeError naming the node and both quantizers. (Upstream compares only
the annotation objects' identity.)
"""

from typing import Any, Dict, List, Tuple

from .quantizer import Quantizer

__all__ = ["ComposableQuantizer"]

_KEY = "quantization_annotation"


def _fingerprint(annotation) -> Tuple[Any, ...]:
    inputs = tuple((id(node), id(spec)) for node, spec in (annotation.input_qspec_map or {}).items())
    return (id(annotation), inputs, id(annotation.output_qspec), bool(annotation.allow_implicit_sharing))


class ComposableQuantizer(Quantizer):
    def __init__(self, quantizers: List[Quantizer]):
        super().__init__()
        self.quantizers = quantizers
        self._graph_annotations: Dict[Any, Any] = {}

    def _record_and_validate_annotations(self, model, index: int, recorded: Dict[Any, Tuple[int, Tuple]]) -> None:
        quantizer = self.quantizers[index]
        for node in model.graph.nodes:
            annotation = node.meta.get(_KEY)
            if node not in recorded:
                if annotation is not None:
                    recorded[node] = (index, _fingerprint(annotation))
                    self._graph_annotations[node] = annotation
                continue
            owner_index, fingerprint = recorded[node]
            owner = type(self.quantizers[owner_index]).__name__
            if annotation is None:
                raise RuntimeError(
                    f"Quantizer {type(quantizer).__name__} (quantizer {index}) has removed annotations on node "
                    f"{node} that {owner} (quantizer {owner_index}) made")
            if _fingerprint(annotation) != fingerprint:
                raise RuntimeError(
                    f"Quantizer {type(quantizer).__name__} (quantizer {index}) has changed annotations on node "
                    f"{node} that {owner} (quantizer {owner_index}) made")

    def annotate(self, model):
        recorded: Dict[Any, Tuple[int, Tuple]] = {}
        for index, quantizer in enumerate(self.quantizers):
            quantizer.annotate(model)
            self._record_and_validate_annotations(model, index, recorded)
        return model

    def transform_for_annotation(self, model):
        for quantizer in self.quantizers:
            transformed = quantizer.transform_for_annotation(model)
            model = model if transformed is None else transformed
        return model

    def validate(self, model) -> None:
        pass
