"""FixedQParamsFakeQuantize and LearnableFakeQuantize (upstream's
_LearnableFakeQuantize) in the TorchScript QAT flow: module numerics and
gradients against upstream's eager modules, the learnable modes, what
prepare_qat_pt2e inserts for them, save/load, and a training run whose
learned scale reaches convert."""

import io

import pytest
import torch
import torch.nn.functional as F
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize as UpstreamLearnable
from torch.ao.quantization.fake_quantize import FixedQParamsFakeQuantize as UpstreamFixed
from torch.ao.quantization.observer import (
    FixedQParamsObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
)

import helper_modules as hm
import torch_pt2e
from flow_testing import QD
from torch_pt2e.fake_quantize import (
    add_fake_quantize,
    enable_param_learning,
    enable_static_estimate,
    enable_static_observation,
    fake_quantize_config,
    is_fake_quantize,
    toggle_qparam_learning,
)
from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
from torch_pt2e.quantizer.quantizer import (
    FixedQParamsQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
)

aten = torch.ops.aten
_owner_classes = []


def new_owner():
    """An empty ScriptModule of a class of its own (see test_qat.new_owner)."""
    cls = type(f"LearnableOwner{len(_owner_classes)}", (torch.nn.Module,), {})
    _owner_classes.append(cls)
    return torch.jit.script(cls())


def fake_quantizers(module):
    return {name: child for name, child in module.named_children() if is_fake_quantize(child)}


# ---- FixedQParamsFakeQuantize ------------------------------------------------------


def test_fixed_qparams_fake_quantize_matches_upstream():
    owner = new_owner()
    observer_kwargs = dict(scale=1.0 / 256.0, zero_point=0, dtype=torch.quint8, quant_min=0, quant_max=255)
    ours = add_fake_quantize(owner, "fq", "FixedQParamsFakeQuantize",
                             observer={"name": "FixedQParamsObserver", "kwargs": {
                                 "scale": 1.0 / 256.0, "zero_point": 0, "dtype": "quint8",
                                 "quant_min": 0, "quant_max": 255}})
    theirs = UpstreamFixed(observer=FixedQParamsObserver.with_args(**observer_kwargs))
    assert fake_quantize_config(ours)["kind"] == "FixedQParamsFakeQuantize"
    torch.manual_seed(20)
    for step in range(3):
        x = (torch.randn(4, 7) * (step + 1)).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        out, out_ref = ours(x), theirs(x_ref)
        assert torch.equal(out, out_ref), step
        out.sum().backward()
        out_ref.sum().backward()
        assert torch.equal(x.grad, x_ref.grad), step
    scale, zero_point = ours.calculate_qparams()
    scale_ref, zero_point_ref = theirs.calculate_qparams()
    assert torch.equal(scale, scale_ref) and torch.equal(zero_point, zero_point_ref)
    assert scale_ref.item() == 1.0 / 256.0  # observing never moved it
    torch_pt2e.disable_fake_quant(owner)
    x = torch.randn(5)
    assert torch.equal(ours(x), x)


def test_fixed_qparams_fake_quantize_rejects_other_observers_and_per_channel():
    owner = new_owner()
    with pytest.raises(RuntimeError, match="observer must be a FixedQParamsObserver, got MovingAverageMinMaxObserver"):
        add_fake_quantize(owner, "fq", "FixedQParamsFakeQuantize")
    with pytest.raises(RuntimeError, match="FixedQParams"):
        add_fake_quantize(owner, "fq", "FixedQParamsFakeQuantize",
                          observer={"name": "FixedQParamsObserver", "kwargs": {
                              "scale": 0.1, "zero_point": 0, "qscheme": "per_channel_affine"}})


# ---- LearnableFakeQuantize ---------------------------------------------------------


