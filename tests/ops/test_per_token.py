"""quantize_per_token / dequantize_per_token through torch.ops, against the
reference (all torch versions) and upstream's own ops (torch 2.x)."""

import itertools

import pytest
import torch

import reference_ops as ref
from bitwise import assert_bitwise_equal
from conftest import requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed

INT_DTYPES = [(torch.uint8, 0, 255), (torch.int8, -128, 127), (torch.int16, -32768, 32767),
              (torch.int32, -(2**31), 2**31 - 1)]
if hasattr(torch, "uint16"):
    INT_DTYPES.append((torch.uint16, 0, 65535))
INPUT_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]


def _inputs(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 30
    x.view(-1)[::5] = torch.arange(x.numel())[::5].float() % 61 * 0.5 - 15
    return x.to(dtype)


def _qparams(input_shape, qmin, qmax, scale_dtype, zp_dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    shape = list(input_shape[:-1]) + [1]
    scales = (torch.rand(shape, generator=g, dtype=torch.float64) * 0.5 + 0.01).to(scale_dtype)
    scales.view(-1)[0] = 0.5
    zps = torch.randint(max(qmin, -100), min(qmax, 100) + 1, shape, generator=g).to(zp_dtype)
    return scales, zps


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("in_dtype", INPUT_DTYPES)
@pytest.mark.parametrize("scale_dtype,zp_dtype", [(torch.float32, torch.float32), (torch.float64, torch.int64),
                                                  (torch.float32, torch.int32), (torch.bfloat16, torch.bfloat16)])
def test_quantize_matches_reference(dtype, qmin, qmax, in_dtype, scale_dtype, zp_dtype):
    for shape in [(3, 5, 67), (130,), (1, 1), (4, 2, 3, 9)]:
        x = _inputs(shape, in_dtype)
        scales, zps = _qparams(shape, qmin, qmax, scale_dtype, zp_dtype)
        got = OPS.quantize_per_token(x, scales, zps, qmin, qmax, dtype)
        assert torch.equal(got, ref.quantize_per_token(x, scales, zps, qmin, qmax, dtype)), shape
        # Non-contiguous inputs give the same values.
        t = x.transpose(0, -1).contiguous().transpose(0, -1)
        assert torch.equal(OPS.quantize_per_token(t, scales, zps, qmin, qmax, dtype), got)


def test_zero_point_is_added_before_rounding():
    # 0.5 + 1 = 1.5 rounds to 2 (half to even); round-then-add would give 0 + 1 = 1.
    x = torch.tensor([[0.5, 2.5, -0.5]])
    got = OPS.quantize_per_token(x, torch.tensor([[1.0]]), torch.tensor([[1]]), -128, 127, torch.int8)
    # 2.5 + 1 = 3.5 -> 4; -0.5 + 1 = 0.5 -> 0
    assert got.tolist() == [[2, 4, 0]]


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("scale_dtype,zp_dtype", [(torch.float32, torch.float32), (torch.float64, torch.int64),
                                                  (torch.float32, torch.int32), (torch.float64, torch.float64)])
@pytest.mark.parametrize("output_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dequantize_matches_reference(dtype, qmin, qmax, scale_dtype, zp_dtype, output_dtype):
    g = torch.Generator().manual_seed(2)
    for shape in [(3, 5, 67), (130,), (2, 1)]:
        q = torch.randint(qmin, qmax, shape, generator=g, dtype=torch.int64).to(dtype)
        scales, zps = _qparams(shape, qmin, qmax, scale_dtype, zp_dtype)
        got = OPS.dequantize_per_token(q, scales, zps, qmin, qmax, dtype, output_dtype)
        expected = ref.dequantize_per_token(q, scales, zps, qmin, qmax, dtype, output_dtype)
        assert_bitwise_equal(got, expected, f"{shape}")


def test_round_trip_with_choose_qparams():
    x = _inputs((17, 4, 129))
    for choose in (OPS.choose_qparams_per_token, OPS.choose_qparams_per_token_asymmetric):
        scales, zps = choose(x, torch.int8)
        q = OPS.quantize_per_token(x, scales, zps, -128, 127, torch.int8)
        d = OPS.dequantize_per_token(q, scales, zps, -128, 127, torch.int8, torch.float32)
        step = scales.to(torch.float32).expand_as(x)
        assert ((d - x).abs() <= step * 0.5 + 1e-4).all()


def test_sizes():
    big = _inputs((4097, 4097))
    scales, zps = _qparams(big.shape, -128, 127, torch.float32, torch.float32)
    assert torch.equal(OPS.quantize_per_token(big, scales, zps, -128, 127, torch.int8),
                       ref.quantize_per_token(big, scales, zps, -128, 127, torch.int8))
    empty = torch.empty(0, 8)
    assert OPS.quantize_per_token(empty, torch.empty(0, 1), torch.empty(0, 1), -128, 127, torch.int8).shape == (0, 8)
    # A 0-d input is one token of one element.
    q = OPS.quantize_per_token(torch.tensor(3.0), torch.tensor(0.5), torch.tensor(1), -128, 127, torch.int8)
    assert q.shape == () and q.item() == 7  # 3 / 0.5 + 1 = 7
    assert OPS.dequantize_per_token(q, torch.tensor(0.5), torch.tensor(1), -128, 127, torch.int8,
                                    torch.float32).item() == 3.0  # (7 - 1) * 0.5


def test_meta_shapes():
    x = torch.empty(2, 3, 5, device="meta")
    s = torch.empty(2, 3, 1, device="meta")
    q = OPS.quantize_per_token(x, s, s, -128, 127, torch.int8)
    assert q.shape == (2, 3, 5) and q.dtype == torch.int8
    d = OPS.dequantize_per_token(q, s, s, -128, 127, torch.int8, torch.float16)
    assert d.shape == (2, 3, 5) and d.dtype == torch.float16


X = torch.ones(2, 3, 4)
S = torch.ones(2, 3, 1)


@pytest.mark.parametrize("call,message", [
    (lambda: OPS.quantize_per_token(X, torch.ones(5, 1), S, -128, 127, torch.int8),
     r"scales must hold one entry per token \(6 tokens\), shaped input.shape\[:-1\] \+ \[1\] = \[2, 3, 1\] .*"
     r"got shape \[5, 1\]"),
    # One entry per token, but not along the last dimension: upstream would broadcast it per column.
    (lambda: OPS.quantize_per_token(torch.ones(4, 4), torch.ones(4), torch.ones(4, 1), -128, 127, torch.int8),
     r"scales must hold one entry per token .* got shape \[4\]"),
    (lambda: OPS.quantize_per_token(X, S, torch.ones(6), -128, 127, torch.int8),
     r"zero_points must hold one entry per token .* got shape \[6\]"),
    (lambda: OPS.quantize_per_token(X, S * 0, S, -128, 127, torch.int8),
     r"scales must be finite numbers > 0, got scales\[0\] = 0"),
    (lambda: OPS.quantize_per_token(X, S, (S * 300).int(), -128, 127, torch.int8),
     r"zero_points must lie in \[quant_min, quant_max\] = \[-128, 127\], got zero_points\[0\] = 300"),
    (lambda: OPS.quantize_per_token(X.int(), S, S, -128, 127, torch.int8),
     r"input must be a floating-point tensor .* got Int"),
    (lambda: OPS.quantize_per_token(X, S, S, -129, 127, torch.int8), "quant_min must be >= -128 for dtype Char"),
    (lambda: OPS.dequantize_per_token(X.to(torch.int8), S, S, -128, 127, torch.int8, torch.int32),
     "out_dtype must be a floating-point dtype, got Int"),
    (lambda: OPS.dequantize_per_token(X.to(torch.int16), S, S, -128, 127, torch.int8, torch.float32),
     r"input must have the dtype given by the dtype argument \(Char\), got Short"),
    (lambda: OPS.dequantize_per_token(X.to(torch.int8), torch.ones(3, 2, 1), S, -128, 127, torch.int8,
                                      torch.float32), r"scales must hold one entry per token"),
])
def test_errors_name_the_value(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def _upstream_raises(dtype, qmax, in_dtype, scale_dtype, zp_dtype):
    """Where torch 2.x's expression raises and the plugin defines a result
    (docs/numerics.md): float16 chains clamp to bounds float16 cannot hold,
    and uint16 - integer zero points have no promotion in torch>=2.3."""
    overflowing_clamp = in_dtype == scale_dtype == torch.float16 and qmax > 65504
    uint16_difference = dtype == getattr(torch, "uint16", None) and not zp_dtype.is_floating_point
    return overflowing_clamp, uint16_difference


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
def test_parity_with_upstream(dtype, qmin, qmax):
    up = upstream_decomposed()
    combos = [(torch.float32, torch.float32), (torch.float64, torch.int64), (torch.float32, torch.int32),
              (torch.bfloat16, torch.bfloat16), (torch.float16, torch.float16), (torch.float32, torch.float64)]
    for (scale_dtype, zp_dtype), in_dtype, shape in itertools.product(combos, INPUT_DTYPES, [(3, 7, 65), (129,)]):
        x = _inputs(shape, in_dtype)
        scales, zps = _qparams(shape, qmin, qmax, scale_dtype, zp_dtype)
        overflowing_clamp, uint16_difference = _upstream_raises(dtype, qmax, in_dtype, scale_dtype, zp_dtype)
        context = (scale_dtype, zp_dtype, in_dtype, shape)
        if overflowing_clamp:
            with pytest.raises(RuntimeError, match="cannot be converted to type at::Half without overflow"):
                up.quantize_per_token(x, scales, zps, qmin, qmax, dtype)
            continue
        expected = up.quantize_per_token(x, scales, zps, qmin, qmax, dtype)
        assert torch.equal(OPS.quantize_per_token(x, scales, zps, qmin, qmax, dtype), expected), context
        assert torch.equal(ref.quantize_per_token(x, scales, zps, qmin, qmax, dtype), expected), context
        if uint16_difference:
            continue
        for output_dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            d_up = up.dequantize_per_token(expected, scales, zps, qmin, qmax, dtype, output_dtype)
            d = OPS.dequantize_per_token(expected, scales, zps, qmin, qmax, dtype, output_dtype)
            assert_bitwise_equal(d, d_up, f"{context} {output_dtype}")
            assert_bitwise_equal(ref.dequantize_per_token(expected, scales, zps, qmin, qmax, dtype, output_dtype),
                                 d_up, "reference")


@requires_upstream
@pytest.mark.skipif(not hasattr(torch, "float8_e4m3fn"), reason="float8 dtypes exist in torch>=2.1 (trixie root)")
def test_float8_parity_with_upstream():
    up = upstream_decomposed()
    x = _inputs((4, 33))
    scales, zps = _qparams(x.shape, -448, 448, torch.float32, torch.float32)
    expected = up.quantize_per_token(x, scales, zps, -448, 448, torch.float8_e4m3fn)
    got = OPS.quantize_per_token(x, scales, zps, -448, 448, torch.float8_e4m3fn)
    assert_bitwise_equal(got.float(), expected.float(), "quantize")
    d_up = up.dequantize_per_token(expected, scales, zps, -448, 448, torch.float8_e4m3fn, torch.float32)
    d = OPS.dequantize_per_token(expected, scales, zps, -448, 448, torch.float8_e4m3fn, torch.float32)
    assert_bitwise_equal(d, d_up, "dequantize")
