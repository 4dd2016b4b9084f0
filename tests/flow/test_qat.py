"""prepare_qat_pt2e / convert_pt2e for quantization-aware training on
TorchScript: the prepared graph, fake-quantize numerics against upstream's
eager modules, gradients, train/eval switching, the enable/disable helpers,
save/load, a short QAT training run, and (torch 2.6) parity with upstream's
prepare_qat_pt2e/convert_pt2e."""

import copy
import io
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch.ao.quantization.fake_quantize import FakeQuantize as UpstreamFakeQuantize
from torch.ao.quantization.fake_quantize import FusedMovingAvgObsFakeQuantize as UpstreamFused
from torch.ao.quantization.observer import MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver

import torch_pt2e
from flow_testing import QD, call_targets, check_nodes
from xnnpack_testing import UPSTREAM_XNNPACK_SKIP, has_upstream_xnnpack
from torch_pt2e.fake_quantize import add_fake_quantize, fake_quantize_config, is_fake_quantize
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

aten = torch.ops.aten
requires_upstream = pytest.mark.skipif(not has_upstream_xnnpack(), reason=UPSTREAM_XNNPACK_SKIP)


class ConvBn(torch.nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, bias=bias)
        self.bn = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.conv(x))


class ConvBnRelu(ConvBn):
    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class LinearRelu(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 5)

    def forward(self, x):
        return F.relu(self.linear(x))


class SmallCNN(torch.nn.Module):
    def __init__(self, classes=2):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.dropout = torch.nn.Dropout(0.1)
        self.fc = torch.nn.Linear(8, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.dropout(x))


def qat_quantizer(is_per_channel=False):
    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=is_per_channel, is_qat=True))


def prepare(model, is_per_channel=False):
    return prepare_qat_pt2e(torch.jit.script(model.train()), qat_quantizer(is_per_channel))


_owner_classes = []


def new_owner():
    """An empty ScriptModule of a class of its own (scripted instances of one
    Python class share a TorchScript type, so attributes added to one would
    be declared on all)."""
    cls = type(f"Owner{len(_owner_classes)}", (torch.nn.Module,), {})
    _owner_classes.append(cls)
    return torch.jit.script(cls())


def fake_quantizers(module):
    return {name: child for name, child in module.named_children() if is_fake_quantize(child)}


def fq_call_inputs(prepared):
    """{fake-quantize name: kind of the node producing its input} for every call in forward."""
    calls = {}
    for node in prepared.graph.nodes():
        if node.kind() == "prim::CallMethod":
            owner = node.inputsAt(0).node()
            if owner.kind() == "prim::GetAttr" and owner.s("name").startswith("activation_post_process_"):
                calls[owner.s("name")] = node.inputsAt(1).node()
    return calls


# ---- the prepared graph --------------------------------------------------------


@pytest.mark.parametrize("is_per_channel", [False, True])
def test_conv_bn_is_fused_the_qat_way(is_per_channel):
    torch.manual_seed(0)
    prepared = prepare(ConvBn(), is_per_channel)
    fqs = fake_quantizers(prepared)
    assert len(fqs) == 3, prepared.graph  # input, weight, batch-norm output
    kinds = {fake_quantize_config(fq)["observer"]["kind"] for fq in fqs.values()}
    weight_observer = "MovingAveragePerChannelMinMaxObserver" if is_per_channel else "MovingAverageMinMaxObserver"
    assert kinds == {"MovingAverageMinMaxObserver", weight_observer}
    producers = {name: node for name, node in fq_call_inputs(prepared).items()}
    producer_kinds = sorted(node.kind() for node in producers.values())
    # input: graph input (prim::Param); weight: w * scale_factor; output: batch_norm
    assert producer_kinds == ["aten::batch_norm", "aten::mul", "prim::Param"], prepared.graph
    targets = call_targets(prepared)
    for op in (aten.sqrt.default, aten.zeros_like.default, aten.batch_norm.default):
        assert targets.count(op) == 1, prepared.graph
    assert targets.count(aten.div.Tensor) == 2  # scale factor, conv output rescaled
    # the training flags stay reads of the module
    training_reads = [n for n in prepared.graph.findAllNodes("prim::GetAttr") if n.s("name") == "training"]
    assert training_reads