def learnable_pair(owner, per_channel, symmetric, use_grad_scaling):
    if per_channel:
        observer = MovingAveragePerChannelMinMaxObserver
        qscheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
    else:
        observer = MovingAverageMinMaxObserver
        qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    quant_min, quant_max, dtype = (-128, 127, torch.qint8) if symmetric else (0, 255, torch.quint8)
    kwargs = dict(quant_min=quant_min, quant_max=quant_max, dtype=dtype, qscheme=qscheme, averaging_constant=0.5,
                  use_grad_scaling=use_grad_scaling, scale=0.5, zero_point=3.0)
    if per_channel:
        kwargs.update(channel_len=5, ch_axis=1)
    ours = add_fake_quantize(owner, "fq", "LearnableFakeQuantize", observer={"name": observer.__name__, "kwargs": {}},
                             **kwargs)
    theirs = UpstreamLearnable(observer=observer, **kwargs)
    return ours, theirs


def step_both(ours, theirs, x, context):
    x = x.clone().requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    out, out_ref = ours(x), theirs(x_ref)
    assert torch.equal(out, out_ref), context
    # A non-uniform upstream gradient so scale/zero-point gradients are not sums of ones.
    weights = torch.linspace(-1.0, 2.0, x.numel()).reshape(x.shape)
    (out * weights).sum().backward()
    (out_ref * weights).sum().backward()
    assert torch.equal(x.grad, x_ref.grad), context
    for name in ("scale", "zero_point"):
        ours_param, theirs_param = getattr(ours, name), getattr(theirs, name)
        assert torch.equal(ours_param, theirs_param), (context, name)
        ours_grad, theirs_grad = ours_param.grad, theirs_param.grad
        assert (ours_grad is None) == (theirs_grad is None), (context, name)
        if theirs_grad is not None:
            assert torch.equal(ours_grad, theirs_grad), (context, name, ours_grad, theirs_grad)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("use_grad_scaling", [False, True])
def test_learnable_fake_quantize_matches_upstream(per_channel, symmetric, use_grad_scaling):
    owner = new_owner()
    ours, theirs = learnable_pair(owner, per_channel, symmetric, use_grad_scaling)
    assert {"scale", "zero_point"} <= {name for name, _ in ours.named_parameters()}
    torch.manual_seed(21)
    inputs = [torch.randn(3, 5, 4) * (i + 1) + 0.3 * i for i in range(6)]
    # Static estimate (the initial mode), then learning with manual SGD steps on
    # both, then static observation: each mode's forward and gradients.
    for i, x in enumerate(inputs[:2]):
        step_both(ours, theirs, x, ("static", i))
    assert enable_param_learning(owner) == 1
    theirs.enable_param_learning()
    assert ours.learning_enabled.item() == 1 and ours.static_enabled.item() == 0
    for i, x in enumerate(inputs[2:5]):
        step_both(ours, theirs, x, ("learning", i))
        with torch.no_grad():
            for param, param_ref in ((ours.scale, theirs.scale), (ours.zero_point, theirs.zero_point)):
                param -= 0.01 * param.grad
                param_ref -= 0.01 * param_ref.grad
                param.grad = None
                param_ref.grad = None
    enable_static_observation(owner)
    theirs.enable_static_observation()
    step_both(ours, theirs, inputs[5], "observation")
    enable_static_estimate(owner)
    theirs.enable_static_estimate()
    assert ours.fake_quant_enabled.item() == 1 and ours.static_enabled.item() == 1
    assert not ours.scale.requires_grad
    step_both(ours, theirs, inputs[0], "estimate again")
    scale, zero_point = ours.calculate_qparams()
    scale_ref, zero_point_ref = theirs.calculate_qparams()
    assert torch.equal(scale, scale_ref) and torch.equal(zero_point, zero_point_ref)
    assert zero_point.dtype == torch.int64


def test_learnable_calculate_qparams_rounds_and_clamps_the_zero_point_like_upstream():
    owner = new_owner()
    ours = add_fake_quantize(owner, "fq", "LearnableFakeQuantize", quant_min=0, quant_max=15, scale=1e-12,
                             zero_point=17.6)
    theirs = UpstreamLearnable(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=15, scale=1e-12,
                               zero_point=17.6)
    scale, zero_point = ours.calculate_qparams()
    scale_ref, zero_point_ref = theirs.calculate_qparams()
    assert torch.equal(scale, scale_ref) and torch.equal(zero_point, zero_point_ref)
    assert zero_point.item() == 15 and scale.item() == torch.finfo(torch.float32).eps


