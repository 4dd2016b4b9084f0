"""XNNPACKQuantizer: get_symmetric_quantization_config's specs, config
precedence (module name > module type > operator type > global, filter
function), pattern gating, and the errors that name what is wrong."""

import json

import pytest
import torch

from quantizer_testing import CAPTURES, annotated_view, annotation, canonical_view, is_annotated, op, ops
from torch_pt2e import observer
from torch_pt2e.quantize_pt2e import prepare_pt2e
from torch_pt2e.quantizer import _bridge
from torch_pt2e.quantizer.quantizer import QuantizationSpec
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
from torch_pt2e.quantizer.xnnpack_quantizer_utils import QuantizationConfig, config_to_json

aten = torch.ops.aten
EPS = 2**-12


def ctor(spec):
    return _bridge.ctor_to_json(spec.observer_or_fake_quant_ctr)


def test_config_is_cached_like_lru_cache():
    assert get_symmetric_quantization_config() is get_symmetric_quantization_config()
    assert get_symmetric_quantization_config(is_per_channel=True) is not get_symmetric_quantization_config()


def test_static_config_specs():
    config = get_symmetric_quantization_config()
    act, weight = config.input_activation, config.weight
    assert config.output_activation is act and config.bias is None and not config.is_qat
    assert (act.dtype, act.quant_min, act.quant_max, act.qscheme, act.ch_axis, act.is_dynamic) == (
        torch.int8, -128, 127, torch.per_tensor_affine, None, False)
    assert ctor(act) == _bridge.ctor_to_json(observer.HistogramObserver.with_args(eps=EPS))
    assert (weight.dtype, weight.quant_min, weight.quant_max, weight.qscheme, weight.ch_axis, weight.is_dynamic) == (
        torch.int8, -127, 127, torch.per_tensor_symmetric, 0, False)
    assert ctor(weight) == _bridge.ctor_to_json(observer.MinMaxObserver.with_args(eps=EPS))


def test_per_channel_dynamic_and_ranges():
    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True, act_qmin=-100, act_qmax=100,
                                               weight_qmin=-63, weight_qmax=63)
    assert config.output_activation is None
    assert config.input_activation.is_dynamic and config.input_activation.quant_min == -100
    assert ctor(config.input_activation) == _bridge.ctor_to_json(observer.PlaceholderObserver.with_args(eps=EPS))
    assert config.weight.qscheme == torch.per_channel_symmetric and config.weight.quant_max == 63
    assert ctor(config.weight) == _bridge.ctor_to_json(observer.PerChannelMinMaxObserver.with_args(eps=EPS))


@pytest.mark.parametrize("is_dynamic", [False, True])
@pytest.mark.parametrize("is_per_channel", [False, True])
def test_qat_config_names_fake_quantize(is_dynamic, is_per_channel):
    config = get_symmetric_quantization_config(is_per_channel=is_per_channel, is_qat=True, is_dynamic=is_dynamic)
    assert config.is_qat
    act = ctor(config.input_activation)
    if is_dynamic:
        assert act["name"] == "FakeQuantize" and act["kwargs"]["eps"] == EPS
        assert act["kwargs"]["observer"]["name"] == "MovingAverageMinMaxObserver"
        assert act["kwargs"]["observer"]["kwargs"]["averaging_constant"] == 1
    else:
        assert act == {"name": "FusedMovingAvgObsFakeQuantize", "kwargs": {"eps": EPS}}
    weight = ctor(config.weight)
    assert weight["name"] == "FusedMovingAvgObsFakeQuantize" and weight["kwargs"]["eps"] == EPS
    assert weight["kwargs"]["observer"]["name"] == (
        "MovingAveragePerChannelMinMaxObserver" if is_per_channel else "MovingAverageMinMaxObserver")


@pytest.mark.parametrize("kwargs", [{}, {"is_per_channel": True}, {"is_dynamic": True},
                                    {"is_per_channel": True, "is_qat": True}, {"is_qat": True, "is_dynamic": True},
                                    {"act_qmin": -64, "act_qmax": 63, "weight_qmin": -7, "weight_qmax": 7}])
def test_config_matches_upstream(kwargs):
    xnnpack = pytest.importorskip(
        "torch.ao.quantization.quantizer.xnnpack_quantizer",
        reason="needs torch>=2 (torch.ao's XNNPACKQuantizer); runs in the trixie root with torch 2.6")
    ours = config_to_json(get_symmetric_quantization_config(**kwargs))
    theirs = config_to_json(xnnpack.get_symmetric_quantization_config(**kwargs))
    assert ours == theirs


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.linear(x)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        self.block1 = Block()
        self.block2 = Block()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.conv(x).mean((2, 3))
        return self.linear(self.block2(self.block1(y)))


EXAMPLE = (torch.randn(2, 3, 4, 4),)
PER_TENSOR = get_symmetric_quantization_config()
PER_CHANNEL = get_symmetric_quantization_config(is_per_channel=True)
DYNAMIC = get_symmetric_quantization_config(is_dynamic=True)


