"""fake_quant_per_channel through torch.ops: values and the straight-through
gradient, against the reference (all torch versions) and upstream (torch 2.x).

With torch 2.x's Python definition, upstream's Autograd kernel runs for
tensors outside inference mode; the plugin's CPU kernel runs below autograd,
so value tests use torch.inference_mode() to reach it on every torch."""

import pytest
import torch

import reference_ops as ref
from bitwise import assert_bitwise_equal
from conftest import requires_plugin_definer, requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed


def _inputs(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 4
    x.view(-1)[::6] = torch.arange(x.numel())[::6].float() % 37 * 0.125 - 2
    return x


def _qparams(channels, qmin=-128, qmax=127, seed=1):
    g = torch.Generator().manual_seed(seed)
    scales = torch.rand(channels, generator=g) * 0.1 + 0.01
    scales[0] = 0.25
    return scales, torch.randint(max(qmin, -3), min(qmax, 3) + 1, (channels,), generator=g)


def plugin_kernel(*args):
    with torch.inference_mode():
        return OPS.fake_quant_per_channel(*args)


@pytest.mark.parametrize("axis", [0, 1, -1, 3])
@pytest.mark.parametrize("quant_range", [(-128, 127), (-8, 7), (0, 255)])
def test_forward_matches_reference(axis, quant_range):
    qmin, qmax = quant_range
    x = _inputs((3, 4, 5, 6))
    scales, zps = _qparams(x.shape[axis], qmin, qmax)
    expected, mask = ref.fake_quant_per_channel(x, scales, zps, axis, qmin, qmax)
    for layout in (x, x.contiguous(memory_format=torch.channels_last), torch.cat([x, x], -1)[..., :6]):
        assert_bitwise_equal(plugin_kernel(layout, scales, zps, axis, qmin, qmax), expected, f"axis={axis}")
    out, plugin_mask = torch.ops.torch_pt2e.fake_quant_per_channel_forward(x, scales, zps, axis, qmin, qmax)
    assert_bitwise_equal(out, expected, "forward op")
    assert plugin_mask.dtype == torch.bool and torch.equal(plugin_mask, mask)


@requires_plugin_definer
@pytest.mark.parametrize("axis", [0, 1, -1, 3])
def test_plugin_gradient_is_straight_through(axis):
    x = _inputs((3, 4, 5, 6))
    scales, zps = _qparams(x.shape[axis], -8, 7)
    expected, mask = ref.fake_quant_per_channel(x, scales, zps, axis, -8, 7)
    for layout in (x, x.contiguous(memory_format=torch.channels_last)):
        leaf = layout.clone().requires_grad_(True)
        out = OPS.fake_quant_per_channel(leaf, scales, zps, axis, -8, 7)
        assert out.requires_grad
        assert_bitwise_equal(out.detach(), expected, "forward with autograd")
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
        out.backward(grad)
        assert_bitwise_equal(leaf.grad, grad * mask, "gradient")
    with torch.no_grad():
        assert_bitwise_equal(OPS.fake_quant_per_channel(x, scales, zps, axis, -8, 7), expected, "no_grad")


def test_worked_example_and_gradient():
    # Whichever Autograd kernel serves the op (the plugin's or upstream's), the results are these.
    x = torch.tensor([[0.3, -2.0, 100.0, float("nan")]], requires_grad=True)
    out = OPS.fake_quant_per_channel(x, torch.tensor([0.5]), torch.tensor([1]), 0, -8, 7)
    # 0.3/0.5=0.6->1,+1=2 -> (2-1)*0.5=0.5; -2/0.5=-4+1=-3 -> -2; 100/0.5+1=201 -> clamp 7 -> 3; NaN stays NaN
    assert out[0, :3].tolist() == [0.5, -2.0, 3.0] and torch.isnan(out[0, 3])
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 0.0, 0.0]]  # 201 and NaN are outside [-8, 7]


