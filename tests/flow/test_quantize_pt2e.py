"""The custom-quantizer cases of upstream's test_quantize_pt2e.py, on TorchScript.

Each BackendAQuantizer has upstream's logic, walking the graph view
(torch_pt2e.graph_view) instead of an FX graph; node occurrences and node
orders are upstream's, for scripted and traced capture.
"""

import pytest
import torch
from torch.ao.quantization import observer

from flow_testing import QD, capture, check_nodes, observer_name, quantize
import helper_modules as hm
from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.quantizer import (
    DerivedQuantizationSpec,
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)

CAPTURES = ["script", "trace"]
aten = torch.ops.aten


def act_qspec():
    return QuantizationSpec(dtype=torch.uint8, quant_min=0, quant_max=255, qscheme=torch.per_tensor_affine,
                            is_dynamic=False, observer_or_fake_quant_ctr=observer.default_observer)


def weight_qspec():
    return QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_affine,
                            is_dynamic=False, observer_or_fake_quant_ctr=observer.default_weight_observer)


def bias_qspec():
    return QuantizationSpec(dtype=torch.float32, is_dynamic=False,
                            observer_or_fake_quant_ctr=observer.PlaceholderObserver)


def is_conv2d(node):
    return node.op == "call_function" and node.target == aten.conv2d.default


class ConvQuantizer(Quantizer):
    """conv2d: input, weight and bias annotated; output when `annotate_output`."""

    def __init__(self, annotate_output=True):
        self.annotate_output = annotate_output

    def annotate(self, model):
        for node in model.graph.nodes:
            if is_conv2d(node):
                input_act, weight, bias = node.args[0], node.args[1], node.args[2]
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={input_act: act_qspec(), weight: weight_qspec(), bias: bias_qspec()},
                    output_qspec=act_qspec() if self.annotate_output else None,
                    _annotated=True,
                )

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_simple_quantizer(how):
    example_inputs = (torch.randn(1, 3, 5, 5),)
    _, m = quantize(hm.ConvWithBNRelu(relu=False, bn=False), example_inputs, ConvQuantizer(), how)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.conv2d.default,
         QD.quantize_per_tensor.default],
    )


@pytest.mark.parametrize("how", CAPTURES)
def test_wo_annotate_conv_output_quantizer(how):
    m = torch.nn.Conv2d(2, 2, 1)
    example_inputs = (torch.rand(1, 2, 14, 14),)
    _, m = quantize(m, example_inputs, ConvQuantizer(annotate_output=False), how)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 1, QD.dequantize_per_tensor.default: 2},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.conv2d.default],
    )


class ConvMaxPoolQuantizer(ConvQuantizer):
    def annotate(self, model):
        super().annotate(model)
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.max_pool2d.default:
                input_act = node.args[0]
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={input_act: act_qspec()},
                    output_qspec=SharedQuantizationSpec((input_act, node)),
                    _annotated=True,
                )


@pytest.mark.parametrize("how", CAPTURES)
def test_max_pool2d_quantizer(how):
    example_inputs = (torch.rand(1, 2, 14, 14),)
    _, m = quantize(hm.ConvMaxPool2d(), example_inputs, ConvMaxPoolQuantizer(annotate_output=False), how)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 3, QD.dequantize_per_tensor.default: 4},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.conv2d.default,
         QD.quantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.max_pool2d.default],
    )


def derive_bias_qparams(obs_or_fqs):
    assert len(obs_or_fqs) == 2, f"Expecting two obs/fqs, got: {len(obs_or_fqs)}"
    act_scale, _ = obs_or_fqs[0].calculate_qparams()
    weight_scale, _ = obs_or_fqs[1].calculate_qparams()
    return torch.tensor([act_scale * weight_scale]).to(torch.float32), torch.tensor([0]).to(torch.int32)


class DerivedBiasQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if is_conv2d(node):
                input_act, weight, bias = node.args[0], node.args[1], node.args[2]
                bias_spec = DerivedQuantizationSpec(
                    derived_from=[(input_act, node), (weight, node)],
                    derive_qparams_fn=derive_bias_qparams,
                    dtype=torch.int32,
                    quant_min=-(2**31),
                    quant_max=2**31 - 1,
                    qscheme=torch.per_tensor_symmetric,
                )
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={input_act: act_qspec(), weight: weight_qspec(), bias: bias_spec},
                    output_qspec=act_qspec(),
                    _annotated=True,
                )

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_derived_qspec(how):
    example_inputs = (torch.randn(1, 3, 5, 5),)
    prepared, m = quantize(hm.ConvWithBNRelu(relu=False, bn=False), example_inputs, DerivedBiasQuantizer(), how)
    # input, weight, bias, output of the conv; weight and bias quantization is folded
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 4},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default,
         aten.conv2d.default, QD.quantize_per_tensor.default],
    )
    # The bias dequantize uses the derived scale: input scale * weight scale, zero point 0.
    view = GraphModuleView(m)
    conv = next(n for n in view.graph.nodes if is_conv2d(n))
    bias_dq = conv.args[2]
    input_dq = conv.args[0]
    weight_dq = conv.args[1]
    assert bias_dq.target == QD.dequantize_per_tensor.default
    expected = torch.tensor([input_dq.args[1] * weight_dq.args[1]], dtype=torch.float32).item()
    assert bias_dq.args[1] == expected and bias_dq.args[2] == 0
    assert bias_dq.args[0].op == "get_attr"
    assert getattr(m, bias_dq.args[0].target).dtype == torch.int32