def weight_specs(view):
    """The weight spec of conv and the three linears (block1, block2, linear), None when unannotated."""
    result = []
    for node in [op(view, aten.conv2d.default)] + ops(view, aten.linear.default):
        found = annotation(node)
        result.append(found.input_qspec_map[node.args[1]] if found else None)
    return result


@pytest.mark.parametrize("how", CAPTURES)
def test_global(how):
    view = annotated_view(Model(), EXAMPLE, XNNPACKQuantizer().set_global(PER_TENSOR), how)
    assert weight_specs(view) == [PER_TENSOR.weight] * 4


@pytest.mark.parametrize("how", CAPTURES)
def test_module_name_beats_module_type_beats_operator_type_beats_global(how):
    quantizer = (XNNPACKQuantizer().set_global(PER_TENSOR)
                 .set_operator_type(torch.ops.aten.linear.default, DYNAMIC)
                 .set_module_type(Block, PER_CHANNEL)
                 .set_module_name("block2", PER_TENSOR))
    view = annotated_view(Model(), EXAMPLE, quantizer, how)
    assert weight_specs(view) == [PER_TENSOR.weight, PER_CHANNEL.weight, PER_TENSOR.weight, DYNAMIC.weight]
    # the operator-type config is dynamic: the top-level linear's input is quantized at run time
    last = ops(view, aten.linear.default)[2]
    assert annotation(last).input_qspec_map[last.args[0]] is DYNAMIC.input_activation
    assert annotation(last).output_qspec is None


@pytest.mark.parametrize("how", CAPTURES)
def test_module_type_of_nested_modules_and_torch_classes(how):
    quantizer = XNNPACKQuantizer().set_module_type(torch.nn.Linear, PER_CHANNEL)
    view = annotated_view(Model(), EXAMPLE, quantizer, how)
    assert weight_specs(view) == [None] + [PER_CHANNEL.weight] * 3


@pytest.mark.parametrize("how", CAPTURES)
def test_module_name_of_a_nested_module(how):
    quantizer = XNNPACKQuantizer().set_module_name("block1.linear", PER_CHANNEL)
    view = annotated_view(Model(), EXAMPLE, quantizer, how)
    assert weight_specs(view) == [None, PER_CHANNEL.weight, None, None]