def test_conv_bn_relu_output_is_fake_quantized_after_relu():
    prepared = prepare(ConvBnRelu(bias=False))
    producer_kinds = sorted(node.kind() for node in fq_call_inputs(prepared).values())
    assert producer_kinds == ["aten::mul", "aten::relu", "prim::Param"], prepared.graph
    targets = call_targets(prepared)
    assert aten.zeros_like.default not in targets  # no conv bias, no zero bias
    assert targets.count(aten.div.Tensor) == 2


def test_linear_weight_is_fake_quantized_as_read():
    prepared = prepare(LinearRelu())
    producers = fq_call_inputs(prepared)
    kinds = sorted(node.kind() for node in producers.values())
    assert kinds == ["aten::relu", "prim::GetAttr", "prim::Param"], prepared.graph
    for fq in fake_quantizers(prepared).values():
        assert fake_quantize_config(fq)["kind"] == "FusedMovingAvgObsFakeQuantize"


def test_prepare_qat_keeps_the_input_untouched_and_rejects_eager_modules():
    model = torch.jit.script(ConvBn().train())
    before = str(model.graph)
    prepare_qat_pt2e(model, qat_quantizer())
    assert str(model.graph) == before
    with pytest.raises(TypeError, match="TorchScript module"):
        prepare_qat_pt2e(ConvBn(), qat_quantizer())


# ---- numerics against upstream's eager modules -------------------------------


def upstream_fq(is_per_channel=False, weight=False):
    if weight:
        observer = MovingAveragePerChannelMinMaxObserver if is_per_channel else MovingAverageMinMaxObserver
        qscheme = torch.per_channel_symmetric if is_per_channel else torch.per_tensor_symmetric
        return UpstreamFused(observer=observer, quant_min=-127, quant_max=127, dtype=torch.qint8, qscheme=qscheme,
                             eps=2 ** -12)
    return UpstreamFused(observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127, dtype=torch.qint8,
                         qscheme=torch.per_tensor_affine, eps=2 ** -12)


@pytest.mark.parametrize("is_per_channel", [False, True])
def test_prepared_conv_bn_relu_matches_the_upstream_arithmetic(is_per_channel):
    """Three training-mode steps of the prepared module against upstream's eager
    fake-quantize modules on upstream's fused conv-bn formula, bit for bit."""
    torch.manual_seed(1)
    model = ConvBnRelu()
    reference = copy.deepcopy(model).train()
    prepared = prepare(model, is_per_channel)
    fq_in, fq_w, fq_out = upstream_fq(), upstream_fq(is_per_channel, weight=True), upstream_fq()
    for step in range(3):
        x = torch.randn(4, 3, 8, 8) * (step + 1)
        got = prepared(x)
        conv, bn = reference.conv, reference.bn
        scale_factor = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = fq_w(conv.weight * scale_factor.reshape(-1, 1, 1, 1))
        y = F.conv2d(fq_in(x), weight, torch.zeros_like(conv.bias))
        y = y / scale_factor.reshape(1, -1, 1, 1) + conv.bias.reshape(1, -1, 1, 1)
        expected = fq_out(F.relu(bn(y)))
        assert torch.equal(got, expected), (step, (got - expected).abs().max())
    assert torch.equal(prepared.bn.running_mean, reference.bn.running_mean)