def test_scales_and_zero_points_are_converted_like_upstream():
    # float64 scales -> float32, float zero points -> int32 (truncation).
    x = _inputs((2, 8))
    out = plugin_kernel(x, torch.tensor([0.1, 0.3], dtype=torch.float64), torch.tensor([1.7, -2.2]), 0, -128, 127)
    expected, _ = ref.fake_quant_per_channel(x, torch.tensor([0.1, 0.3]), torch.tensor([1, -2]), 0, -128, 127)
    assert_bitwise_equal(out, expected, "converted")


def test_sizes_and_meta():
    big = _inputs((4097, 4097))
    scales, zps = _qparams(4097)
    expected, _ = ref.fake_quant_per_channel(big, scales, zps, 1, -128, 127)
    assert_bitwise_equal(plugin_kernel(big, scales, zps, 1, -128, 127), expected, "big")
    assert plugin_kernel(torch.empty(0, 3), torch.ones(3), torch.zeros(3), 1, -8, 7).shape == (0, 3)
    m = OPS.fake_quant_per_channel(torch.empty(2, 3, device="meta"), torch.empty(3, device="meta"),
                                   torch.empty(3, device="meta"), 1, -8, 7)
    assert m.shape == (2, 3) and m.dtype == torch.float32


@pytest.mark.parametrize("args,message", [
    ((torch.ones(2, 3).double(), torch.ones(3), torch.zeros(3), 1, -8, 7), "input must be float32, got Double"),
    ((torch.ones(2, 3), torch.ones(2), torch.zeros(3), 1, -8, 7),
     r"scales must be 1-D with one entry per channel \(input.size\(1\) = 3\), got shape \[2\]"),
    ((torch.ones(2, 3), torch.tensor([1.0, 0.0, 1.0]), torch.zeros(3), 1, -8, 7),
     r"scales \(as float32\) must be finite numbers > 0, got scales \(as float32\)\[1\] = 0"),
    ((torch.ones(2, 3), torch.ones(3), torch.tensor([0, 9, 0]), 1, -8, 7),
     r"zero_points must lie in \[quant_min, quant_max\] = \[-8, 7\], got zero_points\[1\] = 9"),
    ((torch.ones(2, 3), torch.ones(3), torch.zeros(3), 2, -8, 7), r"axis must be in \[-2, 2\) for a 2-d input, got 2"),
    ((torch.ones(2, 3), torch.ones(3), torch.zeros(3), 1, 7, -8),
     "quant_min must be <= quant_max, got quant_min=7 and quant_max=-8"),
])
def test_errors_name_the_value(args, message):
    with pytest.raises(RuntimeError, match="quantized_decomposed::fake_quant_per_channel: " + message):
        plugin_kernel(*args)
    with pytest.raises(RuntimeError, match=message):
        torch.ops.torch_pt2e.fake_quant_per_channel_forward(*args)


@requires_upstream
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_parity_with_upstream(axis):
    up = upstream_decomposed()
    x = _inputs((6, 5, 9))
    for qmin, qmax in [(-128, 127), (-8, 7), (0, 15)]:
        scales, zps = _qparams(x.shape[axis], qmin, qmax)
        leaf = x.clone().requires_grad_(True)
        expected = up.FakeQuantPerChannel.apply(leaf, scales, zps, axis, qmin, qmax)
        assert_bitwise_equal(plugin_kernel(x, scales, zps, axis, qmin, qmax), expected.detach(),
                             f"axis={axis} [{qmin}, {qmax}]")
        reference, mask = ref.fake_quant_per_channel(x, scales, zps, axis, qmin, qmax)
        assert_bitwise_equal(reference, expected.detach(), "reference")
        expected.sum().backward()
        _, plugin_mask = torch.ops.torch_pt2e.fake_quant_per_channel_forward(x, scales, zps, axis, qmin, qmax)
        assert torch.equal(leaf.grad, plugin_mask.float())
