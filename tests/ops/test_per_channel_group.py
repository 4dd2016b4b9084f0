"""quantize_per_channel_group / dequantize_per_channel_group through torch.ops,
against the reference (all torch versions) and upstream's own ops (torch 2.x)."""

import itertools

import pytest
import torch

import reference_ops as ref
from bitwise import assert_bitwise_equal
from conftest import requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed

# int4 is expressed as int8 with [-8, 7], as upstream's users do.
RANGES = [(torch.int8, -8, 7), (torch.int8, -128, 127), (torch.uint8, 0, 15), (torch.int16, -32768, 32767),
          (torch.int32, -(2**31), 2**31 - 1)]
SCALE_ZP_DTYPES = [(torch.float32, torch.int32), (torch.float32, torch.int64), (torch.float32, torch.float32),
                   (torch.float64, torch.int32), (torch.bfloat16, torch.int8), (torch.float16, torch.float16)]


def _weights(rows, columns, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, columns, generator=g)
    w.view(-1)[::3] = torch.arange(w.numel())[::3].float() % 31 * 0.25 - 4
    return w.to(dtype)


def _qparams(groups, qmin, qmax, scale_dtype, zp_dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    scales = (torch.rand(groups, 1, generator=g, dtype=torch.float64) * 0.3 + 0.05).to(scale_dtype)
    scales[0] = 0.25
    zps = torch.randint(max(qmin, -8), min(qmax, 7) + 1, (groups, 1), generator=g).to(zp_dtype)
    return scales, zps


@pytest.mark.parametrize("dtype,qmin,qmax", RANGES)
@pytest.mark.parametrize("scale_dtype,zp_dtype", SCALE_ZP_DTYPES)
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_quantize_matches_reference(dtype, qmin, qmax, scale_dtype, zp_dtype, in_dtype):
    w = _weights(6, 256, in_dtype)
    for group_size in (2, 32, 128, 256):
        scales, zps = _qparams(w.numel() // group_size, qmin, qmax, scale_dtype, zp_dtype)
        got = OPS.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size)
        expected = ref.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size)
        assert torch.equal(got, expected), group_size
        assert torch.equal(OPS.quantize_per_channel_group(w.t().contiguous().t(), scales, zps, qmin, qmax, dtype,
                                                          group_size), got)


def test_group_size_larger_than_a_row_means_a_row():
    # GPTQ's single-column case: scales.shape[-1] == 1, group_size > columns.
    w = _weights(4, 16)
    scales, zps = _qparams(4, -8, 7, torch.float32, torch.int32)
    got = OPS.quantize_per_channel_group(w, scales, zps, -8, 7, torch.int8, 128)
    assert torch.equal(got, OPS.quantize_per_channel_group(w, scales, zps, -8, 7, torch.int8, 16))
    d = OPS.dequantize_per_channel_group(got, scales, zps, -8, 7, torch.int8, 128, torch.float32)
    assert torch.equal(d, ref.dequantize_per_channel_group(got, scales, zps, -8, 7, torch.int8, 16, torch.float32))


def test_single_scale_broadcasts_to_every_group():
    w = _weights(3, 64)
    got = OPS.quantize_per_channel_group(w, torch.tensor([[0.25]]), torch.tensor([[1]]), -8, 7, torch.int8, 32)
    assert torch.equal(got, ref.quantize_per_channel_group(w, torch.tensor([[0.25]]), torch.tensor([[1]]), -8, 7,
                                                           torch.int8, 32))