@pytest.mark.parametrize("kind", ["FakeQuantize", "FusedMovingAvgObsFakeQuantize"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fake_quantize_module_matches_upstream(kind, per_channel):
    owner = new_owner()
    observer = MovingAveragePerChannelMinMaxObserver if per_channel else MovingAverageMinMaxObserver
    qscheme = torch.per_channel_affine if per_channel else torch.per_tensor_affine
    kwargs = dict(quant_min=0, quant_max=255, dtype=torch.quint8, qscheme=qscheme, averaging_constant=0.1)
    if per_channel:
        # upstream's fused op takes channel axis 0 only
        kwargs["ch_axis"] = 1 if kind == "FakeQuantize" else 0
    ours = add_fake_quantize(owner, "fq", kind, observer={"name": observer.__name__, "kwargs": {}}, **kwargs)
    upstream_cls = UpstreamFakeQuantize if kind == "FakeQuantize" else UpstreamFused
    theirs = upstream_cls(observer=observer, **kwargs)
    torch.manual_seed(2)
    for step in range(4):
        if step == 2:
            torch_pt2e.disable_observer(owner)
            theirs.disable_observer()
        x = (torch.randn(3, 5, 4) * (step + 1)).requires_grad_()
        x_ref = x.detach().clone().requires_grad_()
        out, out_ref = ours(x), theirs(x_ref)
        assert torch.equal(out, out_ref)
        out.sum().backward()
        out_ref.sum().backward()
        assert torch.equal(x.grad, x_ref.grad)
        assert torch.equal(ours.scale, theirs.scale) and torch.equal(ours.zero_point, theirs.zero_point)
        scale, zero_point = ours.calculate_qparams()
        scale_ref, zero_point_ref = theirs.calculate_qparams()
        assert torch.equal(scale, scale_ref) and torch.equal(zero_point, zero_point_ref)


def test_straight_through_gradient_masks_values_outside_the_range():
    owner = new_owner()
    fq = add_fake_quantize(owner, "fq", "FakeQuantize", quant_min=0, quant_max=255, dtype=torch.quint8)
    fq(torch.linspace(-1.0, 1.0, 11))  # range [-1, 1]
    torch_pt2e.disable_observer(owner)
    x = torch.tensor([-3.0, -0.5, 0.0, 0.7, 2.5], requires_grad=True)
    fq(x).sum().backward()
    # -3 and 2.5 fall outside [-1, 1] (quantized to 0 / 255 after clamping): gradient 0
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_fake_quantize_config_errors_name_the_value():
    owner = new_owner()
    with pytest.raises(RuntimeError, match="only works with MovingAverageMinMaxObserver.*got MinMaxObserver"):
        add_fake_quantize(owner, "fq", "FusedMovingAvgObsFakeQuantize", observer="MinMaxObserver")
    with pytest.raises(RuntimeError, match="unsupported fake-quantize class \"NoSuchFakeQuantize\""):
        add_fake_quantize(owner, "fq", "NoSuchFakeQuantize")
    with pytest.raises(RuntimeError, match=r"quant_min/quant_max must lie in \[-128, 127\].*got \[0, 255\]"):
        add_fake_quantize(owner, "fq", "FakeQuantize", dtype=torch.qint8, quant_min=0, quant_max=255)


# ---- training behaviour ---------------------------------------------------------


def test_gradients_reach_every_parameter():
    torch.manual_seed(3)
    prepared = prepare(SmallCNN())
    x = torch.randn(8, 1, 6, 6)
    prepared(x).square().mean().backward()
    params = dict(prepared.named_parameters())
    for name in ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "fc.weight",
                 "fc.bias"):
        assert params[name].grad is not None and params[name].grad.abs().sum() > 0, name


def test_train_and_eval_switch_batch_norm():
    torch.manual_seed(4)
    model = ConvBn()
    reference = copy.deepcopy(model)
    prepared = prepare(model)
    assert torch_pt2e.disable_fake_quant(prepared) == 3
    x = torch.randn(4, 3, 8, 8) + 2.0
    prepared.train()
    reference.train()
    torch.testing.assert_close(prepared(x), reference(x))
    torch.testing.assert_close(prepared.bn.running_mean, reference.bn.running_mean)
    assert prepared.bn.num_batches_tracked.item() == 1
    prepared.eval()
    reference.eval()
    mean_before = prepared.bn.running_mean.clone()
    eval_out = prepared(x)
    torch.testing.assert_close(eval_out, reference(x))
    assert torch.equal(prepared.bn.running_mean, mean_before)  # eval: running statistics untouched
    prepared.train()
    assert not torch.allclose(prepared(x), eval_out)  # train: batch statistics


def test_dropout_follows_the_training_flag():
    torch.manual_seed(5)
    prepared = prepare(SmallCNN())
    torch_pt2e.disable_fake_quant(prepared)
    torch_pt2e.disable_observer(prepared)
    prepared.eval()
    x = torch.randn(4, 1, 6, 6)
    assert torch.equal(prepared(x), prepared(x))
    prepared.train()
    torch.manual_seed(6)
    a = prepared(x)
    torch.manual_seed(7)
    b = prepared(x)
    assert not torch.equal(a, b)


def prepare_traced(model, example, is_per_channel=False):
    """Traced in training mode (tracing runs forward once: the batch-norm
    statistics of `model`, whose tensors the result shares, move)."""
    traced = torch.jit.trace(model.train(), example, check_trace=False)
    return prepare_qat_pt2e(traced, qat_quantizer(is_per_channel))


def test_traced_model_switches_batch_norm_with_train_and_eval():
    torch.manual_seed(15)
    model = ConvBn()
    x = torch.randn(4, 3, 8, 8) + 2.0
    prepared = prepare_traced(model, torch.randn(4, 3, 8, 8))
    reference = copy.deepcopy(model)
    assert torch_pt2e.disable_fake_quant(prepared) == 3
    batches = prepared.bn.num_batches_tracked.item()
    reference.train()
    torch.testing.assert_close(prepared(x), reference(x))
    torch.testing.assert_close(prepared.bn.running_mean, reference.bn.running_mean)
    torch.testing.assert_close(prepared.bn.running_var, reference.bn.running_var)
    assert prepared.bn.num_batches_tracked.item() == batches + 1
    prepared.eval()
    reference.eval()
    mean_before, var_before = prepared.bn.running_mean.clone(), prepared.bn.running_var.clone()
    eval_out = prepared(x)
    torch.testing.assert_close(eval_out, reference(x))  # running statistics, not the batch's
    assert torch.equal(prepared.bn.running_mean, mean_before) and torch.equal(prepared.bn.running_var, var_before)
    assert prepared.bn.num_batches_tracked.item() == batches + 1
    prepared.train()
    reference.train()
    torch.testing.assert_close(prepared(x * 2), reference(x * 2))
    torch.testing.assert_close(prepared.bn.running_mean, reference.bn.running_mean)
    assert prepared.bn.num_batches_tracked.item() == batches + 2


def test_traced_batch_norm_without_running_statistics_keeps_batch_statistics():
    torch.manual_seed(16)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, track_running_stats=False))
    reference = copy.deepcopy(model)
    x = torch.randn(4, 3, 8, 8) + 1.0
    prepared = prepare_traced(model, x)
    torch_pt2e.disable_fake_quant(prepared)
    prepared.eval()
    reference.eval()
    torch.testing.assert_close(prepared(x), reference(x))


