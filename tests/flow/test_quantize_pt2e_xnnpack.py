"""The XNNPACK-using cases of upstream's test_quantize_pt2e.py (and its
dynamic-linear cases) on TorchScript, for scripted and traced capture, with
upstream's node occurrences."""

import json
import re

import pytest
import torch

from flow_testing import QD, capture, check_nodes, quantize
from xnnpack_testing import UPSTREAM_XNNPACK_SKIP, has_upstream_xnnpack, upstream_quantize
from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.composable_quantizer import ComposableQuantizer
from torch_pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer
from torch_pt2e.quantizer.quantizer import Quantizer
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

CAPTURES = ["script", "trace"]
aten = torch.ops.aten
requires_upstream = pytest.mark.skipif(not has_upstream_xnnpack(), reason=UPSTREAM_XNNPACK_SKIP)


class LinearModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, x):
        return self.linear(x)


def quantized_linear(how, is_per_channel=False):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=is_per_channel))
    return quantize(LinearModule(), (torch.randn(2, 2),), quantizer, how)[1]


@pytest.mark.parametrize("how", CAPTURES)
def test_fold_quantize(how):
    m = quantized_linear(how)
    check_nodes(m, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3})


@pytest.mark.parametrize("how", CAPTURES)
def test_fold_quantize_per_channel(how):
    m = quantized_linear(how, is_per_channel=True)
    check_nodes(m, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_channel.default: 1,
                    QD.dequantize_per_tensor.default: 2})


class DontFoldMe(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.dont_fold_me = torch.nn.Parameter(torch.randn(2, 2))

    def forward(self, x):
        t = self.dont_fold_me.t()
        return self.linear(x) + t


@pytest.mark.parametrize("how", CAPTURES)
def test_dont_fold_other_constant(how):
    # only linear is quantized, so add is not and the transposed parameter stays
    quantizer = XNNPACKQuantizer().set_module_type(torch.nn.Linear, get_symmetric_quantization_config())
    _, m = quantize(DontFoldMe(), (torch.randn(2, 2),), quantizer, how)
    check_nodes(m, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3, aten.t.default: 1})


class TransposedWeight(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.randn(2, 2)

    def forward(self, x):
        t = self.weight.t()
        return torch.nn.functional.linear(x, t)


@pytest.mark.parametrize("how", CAPTURES)
def test_fold_all_ops_before_quantize(how):
    """get_attr(weight) -> transpose -> quantize -> dequantize becomes get_attr(folded weight) -> dequantize."""
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config())
    _, m = quantize(TransposedWeight(), (torch.randn(2, 2),), quantizer, how)
    check_nodes(m, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3, aten.t.default: 0})


def unmangled(info):
    return {"module_stack": [[path, re.sub(r"___torch_mangle_\d+\.", "", kind)] for path, kind in info["module_stack"]],
            "source": info["source"]}


@pytest.mark.parametrize("how", CAPTURES)
def test_constant_prop_preserve_metadata(how):
    """The folded weight's GetAttr keeps the metadata of the weight's GetAttr:
    TorchScript's source range and inlined call stack (module path)."""
    example_inputs = (torch.randn(2, 2),)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config())
    captured = capture(LinearModule(), example_inputs, how)
    canonical = torch.jit._recursive.wrap_cpp_module(torch.ops.torch_pt2e.canonicalize(captured._c))
    info = json.loads(torch.ops.torch_pt2e.node_info(canonical._c))
    nodes = list(canonical.graph.nodes())
    linear = next(n for n in nodes if n.kind() == "aten::linear")
    weight = linear.inputsAt(1).node()
    weight_info = info[nodes.index(weight)]
    assert weight_info["module_stack"] == [["linear", weight_info["module_stack"][0][1]]]

    prepared = prepare_pt2e(captured, quantizer)
    prepared(*example_inputs)
    m = convert_pt2e(prepared)
    info = json.loads(torch.ops.torch_pt2e.node_info(m._c))
    folded = [(n, i) for n, i in zip(m.graph.nodes(), info)
              if n.kind() == "prim::GetAttr" and n.s("name").startswith("_frozen_param")]
    assert len(folded) == 1
    # the same module path and class (each canonicalization mangles class names anew)
    assert unmangled(folded[0][1]) == unmangled(weight_info)


