"""ComposableQuantizer: quantizers applied in order (C++ and Python ones
alike), and the errors when a later quantizer changes or removes what an
earlier one annotated."""

import pytest
import torch

from quantizer_testing import CAPTURES, annotation, canonical_view, is_annotated, op
from torch_pt2e.quantizer.composable_quantizer import ComposableQuantizer
from torch_pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer
from torch_pt2e.quantizer.quantizer import QuantizationAnnotation, QuantizationSpec, Quantizer
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
from torch_pt2e import observer

aten = torch.ops.aten
CONFIG = get_symmetric_quantization_config()
UINT8 = QuantizationSpec(dtype=torch.uint8, observer_or_fake_quant_ctr=observer.MinMaxObserver, quant_min=0,
                         quant_max=255, qscheme=torch.per_tensor_affine)


class LinearAdd(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, y):
        return self.linear(x) + y


class AddQuantizer(Quantizer):
    """A Python quantizer: uint8 add."""

    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.add.Tensor:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: UINT8, node.args[1]: UINT8}, output_qspec=UINT8, _annotated=True)

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_first_quantizer_wins(how):
    quantizer = ComposableQuantizer([AddQuantizer(), XNNPACKQuantizer().set_global(CONFIG)])
    view = canonical_view(LinearAdd(), (torch.randn(2, 4), torch.randn(2, 4)), how, transform=quantizer)
    quantizer.annotate(view)
    add = op(view, aten.add.Tensor)
    assert annotation(add).output_qspec is UINT8
    assert annotation(op(view, aten.linear.default)).output_qspec is CONFIG.output_activation


class Overwrite(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.linear.default:
                node.meta["quantization_annotation"].output_qspec = UINT8

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_changing_an_earlier_annotation_is_an_error(how):
    quantizer = ComposableQuantizer([XNNPACKQuantizer().set_global(CONFIG), Overwrite()])
    view = canonical_view(LinearAdd(), (torch.randn(2, 4), torch.randn(2, 4)), how, transform=quantizer)
    with pytest.raises(RuntimeError, match=r"Overwrite \(quantizer 1\) has changed annotations on node \S+ that "
                                           r"XNNPACKQuantizer \(quantizer 0\) made"):
        quantizer.annotate(view)


class Embedding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, indices):
        return self.linear(self.emb(indices))


@pytest.mark.parametrize("how", CAPTURES)
def test_cpp_quantizers_compose(how):
    quantizer = ComposableQuantizer([EmbeddingQuantizer(), XNNPACKQuantizer().set_global(CONFIG)])
    view = canonical_view(Embedding(), (torch.tensor([[1, 2, 3]]),), how, transform=quantizer)
    quantizer.annotate(view)
    assert annotation(op(view, aten.embedding.default)) is not None
    assert is_annotated(op(view, aten.linear.default))