def test_traced_dropout_follows_the_training_flag():
    torch.manual_seed(17)
    x = torch.randn(4, 1, 6, 6)
    prepared = prepare_traced(SmallCNN(), x)
    torch_pt2e.disable_fake_quant(prepared)
    torch_pt2e.disable_observer(prepared)
    prepared.eval()
    assert torch.equal(prepared(x), prepared(x))
    prepared.train()
    torch.manual_seed(6)
    a = prepared(x)
    torch.manual_seed(7)
    assert not torch.equal(a, prepared(x))


def test_scripted_constant_dropout_flag_is_left_alone():
    class FixedDropout(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(6, 5)

        def forward(self, x):
            return F.dropout(self.linear(x), 0.5, training=False)

    prepared = prepare(FixedDropout())
    torch_pt2e.disable_fake_quant(prepared)
    x = torch.randn(8, 6)
    assert torch.equal(prepared(x), F.linear(x, prepared.linear.weight, prepared.linear.bias))


@pytest.mark.parametrize("model_cls", [ConvBn, ConvBnRelu])
def test_traced_model_converts_with_batch_norm_folded(model_cls):
    torch.manual_seed(18)
    x = torch.randn(4, 3, 8, 8)
    prepared = prepare_traced(model_cls(), x)
    for _ in range(3):
        prepared(torch.randn(4, 3, 8, 8))
    torch_pt2e.disable_observer(prepared)
    prepared.eval()
    converted = convert_pt2e(prepared)
    targets = call_targets(converted)
    for op in (aten.batch_norm.default, aten.sqrt.default, aten.div.Tensor, aten.add_.Tensor):
        assert op not in targets, converted.graph
    check_nodes(converted, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3})
    out_scale = [fq for fq in fake_quantizers(prepared).values()][-1].scale.item()
    assert (converted(x) - prepared(x)).abs().max().item() <= out_scale * 1.01