class ConvLinearWPermute(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.linear1 = torch.nn.Linear(8, 8)

    def forward(self, x):
        conv_out = self.conv(x)
        permute_out = torch.permute(conv_out, (0, 2, 3, 1))
        return self.linear1(permute_out)


class BadQuantizer(Quantizer):
    def annotate(self, model):
        for n in model.graph.nodes:
            n.meta["quantization_annotation"] = None

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_composable_quantizer_throw(how):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    composable_quantizer = ComposableQuantizer([quantizer, BadQuantizer()])
    example_inputs = (torch.randn(2, 3, 4, 4),)
    with pytest.raises(RuntimeError, match=r"BadQuantizer \(quantizer 1\) has removed annotations on node .* "
                                           r"XNNPACKQuantizer \(quantizer 0\)"):
        prepare_pt2e(capture(ConvLinearWPermute(), example_inputs, how), composable_quantizer)


def _replace_ops(model, replacements):
    """A new module (a canonical clone) whose ops are renamed, e.g. aten::add -> aten::mul."""
    clone = torch.jit._recursive.wrap_cpp_module(torch.ops.torch_pt2e.canonicalize(model._c))
    graph = clone.graph
    for node in list(graph.nodes()):
        if node.kind() in replacements:
            inputs = list(node.inputs())[:2]
            new = graph.create(replacements[node.kind()], inputs)
            new.insertBefore(node)
            node.output().replaceAllUsesWith(new.output())
            node.destroy()
    return clone


class AddThree(torch.nn.Module):
    def forward(self, x):
        return x + 3


def _kind_counts(module):
    kinds = [n.kind() for n in module.graph.nodes()]
    return {kind: kinds.count(kind) for kind in set(kinds)}


@pytest.mark.parametrize("how", CAPTURES)
def test_transform_for_annotation(how):
    class TestQuantizer(Quantizer):
        def transform_for_annotation(self, model):
            # a new module, to check that prepare uses the returned one
            return _replace_ops(model, {"aten::add": "aten::mul"})

        def annotate(self, model):
            return model

        def validate(self, model):
            pass

    example_inputs = (torch.randn(1, 2, 3, 3),)
    m = prepare_pt2e(capture(AddThree(), example_inputs, how), TestQuantizer())
    m(*example_inputs)
    counts = _kind_counts(m)
    assert counts.get("aten::add", 0) == 0 and counts.get("aten::mul", 0) == 1


class AddSub(torch.nn.Module):
    def forward(self, x, y, z):
        return x + y - z


@pytest.mark.parametrize("how", CAPTURES)
def test_composable_quantizer_transform_for_annotation(how):
    class Rename(Quantizer):
        def __init__(self, replacements):
            self.replacements = replacements

        def transform_for_annotation(self, model):
            return _replace_ops(model, self.replacements)

        def annotate(self, model):
            return model

        def validate(self, model):
            pass

    quantizer = ComposableQuantizer([Rename({"aten::add": "aten::mul"}), Rename({"aten::sub": "aten::div"})])
    example_inputs = tuple(torch.randn(1, 2, 3, 3) for _ in range(3))
    m = prepare_pt2e(capture(AddSub(), example_inputs, how), quantizer)
    m(*example_inputs)
    counts = _kind_counts(m)
    assert counts.get("aten::add", 0) == 0 and counts.get("aten::sub", 0) == 0
    assert counts.get("aten::mul", 0) == 1 and counts.get("aten::div", 0) == 1


class EmbeddingModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(num_embeddings=10, embedding_dim=12)

    def forward(self, indices):
        return self.emb(indices)


INDICES = torch.tensor([9, 6, 5, 7, 8, 8, 9, 2, 8, 6, 6, 9, 1, 6, 8, 8, 3, 2, 3, 6, 3, 6, 5, 7, 0, 8, 4, 6, 5, 8, 2,
                        3])


@pytest.mark.parametrize("how", CAPTURES)
def test_embedding_quantizer(how):
    torch.manual_seed(0)
    _, m = quantize(EmbeddingModule(), (INDICES,), EmbeddingQuantizer(), how)
    check_nodes(m, {QD.quantize_per_channel.default: 0, QD.dequantize_per_channel.default: 1},
                [QD.dequantize_per_channel.default, aten.embedding.default])


class EmbeddingConvLinearModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(num_embeddings=10, embedding_dim=8)
        self.conv = torch.nn.Conv2d(8, 16, (1, 3))
        self.linear = torch.nn.Linear(16, 8)

    def forward(self, indices):
        embeddings = self.emb(indices)
        embeddings = torch.unsqueeze(embeddings, dim=0)
        embeddings = torch.permute(embeddings, (0, 3, 1, 2))
        conv_out = self.conv(embeddings)
        conv_out = torch.permute(conv_out, (0, 2, 3, 1))
        conv_out = torch.squeeze(conv_out, dim=0)
        return self.linear(conv_out)


@pytest.mark.parametrize("how", CAPTURES)
def test_composable_quantizer_linear_conv(how):
    # dynamic first: the static quantizer would also take linear. As in
    # ExecuTorch's version of this test, the configs are per operator: a
    # global dynamic config also quantizes the conv dynamically there.
    dynamic_quantizer = XNNPACKQuantizer().set_operator_type(
        torch.ops.aten.linear.default, get_symmetric_quantization_config(is_per_channel=False, is_dynamic=True))
    static_quantizer = XNNPACKQuantizer().set_operator_type(
        torch.ops.aten.conv2d.default, get_symmetric_quantization_config(is_per_channel=True))
    composable_quantizer = ComposableQuantizer([dynamic_quantizer, static_quantizer])
    _, m = quantize(ConvLinearWPermute(), (torch.randn(2, 3, 4, 4),), composable_quantizer, how)
    check_nodes(m, {
        QD.quantize_per_tensor.tensor: 1,
        QD.dequantize_per_tensor.tensor: 1,
        QD.quantize_per_tensor.default: 3,
        QD.dequantize_per_tensor.default: 4,
        QD.quantize_per_channel.default: 0,
        QD.dequantize_per_channel.default: 1,
    })


@pytest.mark.parametrize("how", CAPTURES)
def test_embedding_conv_linear_quantization(how):
    dynamic_quantizer = XNNPACKQuantizer().set_operator_type(
        torch.ops.aten.linear.default, get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    static_quantizer = XNNPACKQuantizer().set_operator_type(
        torch.ops.aten.conv2d.default, get_symmetric_quantization_config(is_per_channel=True))
    composed = ComposableQuantizer([EmbeddingQuantizer(), dynamic_quantizer, static_quantizer])
    _, m = quantize(EmbeddingConvLinearModule(), (torch.unsqueeze(INDICES, 0),), composed, how)
    check_nodes(m, {
        QD.quantize_per_tensor.default: 4,
        QD.dequantize_per_tensor.default: 4,
        QD.quantize_per_tensor.tensor: 1,
        QD.dequantize_per_tensor.tensor: 1,
        QD.quantize_per_channel.default: 0,
        QD.dequantize_per_channel.default: 3,
    })


class TwoLinearModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(8, 16, bias=False)
        self.linear2 = torch.nn.Linear(16, 8)

    def forward(self, x):
        return self.linear2(self.linear1(x))


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("is_per_channel", [False, True])
@pytest.mark.parametrize("shape", [(9, 8), (8, 2, 3, 8)], ids=["2d", "4d"])
def test_dynamic_linear(how, is_per_channel, shape):
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=is_per_channel, is_dynamic=True))
    example_inputs = (torch.randn(*shape),)
    _, m = quantize(TwoLinearModule(), example_inputs, quantizer, how)
    weight_dq = QD.dequantize_per_channel.default if is_per_channel else QD.dequantize_per_tensor.default
    check_nodes(m, {
        QD.choose_qparams.tensor: 2,
        QD.quantize_per_tensor.tensor: 2,
        QD.dequantize_per_tensor.tensor: 2,
        # weight quantization is folded
        QD.quantize_per_tensor.default: 0,
        QD.quantize_per_channel.default: 0,
        weight_dq: 2,
    }, [QD.choose_qparams.tensor, QD.quantize_per_tensor.tensor, QD.dequantize_per_tensor.tensor,
        aten.linear.default])


