"""Real models quantized side by side with upstream, in one process.

upstream: torch.export.export_for_training + torch.ao's prepare_pt2e /
convert_pt2e with torch 2.6's XNNPACKQuantizer; ours: torch.jit.script or
torch.jit.trace + torch_pt2e's prepare_pt2e / convert_pt2e with our
XNNPACKQuantizer; the same weights, config and calibration batches. The
quantized graphs must have the same quantized_decomposed ops, the same
scales, zero points and integer weights around every op, and outputs within
one quantization step of the output.

On torch 1.13 (no torch.export) our side runs alone: scripted and traced
captures must agree with each other and stay close to the float model.
"""

import copy

import pytest
import torch

import parity

pytest.importorskip("torchvision", reason="needs torchvision (python3-torchvision)")

UPSTREAM_MISSING = parity.upstream_flow_missing()
requires_upstream_flow = pytest.mark.skipif(UPSTREAM_MISSING is not None, reason=UPSTREAM_MISSING or "")

ANCHORS = parity.ANCHORS

MODELS = list(parity.TORCHVISION_MODELS)
make_model = parity.make_torchvision_model
make_mlp = parity.make_mlp


def assert_outputs_close(ours, upstream, example, step):
    with torch.no_grad():
        a, b = ours(*example), upstream(*example)
    difference = (a - b).abs().max().item()
    assert difference <= step + 1e-6, f"outputs differ by {difference}, more than one output step {step}"


@requires_upstream_flow
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("how", ["script", "trace"])
@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_matches_upstream(name, how, per_channel):
    model, example, calibration = make_model(name)
    kwargs = {"is_per_channel": per_channel}
    upstream = parity.Quantized.of_fx(parity.quantize_upstream(model, example, calibration, kwargs))
    ours = parity.Quantized.of_script(parity.quantize_ours(model, example, calibration, how, kwargs))
    assert ours.qd_counts() == upstream.qd_counts()
    compared = parity.assert_same_qparams(ours, upstream, ANCHORS)
    assert compared >= sum(upstream.qd_counts().values()) // 2
    assert_outputs_close(ours.module, upstream.module, example, parity.last_output_scale(upstream))


@requires_upstream_flow
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("how", ["script", "trace"])
def test_dynamic_mlp_stack_matches_upstream(how, per_channel):
    model, example, calibration = make_mlp()
    kwargs = {"is_per_channel": per_channel, "is_dynamic": True}
    upstream = parity.Quantized.of_fx(parity.quantize_upstream(model, example, calibration, kwargs))
    ours = parity.Quantized.of_script(parity.quantize_ours(model, example, calibration, how, kwargs))
    counts = ours.qd_counts()
    assert counts == upstream.qd_counts()
    # every linear: choose_qparams + quantize/dequantize.tensor on its input, a folded weight
    assert counts["choose_qparams.tensor"] == 5
    parity.assert_same_qparams(ours, upstream, ANCHORS)
    with torch.no_grad():
        a, b = ours.module(*example), upstream.module(*example)
    assert torch.equal(a, b), f"dynamic outputs differ by {(a - b).abs().max().item()}"


# ---- our side alone (torch 1.13 and 2.6) --------------------------------------------------

EXPECTED_WEIGHT_DQ = {"resnet18": 21, "mobilenet_v2": 53, "resnet50": 54}


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_script_and_trace_agree(name):
    model, example, calibration = make_model(name)
    kwargs = {"is_per_channel": True}
    scripted = parity.Quantized.of_script(parity.quantize_ours(model, example, calibration, "script", kwargs))
    traced = parity.Quantized.of_script(parity.quantize_ours(model, example, calibration, "trace", kwargs))
    counts = scripted.qd_counts()
    assert counts == traced.qd_counts()
    # every conv and the classifier read a per-channel int8 weight
    assert counts["dequantize_per_channel.default"] == EXPECTED_WEIGHT_DQ[name]
    assert "quantize_per_channel.default" not in counts
    parity.assert_same_qparams(scripted, traced, ANCHORS)
    with torch.no_grad():
        reference = model(*example)
        out = scripted.module(*example)
    assert torch.equal(out, traced.module(*example))
    # sanity: int8 quantization keeps the logits close to the float model's
    relative = (out - reference).norm() / reference.norm()
    assert relative < 0.25, f"quantized logits are {relative:.3f} (relative L2) from the float model"


def test_dynamic_mlp_stack_alone():
    model, example, calibration = make_mlp()
    kwargs = {"is_per_channel": True, "is_dynamic": True}
    for how in ("script", "trace"):
        quantized = parity.Quantized.of_script(parity.quantize_ours(model, example, calibration, how, kwargs))
        assert quantized.qd_counts() == {
            "choose_qparams.tensor": 5, "quantize_per_tensor.tensor": 5, "dequantize_per_tensor.tensor": 5,
            "dequantize_per_channel.default": 5}
        with torch.no_grad():
            reference, out = model(*example), quantized.module(*example)
        relative = (out - reference).norm() / reference.norm()
        assert relative < 0.05, f"{how}: dynamic int8 output is {relative:.4f} (relative L2) from float"