def derive_per_channel_bias(obs_or_fqs):
    assert len(obs_or_fqs) == 1, f"Expecting one weight obs/fq, got: {len(obs_or_fqs)}"
    weight_scale, _ = obs_or_fqs[0].calculate_qparams()
    return weight_scale, torch.zeros_like(weight_scale)


class DerivedPerChannelQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if is_conv2d(node):
                input_act, weight, bias = node.args[0], node.args[1], node.args[2]
                w_spec = QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127,
                                          qscheme=torch.per_channel_affine, is_dynamic=False, ch_axis=0,
                                          observer_or_fake_quant_ctr=observer.default_per_channel_weight_observer)
                bias_spec = DerivedQuantizationSpec(
                    derived_from=[(weight, node)],
                    derive_qparams_fn=derive_per_channel_bias,
                    dtype=torch.int32,
                    quant_min=-(2**31),
                    quant_max=2**31 - 1,
                    qscheme=torch.per_channel_symmetric,
                    ch_axis=0,
                )
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={input_act: act_qspec(), weight: w_spec, bias: bias_spec},
                    output_qspec=act_qspec(),
                    _annotated=True,
                )

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_derived_qspec_per_channel(how):
    example_inputs = (torch.randn(1, 3, 5, 5),)
    _, m = quantize(hm.ConvWithBNRelu(relu=False, bn=False), example_inputs, DerivedPerChannelQuantizer(), how)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 2,
         QD.quantize_per_channel.default: 0, QD.dequantize_per_channel.default: 2},
        [QD.dequantize_per_channel.default, QD.dequantize_per_channel.default, aten.conv2d.default,
         QD.quantize_per_tensor.default],
    )


def sigmoid_fixed_qspec():
    return FixedQParamsQuantizationSpec(dtype=torch.uint8, quant_min=0, quant_max=255,
                                        qscheme=torch.per_tensor_affine, scale=1.0 / 256.0, zero_point=0)


class SigmoidQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.sigmoid.default:
                input_act = node.args[0]
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={input_act: sigmoid_fixed_qspec()},
                    output_qspec=sigmoid_fixed_qspec(),
                    _annotated=True,
                )

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_fixed_qparams_qspec_ptq(how):
    example_inputs = (torch.randn(1, 3, 5, 5),)
    _, m = quantize(hm.Sigmoid(), example_inputs, SigmoidQuantizer(), how)
    for node in GraphModuleView(m).graph.nodes:
        if node.target in (QD.quantize_per_tensor.default, QD.dequantize_per_tensor.default):
            assert node.args[1] == 1.0 / 256.0 and node.args[2] == 0
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 2},
        [QD.dequantize_per_tensor.default, aten.sigmoid.default, QD.quantize_per_tensor.default],
    )


class SigmoidAddQuantizer(Quantizer):
    def annotate(self, model):
        spec = sigmoid_fixed_qspec()
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.sigmoid.default:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: spec}, output_qspec=spec, _annotated=True)
            elif node.op == "call_function" and node.target == aten.add.Tensor:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: spec, node.args[1]: spec}, output_qspec=spec, _annotated=True)

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_fixed_qparams_qspec_observer_dedup(how):
    example_inputs = (torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5))
    _, m = quantize(hm.SigmoidAdd(), example_inputs, SigmoidAddQuantizer(), how)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 4, QD.dequantize_per_tensor.default: 4},
        [QD.dequantize_per_tensor.default, aten.sigmoid.default, QD.quantize_per_tensor.default,
         QD.dequantize_per_tensor.default, aten.add.Tensor, QD.quantize_per_tensor.default],
    )


class ConvCatQuantizer(ConvQuantizer):
    """conv as above; cat shares all inputs and its output with input `source_index`."""

    def __init__(self, source_index):
        super().__init__()
        self.source_index = source_index

    def annotate(self, model):
        super().annotate(model)
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.cat.default:
                inputs = node.args[0]
                source = inputs[self.source_index]
                shared = SharedQuantizationSpec((source, node))
                input_qspec_map = {source: act_qspec()}
                for other in inputs:
                    if other is not source:
                        input_qspec_map[other] = shared
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map=input_qspec_map, output_qspec=shared, _annotated=True)


def _observer_users_of(view_node):
    return [u for u in view_node.users if u.op == "call_module"]


