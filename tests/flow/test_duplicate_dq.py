"""Upstream's test_duplicate_dq.py on TorchScript: after convert, every
annotated user of a dequantize has its own dequantize (DuplicateDQPass).

The annotators are the XNNPACK ones (OP_TO_ANNOTATOR), as upstream's test
uses them; each case runs on scripted and traced captures.
"""

import pytest
import torch
from torch.ao.quantization.observer import HistogramObserver, MinMaxObserver, PlaceholderObserver

from flow_testing import QD, capture
from xnnpack_testing import annotated_view_nodes
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.quantizer import QuantizationAnnotation, QuantizationSpec, Quantizer, SharedQuantizationSpec
from torch_pt2e.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
from torch_pt2e.quantizer.xnnpack_quantizer_utils import OP_TO_ANNOTATOR, QuantizationConfig

CAPTURES = ["script", "trace"]
aten = torch.ops.aten

_SHAPE_QUERIES = [aten.size.default, aten.numel.default, aten.dim.default]
_DEQUANTIZE_OPS = [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.tensor,
                   QD.dequantize_per_channel.default]


class Conv2dWithObsSharingOps(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)
        self.hardtanh = torch.nn.Hardtanh()
        self.adaptive_avg_pool2d = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        x = self.conv(x)
        x = self.adaptive_avg_pool2d(x)
        x = self.hardtanh(x)
        x = x.view(-1, 3)
        x = self.linear(x)
        return x


class Conv2dWithSharedDQ(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 3, 3)
        self.conv2 = torch.nn.Conv2d(3, 3, 1)
        self.linear = torch.nn.Linear(3, 3)

    def forward(self, x):
        x = self.conv1(x)
        z = x.view(-1, 3)
        w = self.linear(z)

        y = self.conv2(x)
        add_output = x + y

        extra_output = x * 2
        return w, add_output, extra_output


class ModuleForDifferentQconfig(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 3, 3)
        self.conv2 = torch.nn.Conv2d(3, 3, 1)
        self.adaptive_avg_pool2d = torch.nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        x = self.conv1(x)
        w = self.adaptive_avg_pool2d(x)

        y = self.conv2(x)
        add_output = x + y

        extra_output = x + 2
        return w, add_output, extra_output


def _test_duplicate_dq(model, example_inputs, quantizer, how):
    prepared = prepare_pt2e(capture(model, example_inputs, how), quantizer)
    prepared(*example_inputs)
    converted = convert_pt2e(prepared)
    converted(*example_inputs)
    annotated = annotated_view_nodes(prepared, converted)
    assert annotated, "the quantizer annotated nothing"
    checked = 0
    for node in annotated:
        for arg in node.all_input_nodes:
            if arg.op == "call_function" and arg.target in _DEQUANTIZE_OPS:
                # Shape queries (scripted F.adaptive_avg_pool2d checks its input's size)
                # are not users, as upstream's DuplicateDQPass ignores sym_size.
                users = [u for u in arg.users if u.target not in _SHAPE_QUERIES]
                assert len(users) == 1, f"{arg} feeds {users}\n{converted.graph}"
                checked += 1
    assert checked > 0
    return converted


class AnnotatorsQuantizer(Quantizer):
    def __init__(self, names):
        self.names = names

    def annotate(self, model):
        quantization_config = get_symmetric_quantization_config(is_per_channel=True)
        for name in self.names:
            OP_TO_ANNOTATOR[name](model, quantization_config)

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_no_need_for_duplicate_dq(how):
    """conv2d -> avgpool -> hardtanh -> linear"""
    _test_duplicate_dq(Conv2dWithObsSharingOps(), (torch.randn(1, 3, 5, 7),),
                       AnnotatorsQuantizer(["linear", "conv", "adaptive_avg_pool2d"]), how)


@pytest.mark.parametrize("how", CAPTURES)
def test_simple_duplicate_dq(how):
    """conv1's output feeds conv2, add and view -> linear, all quantized: three dequantizes."""
    m = _test_duplicate_dq(Conv2dWithSharedDQ(), (torch.randn(1, 3, 5, 7),),
                           AnnotatorsQuantizer(["linear", "conv", "add"]), how)
    # conv1 output: dq for conv2, add and view (the view feeds linear); mul reads no dq of its own
    conv1 = next(n for n in m.graph.nodes() if n.kind() == "aten::conv2d")
    q = next(u.user for u in conv1.output().uses() if u.user.kind() == "quantized_decomposed::quantize_per_tensor")
    assert len(q.output().uses()) == 3


@pytest.mark.parametrize("how", CAPTURES)
def test_no_add_quant_duplicate_dq(how):
    """As above, but add and mul are not quantized: the skip connections share the original dq."""
    _test_duplicate_dq(Conv2dWithSharedDQ(), (torch.randn(1, 3, 5, 7),),
                       AnnotatorsQuantizer(["linear", "conv"]), how)


def _get_uint8_quantization_config():
    act_quantization_spec = QuantizationSpec(
        dtype=torch.uint8, quant_min=0, quant_max=255, qscheme=torch.per_tensor_affine,
        observer_or_fake_quant_ctr=HistogramObserver.with_args(eps=2**-12))
    weight_quantization_spec = QuantizationSpec(
        dtype=torch.uint8, quant_min=0, quant_max=255, qscheme=torch.per_tensor_affine, ch_axis=0,
        is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12))
    bias_quantization_spec = QuantizationSpec(dtype=torch.float, observer_or_fake_quant_ctr=PlaceholderObserver)
    return QuantizationConfig(act_quantization_spec, act_quantization_spec, weight_quantization_spec,
                              bias_quantization_spec)


@pytest.mark.parametrize("how", CAPTURES)
def test_avgpool_use_different_qconfig(how):
    """conv1's output reaches the average pool (another qconfig) through dq -> q -> dq.

    Upstream matches aten.mean.dim; TorchScript spells this model's pool
    aten::adaptive_avg_pool2d, which the quantizer matches too."""

    class BackendAQuantizer(Quantizer):
        def annotate(self, model):
            quantization_config = get_symmetric_quantization_config(is_per_channel=True)
            avgpool_qconfig = _get_uint8_quantization_config()
            OP_TO_ANNOTATOR["conv"](model, quantization_config)
            OP_TO_ANNOTATOR["add"](model, quantization_config)
            for n in model.graph.nodes:
                if n.op == "call_function" and n.target in (aten.mean.dim, aten.adaptive_avg_pool2d.default):
                    qspec = avgpool_qconfig.input_activation
                    input_act = n.args[0]
                    output_qspec = SharedQuantizationSpec((input_act, n))
                    n.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={input_act: qspec}, output_qspec=output_qspec, _annotated=True)

        def validate(self, model):
            pass

    m = _test_duplicate_dq(ModuleForDifferentQconfig(), (torch.randn(1, 3, 5, 7),), BackendAQuantizer(), how)
    pool = next(n for n in m.graph.nodes() if n.kind() == "aten::adaptive_avg_pool2d")
    dq = pool.inputsAt(0).node()
    q = dq.inputsAt(0).node()
    requant = q.inputsAt(0).node()
    assert (dq.kind(), q.kind(), requant.kind()) == (
        "quantized_decomposed::dequantize_per_tensor", "quantized_decomposed::quantize_per_tensor",
        "quantized_decomposed::dequantize_per_tensor")
    assert q.inputsAt(5).toIValue() == 0  # uint8 for the pool, int8 before