@pytest.mark.parametrize("how", CAPTURES)
def test_dynamic_linear_with_conv(how):
    quantizer = XNNPACKQuantizer().set_operator_type(
        torch.ops.aten.linear.default, get_symmetric_quantization_config(is_per_channel=False, is_dynamic=True))
    _, m = quantize(ConvLinearWPermute(), (torch.randn(2, 3, 4, 4),), quantizer, how)
    check_nodes(m, {
        QD.quantize_per_tensor.tensor: 1,
        QD.dequantize_per_tensor.tensor: 1,
        QD.quantize_per_tensor.default: 0,
        QD.dequantize_per_tensor.default: 1,
    })


@requires_upstream
@pytest.mark.parametrize("how", CAPTURES)
def test_embedding_quantizer_matches_upstream(how):
    """Float zero points: the folded uint8 table, scales and zero points equal upstream's."""
    from torch.ao.quantization.quantizer.embedding_quantizer import EmbeddingQuantizer as UpstreamEmbeddingQuantizer

    torch.manual_seed(0)
    model = EmbeddingModule().eval()
    upstream = upstream_quantize(model, (INDICES,), UpstreamEmbeddingQuantizer())
    _, ours = quantize(model, (INDICES,), EmbeddingQuantizer(), how)

    def parts(module, view_nodes):
        dq = next(n for n in view_nodes if n.op == "call_function" and n.target == QD.dequantize_per_channel.default)
        tensors = [getattr(module, a.target) for a in dq.args[:3]]
        return tensors + list(dq.args[3:6])

    up = parts(upstream, list(upstream.graph.nodes))
    mine = parts(ours, GraphModuleView(ours).graph.nodes)
    for a, b in zip(mine[:3], up[:3]):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert mine[3:] == up[3:]
    assert torch.equal(ours(INDICES), upstream(INDICES))