@pytest.mark.parametrize("how", CAPTURES)
def test_shared_qspec(how):
    example_inputs = (torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5))
    m = prepare_pt2e(capture(hm.Conv2dWithCat(), example_inputs, how), ConvCatQuantizer(0))
    view = GraphModuleView(m)
    conv_output_obs = []
    for n in view.graph.nodes:
        if is_conv2d(n):
            conv_output_obs.append(observer_name(next(iter(n.users))))
        if n.op == "call_function" and n.target == aten.cat.default:
            input0, input1 = n.args[0][0], n.args[0][1]
            assert observer_name(input0) == observer_name(input1)
    assert len(conv_output_obs) == 2
    assert conv_output_obs[0] == conv_output_obs[1]
    m(*example_inputs)
    m = convert_pt2e(m)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 5, QD.dequantize_per_tensor.default: 7},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.cat.default,
         QD.quantize_per_tensor.default],
    )


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("source_index", [0, 1], ids=["transitivity", "transitivity_case_2"])
def test_shared_qspec_transitivity(how, source_index):
    example_inputs = (torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5), torch.randn(1, 6, 3, 3),
                      torch.randn(1, 6, 3, 3))
    m = prepare_pt2e(capture(hm.Conv2dWithTwoCat(), example_inputs, how), ConvCatQuantizer(source_index))
    m(*example_inputs)
    view = GraphModuleView(m)
    conv_output_obs = []
    for n in view.graph.nodes:
        if is_conv2d(n):
            conv_output_obs.append(observer_name(next(iter(n.users))))
        if n.op == "call_function" and n.target == aten.cat.default:
            input0, input1 = n.args[0][0], n.args[0][1]
            assert observer_name(input0) == observer_name(input1)
            assert observer_name(input0) == observer_name(next(iter(n.users))), "input observer does not match output"
    assert len(conv_output_obs) == 2
    assert conv_output_obs[0] == conv_output_obs[1]
    m = convert_pt2e(m)
    check_nodes(
        m,
        {QD.quantize_per_tensor.default: 7, QD.dequantize_per_tensor.default: 9},
        [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.cat.default,
         QD.quantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.cat.default,
         QD.quantize_per_tensor.default],
    )


class NoImplicitSharingAddQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.add.Tensor:
                first, second = node.args[0], node.args[1]
                shared = SharedQuantizationSpec((second, node))
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={second: act_qspec(), first: shared},
                    output_qspec=shared,
                    allow_implicit_sharing=False,
                    _annotated=True,
                )

    def validate(self, model):
        pass


@pytest.mark.parametrize("how", CAPTURES)
def test_allow_implicit_sharing(how):
    example_inputs = tuple(torch.randn(1, 3, 5, 5) for _ in range(4))
    m = prepare_pt2e(capture(hm.ThreeAdd(), example_inputs, how), NoImplicitSharingAddQuantizer())
    m(*example_inputs)
    observers = []
    for n in GraphModuleView(m).graph.nodes:
        if n.op == "call_function" and n.target == aten.add.Tensor:
            input_obs1 = observer_name(n.args[0])
            input_obs2 = observer_name(n.args[1])
            output_obs = observer_name(next(iter(n.users)))
            assert input_obs1 == input_obs2 == output_obs
            observers.append(input_obs1)
    assert len(observers) == 3
    assert len(set(observers)) == 3


class ConstantInputQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target in (aten.add.Tensor, aten.add.Scalar):
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: act_qspec(), node.args[1]: act_qspec()},
                    output_qspec=act_qspec(), _annotated=True)

    def validate(self, model):
        pass


class AddConstant(torch.nn.Module):
    def forward(self, x):
        return x + 6


def test_input_edge_sanity_check():
    m = torch.jit.script(AddConstant().eval())
    with pytest.raises(Exception):
        prepare_pt2e(m, ConstantInputQuantizer())


def test_prepare_rejects_training_mode_and_non_script_modules():
    with pytest.raises(RuntimeError, match="eval mode"):
        prepare_pt2e(torch.jit.script(hm.ThreeAdd().train()), NoImplicitSharingAddQuantizer())
    with pytest.raises(TypeError, match="TorchScript module"):
        prepare_pt2e(hm.ThreeAdd().eval(), NoImplicitSharingAddQuantizer())


class ConvThenBranch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x, flag: bool):
        y = self.conv(x)
        if flag:
            y = torch.sigmoid(y)
        return torch.tanh(y)


def test_prepare_report_shows_what_stays_in_float():
    from torch_pt2e.quantize_pt2e import prepare_report
    m = prepare_pt2e(torch.jit.script(ConvThenBranch().eval()), ConvQuantizer())
    report = prepare_report(m)
    assert report["annotated"] == {"aten::conv2d": 1}
    assert [entry["kind"] for entry in report["left_in_float"]] == ["aten::tanh"]
    assert [entry["kind"] for entry in report["in_control_flow"]] == ["aten::sigmoid"]
    assert report["in_control_flow"][0]["source"].endswith(".py:" + report["in_control_flow"][0]["source"].split(":")[-1])
    # Control flow stays in float and the prepared model still runs both ways.
    x = torch.randn(1, 3, 5, 5)
    m(x, True)
    converted = convert_pt2e(m)
    assert converted(x, False).shape == (1, 3, 3, 3)