@pytest.mark.parametrize("dtype,qmin,qmax", RANGES)
@pytest.mark.parametrize("scale_dtype,zp_dtype", SCALE_ZP_DTYPES + [(torch.float32, None)])
@pytest.mark.parametrize("output_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dequantize_matches_reference(dtype, qmin, qmax, scale_dtype, zp_dtype, output_dtype):
    g = torch.Generator().manual_seed(4)
    q = torch.randint(qmin, qmax, (5, 128), generator=g, dtype=torch.int64).to(dtype)
    for group_size in (4, 64):
        scales, zps = _qparams(q.numel() // group_size, qmin, qmax, scale_dtype, zp_dtype or torch.int32)
        zps = None if zp_dtype is None else zps
        got = OPS.dequantize_per_channel_group(q, scales, zps, qmin, qmax, dtype, group_size, output_dtype)
        expected = ref.dequantize_per_channel_group(q, scales, zps, qmin, qmax, dtype, group_size, output_dtype)
        assert_bitwise_equal(got, expected, f"group_size={group_size}")


def test_int8_zero_points_wrap_as_upstream():
    # int8 - int8 stays int8 in torch (and wraps); the plugin reproduces it rather than widening.
    q = torch.tensor([[-128, 127]], dtype=torch.int8)
    zps = torch.tensor([[1]], dtype=torch.int8)
    got = OPS.dequantize_per_channel_group(q, torch.tensor([[1.0]]), zps, -128, 127, torch.int8, 2, torch.float32)
    # -128 - 1 wraps to 127; 127 - 1 = 126
    assert got.tolist() == [[127.0, 126.0]]


def test_sizes_and_meta():
    w = _weights(4096, 4100)
    scales, zps = _qparams(w.numel() // 41, -8, 7, torch.float32, torch.int32)
    assert torch.equal(OPS.quantize_per_channel_group(w, scales, zps, -8, 7, torch.int8, 41),
                       ref.quantize_per_channel_group(w, scales, zps, -8, 7, torch.int8, 41))
    assert OPS.quantize_per_channel_group(torch.empty(0, 64), torch.empty(0, 1), torch.empty(0, 1), -8, 7,
                                          torch.int8, 32).shape == (0, 64)
    m = torch.empty(4, 64, device="meta")
    q = OPS.quantize_per_channel_group(m, torch.empty(8, 1, device="meta"), torch.empty(8, 1, device="meta"), -8, 7,
                                       torch.int8, 32)
    assert q.shape == (4, 64) and q.dtype == torch.int8
    d = OPS.dequantize_per_channel_group(q, torch.empty(8, 1, device="meta"), None, -8, 7, torch.int8, 32,
                                         torch.bfloat16)
    assert d.shape == (4, 64) and d.dtype == torch.bfloat16


W = torch.ones(2, 64)
S = torch.ones(4, 1)


@pytest.mark.parametrize("call,message", [
    (lambda: OPS.quantize_per_channel_group(W, S, S, -8, 7, torch.int8, 1), "group_size must be > 1, got 1"),
    (lambda: OPS.quantize_per_channel_group(W, S, S, -8, 7, torch.int8, 24),
     r"input.shape\[-1\] \(64\) must be divisible by group_size \(24\)"),
    (lambda: OPS.quantize_per_channel_group(torch.ones(2, 2, 16), S, S, -8, 7, torch.int8, 16),
     r"input must be 2-D, got shape \[2, 2, 16\]"),
    (lambda: OPS.quantize_per_channel_group(W, torch.ones(3, 1), S, -8, 7, torch.int8, 32),
     r"scales must hold one entry per group \(4 groups of 32\) or a single one, got shape \[3, 1\]"),
    (lambda: OPS.quantize_per_channel_group(W, S, torch.ones(5, 1), -8, 7, torch.int8, 32),
     r"zero_points must hold one entry per group \(4 groups of 32\)"),
    (lambda: OPS.quantize_per_channel_group(W * float("nan"), S, S, -8, 7, torch.int8, 32),
     "input must not contain NaN"),
    (lambda: OPS.quantize_per_channel_group(W, -S, S, -8, 7, torch.int8, 32),
     r"scales must be finite numbers > 0, got scales\[0\] = -1"),
    (lambda: OPS.quantize_per_channel_group(W, S, (S * 9).int(), -8, 7, torch.int8, 32),
     r"zero_points must lie in \[quant_min, quant_max\] = \[-8, 7\], got zero_points\[0\] = 9"),
    (lambda: OPS.quantize_per_channel_group(W, S, S, -8, 300, torch.int8, 32), "quant_max must be <= 127"),
    (lambda: OPS.dequantize_per_channel_group(W.to(torch.int8), S, None, -8, 7, torch.uint8, 32, torch.float32),
     r"input must have the dtype given by the dtype argument \(Byte\), got Char"),
    (lambda: OPS.dequantize_per_channel_group(W.to(torch.int8), S, None, -8, 7, torch.int8, 32, torch.int8),
     "out_dtype must be a floating-point dtype, got Char"),
])
def test_errors_name_the_value(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", RANGES)
def test_parity_with_upstream(dtype, qmin, qmax):
    up = upstream_decomposed()
    for (scale_dtype, zp_dtype), in_dtype, group_size in itertools.product(
            SCALE_ZP_DTYPES, [torch.float32, torch.bfloat16, torch.float16], (2, 32, 256, 512)):
        w = _weights(4, 256, in_dtype)
        groups = w.numel() // min(group_size, 256)
        scales, zps = _qparams(groups, qmin, qmax, scale_dtype, zp_dtype)
        context = (scale_dtype, zp_dtype, in_dtype, group_size)
        if in_dtype == scale_dtype == torch.float16 and qmax > 65504:
            # Upstream's float16 clamp cannot hold the bound; the plugin saturates (docs/numerics.md).
            with pytest.raises(RuntimeError, match="cannot be converted to type at::Half without overflow"):
                up.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size)
            continue
        expected = up.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size)
        assert torch.equal(OPS.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size),
                           expected), context
        assert torch.equal(ref.quantize_per_channel_group(w, scales, zps, qmin, qmax, dtype, group_size),
                           expected), context
        for zp, output_dtype in itertools.product((zps, None), (torch.float32, torch.bfloat16, torch.float16)):
            d_up = up.dequantize_per_channel_group(expected, scales, zp, qmin, qmax, dtype, group_size, output_dtype)
            d = OPS.dequantize_per_channel_group(expected, scales, zp, qmin, qmax, dtype, group_size, output_dtype)
            assert_bitwise_equal(d, d_up, f"{context} {output_dtype} zp={zp is not None}")