def test_learnable_toggles_and_observer_switches():
    owner = new_owner()
    ours = add_fake_quantize(owner, "fq", "LearnableFakeQuantize")
    assert ours.learning_enabled.item() == 0 and ours.static_enabled.item() == 1
    assert ours.scale.requires_grad  # upstream's Parameters start trainable
    assert toggle_qparam_learning(owner, False) == 1
    assert not ours.scale.requires_grad and not ours.zero_point.requires_grad
    assert torch_pt2e.disable_observer(owner) == 1  # upstream's enable_observer toggles static_enabled
    assert ours.static_enabled.item() == 0
    ours(torch.randn(8) * 100)
    assert ours.scale.item() == 1.0
    torch_pt2e.enable_observer(owner)
    ours(torch.linspace(0, 2.55, 8))
    assert ours.scale.item() != 1.0


def test_learnable_config_errors_name_the_value():
    owner = new_owner()
    with pytest.raises(RuntimeError, match="channel_len must be -1 or a positive integer, got 0"):
        add_fake_quantize(owner, "fq", "LearnableFakeQuantize", channel_len=0)
    with pytest.raises(RuntimeError, match="quant_min must be strictly less than quant_max, got quant_min=0"):
        add_fake_quantize(owner, "fq", "LearnableFakeQuantize", quant_min=0, quant_max=0)
    with pytest.raises(RuntimeError, match="set_learnable_mode: unknown mode \"learn\""):
        torch.ops.torch_pt2e.set_learnable_mode(owner._c, "learn")


# ---- prepare_qat_pt2e, save/load, training, convert --------------------------------


def sigmoid_fixed_qspec():
    return FixedQParamsQuantizationSpec(dtype=torch.uint8, quant_min=0, quant_max=255,
                                        qscheme=torch.per_tensor_affine, scale=1.0 / 256.0, zero_point=0)


class SigmoidQuantizer(Quantizer):
    def annotate(self, model):
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.sigmoid.default:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: sigmoid_fixed_qspec()}, output_qspec=sigmoid_fixed_qspec(),
                    _annotated=True)

    def validate(self, model):
        pass


def test_prepare_qat_inserts_fixed_qparams_fake_quantize_and_converts_with_its_qparams():
    prepared = prepare_qat_pt2e(torch.jit.script(hm.Sigmoid().train()), SigmoidQuantizer())
    fqs = fake_quantizers(prepared)
    assert fqs and all(fake_quantize_config(fq)["kind"] == "FixedQParamsFakeQuantize" for fq in fqs.values())
    reference = UpstreamFixed(observer=FixedQParamsObserver.with_args(
        scale=1.0 / 256.0, zero_point=0, dtype=torch.quint8, quant_min=0, quant_max=255))
    x = torch.randn(2, 3, 5)
    assert torch.equal(prepared(x), reference(torch.sigmoid(reference(x))))
    prepared.eval()
    converted = convert_pt2e(prepared)
    qdq = [node for node in GraphModuleView(converted).graph.nodes
           if node.target in (QD.quantize_per_tensor.default, QD.dequantize_per_tensor.default)]
    assert qdq and all(node.args[1] == 1.0 / 256.0 and node.args[2] == 0 for node in qdq)


def learnable_qspec(dtype, quant_min, quant_max, qscheme):
    ctor = UpstreamLearnable.with_args(observer=MovingAverageMinMaxObserver, quant_min=quant_min,
                                       quant_max=quant_max, dtype=dtype, qscheme=qscheme, use_grad_scaling=True)
    return QuantizationSpec(dtype=dtype, quant_min=quant_min, quant_max=quant_max, qscheme=qscheme,
                            is_dynamic=False, observer_or_fake_quant_ctr=ctor)


class LearnableLinearQuantizer(Quantizer):
    """Input, weight and output of every linear: learnable fake quantize."""

    def annotate(self, model):
        act = learnable_qspec(torch.uint8, 0, 255, torch.per_tensor_affine)
        weight = learnable_qspec(torch.int8, -127, 127, torch.per_tensor_symmetric)
        for node in model.graph.nodes:
            if node.op == "call_function" and node.target == aten.linear.default:
                node.meta["quantization_annotation"] = QuantizationAnnotation(
                    input_qspec_map={node.args[0]: act, node.args[1]: weight}, output_qspec=act, _annotated=True)

    def validate(self, model):
        pass


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x)