class Nested(torch.nn.Module):
    """Linears reached through a helper method and nested Sequentials: the
    canonical form inlines each call from the outside in, and every inlined
    node's call stack must still name all the modules above it."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(Block(), torch.nn.Sequential(torch.nn.Linear(4, 4), Block()))
        self.head = torch.nn.Linear(4, 4)

    def body(self, x):
        return self.head(self.features(x))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("name, annotated", [("features", [True, True, True, False]),
                                             ("features.0.linear", [True, False, False, False]),
                                             ("features.1", [False, True, True, False]),
                                             ("features.1.0", [False, True, False, False]),
                                             ("features.1.1.linear", [False, False, True, False]),
                                             ("head", [False, False, False, True])])
def test_module_name_through_helper_methods_and_sequentials(how, name, annotated):
    quantizer = XNNPACKQuantizer().set_module_name(name, PER_CHANNEL)
    view = annotated_view(Nested(), (torch.randn(2, 4),), quantizer, how)
    linears = ops(view, aten.linear.default)
    assert [is_annotated(node) for node in linears] == annotated


class Pooled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), torch.nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.head(self.conv(x)).flatten(1)


@pytest.mark.parametrize("how", CAPTURES)
def test_inlined_calls_keep_the_module_stack(how):
    """Conv2d.forward calls self._conv_forward, a method of its own module;
    AdaptiveAvgPool2d.forward calls F.adaptive_avg_pool2d, a scripted
    function. Each op belongs to the module whose forward it is in, with the
    modules above it, so module type and name filters reach it."""
    view = canonical_view(Pooled(), (torch.randn(1, 3, 8, 8),), how)
    convs = ops(view, aten.conv2d.default)
    assert [list(node.meta["nn_module_stack"]) for node in convs] == [["conv"], ["head", "head.0"]]
    pool = op(view, aten.adaptive_avg_pool2d.default)
    assert list(pool.meta["nn_module_stack"]) == ["head", "head.1"]
    quantizer = XNNPACKQuantizer().set_module_type(torch.nn.AdaptiveAvgPool2d, PER_TENSOR)
    view = annotated_view(Pooled(), (torch.randn(1, 3, 8, 8),), quantizer, how)
    assert is_annotated(op(view, aten.adaptive_avg_pool2d.default))
    assert not any(is_annotated(node) for node in ops(view, aten.conv2d.default))


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("operator", [torch.ops.aten.conv2d.default, torch.ops.aten.conv2d, "aten::conv2d"])
def test_operator_type_spellings(how, operator):
    view = annotated_view(Model(), EXAMPLE, XNNPACKQuantizer().set_operator_type(operator, PER_CHANNEL), how)
    assert weight_specs(view) == [PER_CHANNEL.weight, None, None, None]


class Conv1dConv2d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1d = torch.nn.Conv1d(3, 3, 1)
        self.conv2d = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv2d(self.conv1d(x).unsqueeze(-1))


@pytest.mark.parametrize("how", CAPTURES)
def test_operator_type_selects_only_that_operator(how):
    """A conv2d config leaves conv1d alone (ExecuTorch runs the whole conv pattern on every convolution)."""
    quantizer = XNNPACKQuantizer().set_operator_type(torch.ops.aten.conv2d.default, PER_CHANNEL)
    view = annotated_view(Conv1dConv2d(), (torch.randn(1, 3, 5),), quantizer, how)
    assert annotation(op(view, aten.conv1d.default)) is None
    assert is_annotated(op(view, aten.conv2d.default))


@pytest.mark.parametrize("how", CAPTURES)
def test_filter_function(how):
    def not_block2(node):
        return "block2" not in node.meta.get("nn_module_stack", {})

    quantizer = XNNPACKQuantizer().set_global(PER_TENSOR).set_filter_function(not_block2)
    view = annotated_view(Model(), EXAMPLE, quantizer, how)
    assert weight_specs(view) == [PER_TENSOR.weight, PER_TENSOR.weight, None, PER_TENSOR.weight]


@pytest.mark.parametrize("how", CAPTURES)
def test_dynamic_global_config_runs_dynamic_patterns_only(how):
    view = annotated_view(Model(), EXAMPLE, XNNPACKQuantizer().set_global(DYNAMIC), how)
    # linear and conv are dynamic patterns (ExecuTorch); mean's output is not propagated
    assert weight_specs(view) == [DYNAMIC.weight] * 4
    assert annotation(op(view, aten.mean.dim)) is None


class ConvBN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)
        self.weight = torch.nn.Parameter(torch.rand(3))
        self.bias = torch.nn.Parameter(torch.rand(3))
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("var", torch.ones(3))

    def forward(self, x):
        return torch.nn.functional.batch_norm(self.conv(x), self.mean, self.var, self.weight, self.bias, True)


@pytest.mark.parametrize("how", CAPTURES)
def test_qat_config_runs_conv_bn_patterns(how):
    qat = get_symmetric_quantization_config(is_qat=True)
    view = annotated_view(ConvBN(), (torch.randn(2, 3, 5, 5),), XNNPACKQuantizer().set_global(qat), how)
    assert annotation(op(view, aten.conv2d.default)).output_qspec is None
    assert annotation(op(view, aten.batch_norm.default)).output_qspec is qat.output_activation


# ---- errors ---------------------------------------------------------------------------


def test_operator_without_pattern_is_an_error():
    with pytest.raises(RuntimeError, match=r"no XNNPACK pattern annotates aten::sigmoid.default.*aten::linear"):
        XNNPACKQuantizer().set_operator_type(torch.ops.aten.sigmoid.default, PER_TENSOR)


@pytest.mark.parametrize("how", CAPTURES)
def test_unknown_module_name_is_an_error(how):
    quantizer = XNNPACKQuantizer().set_module_name("block3", PER_TENSOR)
    model = Model().eval()
    captured = torch.jit.script(model) if how == "script" else torch.jit.trace(model, EXAMPLE)
    with pytest.raises(RuntimeError, match=r"no submodule 'block3' \(submodules: block1, block1.linear, block2"):
        prepare_pt2e(captured, quantizer)


def test_set_module_name_without_config_is_an_error():
    with pytest.raises(ValueError, match="set_module_name\\('block1', None\\)"):
        XNNPACKQuantizer().set_module_name("block1", None)


def _spec(qscheme, dtype=torch.int8, ctr=observer.MinMaxObserver):
    return QuantizationSpec(dtype=dtype, observer_or_fake_quant_ctr=ctr, quant_min=-127, quant_max=127,
                            qscheme=qscheme)


@pytest.mark.parametrize("field, config, message", [
    ("weight", QuantizationConfig(None, None, _spec(torch.per_tensor_affine), None),
     r"QuantizationConfig.weight: weights are quantized symmetrically .*per_tensor_affine"),
    ("input_activation", QuantizationConfig(_spec(torch.per_channel_affine, ctr=observer.PerChannelMinMaxObserver),
                                            None, None, None),
     r"QuantizationConfig.input_activation: activations are quantized per tensor.*per_channel_affine"),
    ("bias", QuantizationConfig(None, None, None, _spec(torch.per_tensor_symmetric)),
     r"QuantizationConfig.bias: only a float32 bias spec is supported"),
])
def test_invalid_config_names_the_field(field, config, message):
    with pytest.raises(RuntimeError, match=message):
        XNNPACKQuantizer().set_global(config)


def test_quantization_spec_checks_its_range():
    with pytest.raises(ValueError, match="quant_min 5 must be <= quant_max 3"):
        QuantizationSpec(dtype=torch.int8, observer_or_fake_quant_ctr=observer.MinMaxObserver, quant_min=5,
                         quant_max=3)
