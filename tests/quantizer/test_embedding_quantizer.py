"""EmbeddingQuantizer: the weight spec (uint8, one scale and float zero point
per row), its annotation, and the quantized table it produces."""

import pytest
import torch

from flow.flow_testing import QD, quantize
from quantizer_testing import CAPTURES, annotation, canonical_view, op
from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantizer import _bridge
from torch_pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer, get_embedding_operators_config
from torch_pt2e import observer

aten = torch.ops.aten


class Embedding(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 12)

    def forward(self, indices):
        return self.emb(indices)


INDICES = torch.tensor([[9, 6, 5, 7], [0, 8, 4, 6]])


def test_weight_spec():
    spec = get_embedding_operators_config().config.weight
    assert (spec.dtype, spec.qscheme, spec.ch_axis, spec.quant_min, spec.quant_max, spec.is_dynamic) == (
        torch.uint8, torch.per_channel_affine_float_qparams, 0, None, None, False)
    assert _bridge.ctor_to_json(spec.observer_or_fake_quant_ctr) == _bridge.ctor_to_json(
        observer.PerChannelMinMaxObserver.with_args(eps=2**-12))


@pytest.mark.parametrize("how", CAPTURES)
def test_annotates_the_table(how):
    view = canonical_view(Embedding(), (INDICES,), how)
    EmbeddingQuantizer().annotate(view)
    node = op(view, aten.embedding.default)
    found = annotation(node)
    assert found.input_qspec_map == {node.args[0]: get_embedding_operators_config().config.weight}
    # as upstream's EmbeddingQuantizer: not marked `_annotated`, no output spec
    assert found.output_qspec is None and not found._annotated


@pytest.mark.parametrize("how", CAPTURES)
def test_quantized_table_has_float_zero_points(how):
    torch.manual_seed(0)
    model = Embedding().eval()
    _, m = quantize(model, (INDICES,), EmbeddingQuantizer(), how)
    dq = next(n for n in GraphModuleView(m).graph.nodes
              if n.op == "call_function" and n.target == QD.dequantize_per_channel.default)
    table, scales, zero_points = (getattr(m, a.target) for a in dq.args[:3])
    assert table.dtype == torch.uint8 and table.shape == (10, 12)
    assert scales.shape == (10,) and zero_points.dtype == torch.float32
    # per row: scale = (max - min) / 255, zero point = -min / scale (a float)
    weight = model.emb.weight.detach()
    low, high = weight.min(dim=1).values, weight.max(dim=1).values
    expected_scale = (high - low) / 255
    assert torch.allclose(scales.float(), expected_scale, rtol=1e-6)
    assert torch.allclose(zero_points, -low / expected_scale, rtol=1e-5)
    # upstream's arithmetic (_decomposed.py): round, add the float zero point,
    # clamp, then cast (which truncates); dequantize subtracts the float zero point
    expected = torch.clamp(torch.round(weight * (1.0 / scales)[:, None]) + zero_points[:, None], 0, 255)
    assert torch.equal(table, expected.to(torch.uint8))
    restored = (table - zero_points[:, None]) * scales[:, None]
    assert torch.equal(m(INDICES), restored.to(torch.float32)[INDICES])
    # and stays close to the float table
    assert ((restored - weight).abs() <= 1.5 * scales[:, None]).all()