def prepare_learnable():
    torch.manual_seed(22)
    return prepare_qat_pt2e(torch.jit.script(Regressor().train()), LearnableLinearQuantizer())


def test_prepare_qat_inserts_learnable_fake_quantize_that_survives_save_and_load():
    prepared = prepare_learnable()
    fqs = fake_quantizers(prepared)
    assert len(fqs) == 3, prepared.graph
    for fq in fqs.values():
        config = fake_quantize_config(fq)
        assert config["kind"] == "LearnableFakeQuantize" and config["use_grad_scaling"] is True
    x = torch.randn(6, 4)
    prepared(x)
    enable_param_learning(prepared)
    buffer = io.BytesIO()
    torch.jit.save(prepared, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    loaded_fqs = fake_quantizers(loaded)
    assert sorted(loaded_fqs) == sorted(fqs)
    for name, fq in fqs.items():
        assert torch.equal(loaded_fqs[name].scale, fq.scale)
        assert loaded_fqs[name].learning_enabled.item() == 1
    assert torch.equal(loaded(x), prepared(x))
    scale_names = {name for name, _ in loaded.named_parameters() if name.endswith(".scale")}
    assert len(scale_names) == 3, scale_names  # still trainable after loading


def test_learnable_qat_trains_its_scale_and_converts_with_it():
    prepared = prepare_learnable()
    generator = torch.Generator().manual_seed(23)
    target_weight = torch.tensor([[0.7, -1.3, 0.4, 2.0]])

    def batch():
        x = torch.randn(64, 4, generator=generator)
        return x, x @ target_weight.t() + 0.25

    fqs = fake_quantizers(prepared)
    optimizer = torch.optim.Adam(prepared.parameters(), lr=0.02)
    losses = []
    initial_scales = {}
    # Static estimates first (the observers set the qparams), then the qparams
    # are learned, as in upstream's recipes.
    for step in range(300):
        if step == 150:
            enable_param_learning(prepared)
            initial_scales = {name: fq.scale.detach().clone() for name, fq in fqs.items()}
        x, y = batch()
        loss = F.mse_loss(prepared(x), y)
        optimizer.zero_grad()
        loss.backward()
        if step >= 150:
            for name, fq in fqs.items():
                assert fq.scale.grad is not None and torch.isfinite(fq.scale.grad).all(), name
        optimizer.step()
        losses.append(loss.item())
    first, learned_start, last = (sum(losses[i:i + 10]) / 10 for i in (0, 150, 290))
    assert last < 0.1 * first and last < learned_start, (first, learned_start, last)
    changed = [name for name, fq in fqs.items() if not torch.equal(fq.scale, initial_scales[name])]
    assert sorted(changed) == sorted(fqs), changed

    prepared.eval()
    learned = {}
    for name, fq in fqs.items():
        scale, zero_point = fq.calculate_qparams()
        learned[name] = (scale.item(), zero_point.item())
    converted = convert_pt2e(prepared)
    found = sorted((node.args[1], node.args[2]) for node in GraphModuleView(converted).graph.nodes
                   if node.target == QD.quantize_per_tensor.default)
    # every quantize (input, output; the weight's too unless folded) carries learned parameters
    assert len(found) >= 2 and all(pair in learned.values() for pair in found), (found, learned)
    x, y = batch()
    with torch.no_grad():
        torch.testing.assert_close(converted(x), prepared(x), rtol=0, atol=max(v[0] for v in learned.values()))


def test_per_channel_learnable_needs_channel_len():
    with pytest.raises(RuntimeError, match="qscheme per_channel_affine needs channel_len .*got -1"):
        add_fake_quantize(new_owner(), "fq", "LearnableFakeQuantize", qscheme=torch.per_channel_affine,
                          observer="MovingAveragePerChannelMinMaxObserver")