def test_enable_and_disable_fake_quant_and_observer():
    torch.manual_seed(8)
    prepared = prepare(LinearRelu())
    fqs = fake_quantizers(prepared)
    x = torch.randn(16, 6)
    quantized = prepared(x)
    scales = {name: fq.scale.clone() for name, fq in fqs.items()}
    assert torch_pt2e.disable_observer(prepared) == 3
    assert all(fq.observer_enabled.item() == 0 for fq in fqs.values())
    prepared(x * 10)
    assert all(torch.equal(fq.scale, scales[name]) for name, fq in fqs.items())
    assert torch_pt2e.disable_fake_quant(prepared) == 3
    torch.testing.assert_close(prepared(x), F.relu(F.linear(x, prepared.linear.weight, prepared.linear.bias)))
    assert torch_pt2e.enable_fake_quant(prepared) == 3
    assert torch.equal(prepared(x), quantized)
    assert torch_pt2e.enable_observer(prepared) == 3
    prepared(x * 10)
    changed = [name for name, fq in fqs.items() if not torch.equal(fq.scale, scales[name])]
    assert len(changed) == 2, changed  # input and output; the weight is the same



def test_prepared_qat_model_saves_and_loads_across_processes(tmp_path, library_path):
    torch.manual_seed(9)
    prepared = prepare(ConvBnRelu())
    x = torch.randn(2, 3, 8, 8)
    prepared(x)
    path = tmp_path / "qat.pt"
    torch.jit.save(prepared, str(path))
    buffer = io.BytesIO()
    torch.jit.save(prepared, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    assert len(fake_quantizers(loaded)) == 3
    for name, fq in fake_quantizers(prepared).items():
        assert torch.equal(getattr(loaded, name).scale, fq.scale)
    torch.testing.assert_close(loaded(x), prepared(x), rtol=0, atol=0)
    torch.save(x, str(tmp_path / "x.pt"))
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(torch_pt2e.__file__.rsplit('/', 2)[0])!r})
        import torch_pt2e
        from torch_pt2e.quantize_pt2e import convert_pt2e
        m = torch.jit.load({str(path)!r})
        m.train()
        m(torch.load({str(tmp_path / 'x.pt')!r}))
        torch_pt2e.disable_observer(m)
        m.eval()
        torch.jit.save(convert_pt2e(m), {str(tmp_path / 'converted.pt')!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"TORCH_PT2E_LIBRARY": library_path, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    converted = torch.jit.load(str(tmp_path / "converted.pt"))
    assert aten.batch_norm.default not in call_targets(converted)


# ---- convert --------------------------------------------------------------------


@pytest.mark.parametrize("model_cls", [ConvBn, ConvBnRelu])
def test_convert_folds_batch_norm_into_the_quantized_conv(model_cls):
    torch.manual_seed(10)
    prepared = prepare(model_cls())
    for _ in range(3):
        prepared(torch.randn(4, 3, 8, 8))
    torch_pt2e.disable_observer(prepared)
    prepared.eval()
    converted = convert_pt2e(prepared)
    targets = call_targets(converted)
    for op in (aten.batch_norm.default, aten.sqrt.default, aten.div.Tensor, aten.zeros_like.default):
        assert op not in targets, converted.graph
    # weight folded to int8 (dequantize only); input and output quantize + dequantize
    check_nodes(converted, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3})
    x = torch.randn(4, 3, 8, 8)
    expected = prepared(x)
    out_scale = [fq for fq in fake_quantizers(prepared).values()][-1].scale.item()
    assert (converted(x) - expected).abs().max().item() <= out_scale * 1.01


# torch 2.6's oneDNN convolution backward (Debian trixie, oneDNN 3.7) returns
# input gradients partly made of uninitialized memory for small inputs such as
# 8x3x6x6: NaN whenever the allocator hands it memory that held NaNs, in eager
# mode as well, whether the float model or the prepared one trains (minimal
# reproduction in docs/quantizer.md, QAT). Allocator-dependent, so no probe can
# tell reliably; torch's non-oneDNN kernels are used on torch 2.x instead.
ONEDNN_CONV_BACKWARD_BROKEN = int(torch.__version__.split(".")[0]) >= 2


def test_qat_training_reduces_loss_and_converts_without_accuracy_loss():
    torch.manual_seed(11)
    torch.set_num_threads(1)

    def batch(n, generator):
        labels = torch.randint(0, 2, (n,), generator=generator)
        images = torch.randn(n, 1, 6, 6, generator=generator) * 0.5
        # class 1: a bright top half
        images[:, :, :3, :] += labels.view(-1, 1, 1, 1).float() * 1.5
        return images, labels

    prepared = prepare(SmallCNN())
    optimizer = torch.optim.Adam(prepared.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(12)
    losses = []
    # The default executor: profiling, then TorchScript's autodiff.
    with torch.backends.mkldnn.flags(enabled=not ONEDNN_CONV_BACKWARD_BROKEN):
        for _ in range(300):
            images, labels = batch(32, generator)
            loss = F.cross_entropy(prepared(images), labels)
            optimizer.zero_grad()
            loss.backward()
            for name, param in prepared.named_parameters():
                assert torch.isfinite(param.grad).all(), (len(losses), name)
            optimizer.step()
            losses.append(loss.item())
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.5 * first, (first, last)

    torch_pt2e.disable_observer(prepared)
    prepared.eval()
    images, labels = batch(1000, torch.Generator().manual_seed(13))
    with torch.no_grad():
        qat_accuracy = (prepared(images).argmax(1) == labels).float().mean().item()
        converted = convert_pt2e(prepared)
        converted_accuracy = (converted(images).argmax(1) == labels).float().mean().item()
    assert qat_accuracy > 0.9, qat_accuracy
    assert abs(qat_accuracy - converted_accuracy) <= 0.01, (qat_accuracy, converted_accuracy)


# ---- parity with upstream (torch 2.6) ----------------------------------------------


class ConvBnReluLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.linear = torch.nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return self.linear(torch.flatten(x, 1))


def _qdq_args(targets_and_args):
    """Sorted (op name, scale, zero point) of the quantize/dequantize calls."""
    found = []
    for target, args in targets_and_args:
        name = str(target)
        if "quantized_decomposed" in name and "tensor" in name:
            found.append((name.split(".")[-2], round(float(args[1]), 12), int(args[2])))
    return sorted(found)


def _upstream_qdq(module):
    return _qdq_args((n.target, n.args) for n in module.graph.nodes if n.op == "call_function")


def _our_qdq(module):
    from torch_pt2e.graph_view import GraphModuleView

    view = GraphModuleView(module)
    return _qdq_args((n.target, n.args) for n in view.graph.nodes if n.op == "call_function")


@requires_upstream
@pytest.mark.parametrize("is_per_channel", [False, True])
def test_matches_upstream_prepare_qat_and_convert(is_per_channel):
    from torch.ao.quantization import move_exported_model_to_eval
    from torch.ao.quantization.quantize_pt2e import convert_pt2e as upstream_convert
    from torch.ao.quantization.quantize_pt2e import prepare_qat_pt2e as upstream_prepare_qat
    from torch.ao.quantization.quantizer import xnnpack_quantizer as upstream_xnnpack

    torch.manual_seed(14)
    model = ConvBnReluLinear().train()
    batches = [torch.randn(4, 3, 8, 8) * (i + 1) for i in range(4)]
    upstream_quantizer = upstream_xnnpack.XNNPACKQuantizer().set_global(
        upstream_xnnpack.get_symmetric_quantization_config(is_per_channel=is_per_channel, is_qat=True))
    exported = torch.export.export_for_training(copy.deepcopy(model), (batches[0],)).module()
    theirs = upstream_prepare_qat(exported, upstream_quantizer)
    ours = prepare(copy.deepcopy(model), is_per_channel)
    for x in batches:  # training-mode steps: batch-norm statistics and observers move
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    move_exported_model_to_eval(theirs)
    ours.eval()
    their_converted = upstream_convert(theirs)
    our_converted = convert_pt2e(ours)

    assert _our_qdq(our_converted) == _upstream_qdq(their_converted)
    x = torch.randn(4, 3, 8, 8)
    out_scale = max(scale for name, scale, _ in _upstream_qdq(their_converted))
    assert (our_converted(x) - their_converted(x)).abs().max().item() <= out_scale
