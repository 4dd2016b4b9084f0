"""quantize_per_channel / dequantize_per_channel through torch.ops, against the
reference (all torch versions) and upstream's own ops (torch 2.x)."""

import itertools

import pytest
import torch

import reference_ops as ref
from bitwise import assert_bitwise_equal
from conftest import requires_plugin_definer, requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed

INT_DTYPES = [(torch.uint8, 0, 255), (torch.int8, -128, 127), (torch.int16, -32768, 32767),
              (torch.int32, -(2**31), 2**31 - 1)]
if hasattr(torch, "uint16"):
    INT_DTYPES.append((torch.uint16, 0, 65535))
SCALE_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
ZP_DTYPES = [torch.int32, torch.int64, torch.float32]
OUT_DTYPES = [None, torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _inputs(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 40
    # Exact halves make the round-half-to-even ties happen.
    x.view(-1)[::7] = torch.arange(x.numel())[::7].float() % 97 * 0.5 - 24
    return x.to(dtype)


def _qparams(channels, qmin, qmax, scale_dtype, zp_dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    scales = (torch.rand(channels, generator=g, dtype=torch.float64) * 0.5 + 0.01).to(scale_dtype)
    scales[0] = 0.5  # x / 0.5 turns the halves into ties after the reciprocal
    lo, hi = max(qmin, -100), min(qmax, 100)
    zero_points = torch.randint(lo, hi + 1, (channels,), generator=g).to(zp_dtype)
    return scales, zero_points


def _layouts(x):
    """The same values as contiguous, channels-last (4-D) and non-dense tensors."""
    yield "contiguous", x
    if x.dim() == 4:
        yield "channels_last", x.contiguous(memory_format=torch.channels_last)
    wide = torch.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    yield "strided", wide[..., ::2]


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("scale_dtype", SCALE_DTYPES)
@pytest.mark.parametrize("zp_dtype", ZP_DTYPES)
def test_quantize_matches_reference(dtype, qmin, qmax, scale_dtype, zp_dtype):
    x = _inputs((3, 5, 7, 11))
    for axis in (0, 1, 3, -1, -3):
        channels = x.shape[axis]
        scales, zps = _qparams(channels, qmin, qmax, scale_dtype, zp_dtype, seed=axis + 5)
        expected = ref.quantize_per_channel(x, scales, zps, axis, qmin, qmax, dtype)
        for name, layout in _layouts(x):
            got = OPS.quantize_per_channel(layout, scales, zps, axis, qmin, qmax, dtype)
            assert torch.equal(got, expected), (name, axis)


@pytest.mark.parametrize("in_dtype", [torch.float16, torch.bfloat16])
def test_quantize_reduced_inputs_upcast(in_dtype):
    x = _inputs((6, 4099), in_dtype)
    scales, zps = _qparams(6, -128, 127, torch.float32, torch.int64)
    got = OPS.quantize_per_channel(x, scales, zps, 0, -128, 127, torch.int8)
    assert torch.equal(got, ref.quantize_per_channel(x, scales, zps, 0, -128, 127, torch.int8))


def test_float_zero_points_are_not_range_checked():
    # per_channel_affine_float_qparams: fractional zero points outside [qmin, qmax].
    x = torch.tensor([[0.0, 1.0, -3.3, 2.6]])
    scales = torch.tensor([0.5])
    zps = torch.tensor([-200.25])
    got = OPS.quantize_per_channel(x, scales, zps, 0, 0, 255, torch.uint8)
    # round(x * 2) - 200.25 is below 0 everywhere: clamped to 0
    assert got.tolist() == [[0, 0, 0, 0]]
    zps = torch.tensor([3.75])
    got = OPS.quantize_per_channel(x, scales, zps, 0, 0, 255, torch.uint8)
    # 0+3.75=3.75->3; 2+3.75=5.75->5; round(-6.6)=-7+3.75=-3.25->0; round(5.2)=5+3.75=8.75->8 (truncation)
    assert got.tolist() == [[3, 5, 0, 8]]
    assert torch.equal(got, ref.quantize_per_channel(x, scales, zps, 0, 0, 255, torch.uint8))


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("zp_dtype", [torch.int32, torch.int64, torch.float32, None])
@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.float64])
def test_dequantize_matches_reference(dtype, qmin, qmax, zp_dtype, scale_dtype):
    g = torch.Generator().manual_seed(3)
    q = torch.randint(qmin, qmax, (4, 9, 5, 3), generator=g, dtype=torch.int64).to(dtype)
    for axis in (0, 1, -1):
        scales, zps = _qparams(q.shape[axis], qmin, qmax, scale_dtype, zp_dtype or torch.int64, seed=axis + 9)
        zps = None if zp_dtype is None else zps
        for out_dtype in OUT_DTYPES:
            expected = ref.dequantize_per_channel(q, scales, zps, axis, qmin, qmax, dtype, out_dtype)
            for name, layout in _layouts(q):
                got = OPS.dequantize_per_channel(layout, scales, zps, axis, qmin, qmax, dtype, out_dtype=out_dtype)
                assert_bitwise_equal(got, expected, f"{name} axis={axis} out={out_dtype}")


def test_dequantize_order_differs_from_per_tensor():
    # int32: q - zp is exact in int64, then converted; per-tensor converts q first.
    q = torch.tensor([16777217], dtype=torch.int32)
    got = OPS.dequantize_per_channel(q, torch.tensor([1.0]), torch.tensor([1]), 0, -(2**31), 2**31 - 1, torch.int32)
    assert got.item() == 16777216.0  # 16777217 - 1 = 16777216, exact in float32
    per_tensor = OPS.dequantize_per_tensor(q, 1.0, 1, -(2**31), 2**31 - 1, torch.int32)
    assert per_tensor.item() == 16777215.0  # float(16777217) = 16777216, minus 1


def test_layout_and_sizes():
    x = _inputs((2, 6, 5, 7)).contiguous(memory_format=torch.channels_last)
    scales, zps = _qparams(6, -128, 127, torch.float32, torch.int64)
    q = OPS.quantize_per_channel(x, scales, zps, 1, -128, 127, torch.int8)
    assert q.stride() == x.stride()
    d = OPS.dequantize_per_channel(q, scales, zps, 1, -128, 127, torch.int8)
    assert d.stride() == x.stride()
    # More than 2^24 elements, channel runs of 4097 and of 1.
    big = _inputs((4097, 4097))
    scales, zps = _qparams(4097, -128, 127, torch.float32, torch.int32)
    for axis in (0, 1):
        assert torch.equal(OPS.quantize_per_channel(big, scales, zps, axis, -128, 127, torch.int8),
                           ref.quantize_per_channel(big, scales, zps, axis, -128, 127, torch.int8))
    empty = torch.empty(0, 3)
    scales, zps = _qparams(3, -128, 127, torch.float32, torch.int64)
    assert OPS.quantize_per_channel(empty, scales, zps, 1, -128, 127, torch.int8).shape == (0, 3)
    assert OPS.dequantize_per_channel(empty.to(torch.int8), scales, zps, 1, -128, 127, torch.int8).shape == (0, 3)


def test_nan_quantizes_to_the_zero_point():
    # Upstream's cast of NaN is undefined; the plugin defines it as the zero point.
    x = torch.tensor([[float("nan"), 1.0], [float("nan"), float("inf")]])
    q = OPS.quantize_per_channel(x, torch.tensor([1.0, 1.0]), torch.tensor([3, -4]), 0, -128, 127, torch.int8)
    assert q.tolist() == [[3, 4], [-4, 127]]


def test_meta_shapes():
    x = torch.empty(3, 5, device="meta")
    scales, zps = torch.empty(5, device="meta"), torch.empty(5, dtype=torch.int64, device="meta")
    q = OPS.quantize_per_channel(x, scales, zps, 1, -128, 127, torch.int8)
    assert q.shape == (3, 5) and q.dtype == torch.int8
    d = OPS.dequantize_per_channel(q, scales, None, -1, -128, 127, torch.int8, out_dtype=torch.bfloat16)
    assert d.shape == (3, 5) and d.dtype == torch.bfloat16


ONE_BY_THREE = torch.ones(1, 3)


@pytest.mark.parametrize("call,message", [
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(2), torch.zeros(3), 1, -128, 127, torch.int8),
     r"scales must be 1-D with one entry per channel \(input.size\(1\) = 3\), got shape \[2\]"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(1, 3), torch.zeros(3), 1, -128, 127, torch.int8),
     r"scales must be 1-D .* got shape \[1, 3\]"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.zeros(4), 1, -128, 127, torch.int8),
     r"zero_points must be 1-D .* got shape \[4\]"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.tensor([1.0, 0.0, 1.0]), torch.zeros(3), 1, -128, 127,
                                      torch.int8), r"scales must be finite numbers > 0, got scales\[1\] = 0"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.tensor([1.0, 1.0, -2.0]), torch.zeros(3), 1, -128, 127,
                                      torch.int8), r"got scales\[2\] = -2"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.tensor([float("nan"), 1.0, 1.0]), torch.zeros(3), 1,
                                      -128, 127, torch.int8), r"got scales\[0\] = nan"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.tensor([1.0, float("inf"), 1.0]), torch.zeros(3), 1,
                                      -128, 127, torch.int8), r"got scales\[1\] = inf"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.tensor([0, 200, 0]), 1, -128, 127,
                                      torch.int8),
     r"zero_points must lie in \[quant_min, quant_max\] = \[-128, 127\], got zero_points\[1\] = 200"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.tensor([0.0, float("nan"), 0.0]), 1,
                                      -128, 127, torch.int8), r"zero_points must be finite, got zero_points\[1\] = nan"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.zeros(3), 2, -128, 127, torch.int8),
     r"axis must be in \[-2, 2\) for a 2-d input, got 2"),
    (lambda: OPS.quantize_per_channel(torch.tensor(1.0), torch.ones(1), torch.zeros(1), 0, -128, 127, torch.int8),
     r"axis must be in \[0, 0\) for a 0-d input, got 0"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE.double(), torch.ones(3), torch.zeros(3), 1, -128, 127,
                                      torch.int8), "input must be float32, float16 or bfloat16, got Double"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3, dtype=torch.int64), torch.zeros(3), 1, -128, 127,
                                      torch.int8), "scales must be a floating-point tensor, got Long"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.zeros(3, dtype=torch.bool), 1, -128, 127,
                                      torch.int8), "zero_points must be an integer or floating-point tensor, got Bool"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.zeros(3), 1, 0, 256, torch.uint8),
     "quant_max must be <= 255 for dtype Byte, got 256"),
    (lambda: OPS.quantize_per_channel(ONE_BY_THREE, torch.ones(3), torch.zeros(3), 1, -128, 127, torch.float32),
     "dtype must be one of"),
    (lambda: OPS.dequantize_per_channel(ONE_BY_THREE.to(torch.uint8), torch.ones(3), None, 1, -128, 127, torch.int8),
     r"input must have the dtype given by the dtype argument \(Char\), got Byte"),
    (lambda: OPS.dequantize_per_channel(ONE_BY_THREE.to(torch.int8), torch.ones(3), None, 1, -128, 127, torch.int8,
                                        out_dtype=torch.int32), "out_dtype must be a floating-point dtype, got Int"),
    (lambda: OPS.dequantize_per_channel(ONE_BY_THREE.to(torch.int8), torch.ones(2), None, 1, -128, 127, torch.int8),
     r"scales must be 1-D with one entry per channel \(input.size\(1\) = 3\)"),
    (lambda: OPS.dequantize_per_channel(ONE_BY_THREE.to(torch.int8), torch.zeros(3), None, 1, -128, 127, torch.int8),
     r"scales must be finite numbers > 0, got scales\[0\] = 0"),
])
def test_errors_name_the_value(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


@requires_plugin_definer
def test_meta_checks_shapes_too():
    x = torch.empty(2, 3, device="meta")
    with pytest.raises(RuntimeError, match=r"scales must be 1-D with one entry per channel"):
        OPS.quantize_per_channel(x, torch.empty(4, device="meta"), torch.empty(3, device="meta"), 1, -128, 127,
                                 torch.int8)


def _upstream_refuses_difference(dtype, zero_points):
    """torch>=2.3 raises on uint16 - integer zero points (no promotion);
    the plugin computes the exact difference (docs/numerics.md)."""
    uint16 = getattr(torch, "uint16", None)
    return dtype == uint16 and zero_points is not None and not zero_points.is_floating_point()


def test_uint16_minus_integer_zero_points_is_exact():
    if not hasattr(torch, "uint16"):
        pytest.skip("torch.uint16 exists in torch>=2.3 (runs in the trixie root, tools/run_tests.sh)")
    q = torch.tensor([[65535, 0]], dtype=torch.uint16)
    got = OPS.dequantize_per_channel(q, torch.tensor([0.5]), torch.tensor([3]), 0, 0, 65535, torch.uint16)
    assert got.tolist() == [[32766.0, -1.5]]  # (65535 - 3) * 0.5, (0 - 3) * 0.5


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
def test_parity_with_upstream(dtype, qmin, qmax):
    up = upstream_decomposed()
    x = _inputs((4, 6, 9, 5))
    for scale_dtype, zp_dtype, axis in itertools.product(SCALE_DTYPES, ZP_DTYPES + [torch.float64], (0, 1, 3)):
        scales, zps = _qparams(x.shape[axis], qmin, qmax, scale_dtype, zp_dtype, seed=axis)
        for in_dtype in (torch.float32, torch.bfloat16, torch.float16):
            xi = x.to(in_dtype)
            expected = up.quantize_per_channel(xi, scales, zps, axis, qmin, qmax, dtype)
            context = (scale_dtype, zp_dtype, axis, in_dtype)
            assert torch.equal(OPS.quantize_per_channel(xi, scales, zps, axis, qmin, qmax, dtype), expected), context
            assert torch.equal(ref.quantize_per_channel(xi, scales, zps, axis, qmin, qmax, dtype), expected), context
            cl = xi.contiguous(memory_format=torch.channels_last)
            assert torch.equal(OPS.quantize_per_channel(cl, scales, zps, axis, qmin, qmax, dtype), expected), context
        for zp in (zps, None):
            if _upstream_refuses_difference(dtype, zp):
                continue
            for out_dtype in OUT_DTYPES:
                d_up = up.dequantize_per_channel(expected, scales, zp, axis, qmin, qmax, dtype, out_dtype=out_dtype)
                d = OPS.dequantize_per_channel(expected, scales, zp, axis, qmin, qmax, dtype, out_dtype=out_dtype)
                assert_bitwise_equal(d, d_up, f"{scale_dtype} {zp_dtype} {axis} {out_dtype}")
                assert_bitwise_equal(
                    ref.dequantize_per_channel(expected, scales, zp, axis, qmin, qmax, dtype, out_dtype), d_up,
                    "reference")


@requires_upstream
@pytest.mark.skipif(not hasattr(torch, "float8_e4m3fn"), reason="float8 dtypes exist in torch>=2.1 (trixie root)")
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_parity_with_upstream(dtype):
    # float8 outputs have no loop: upstream's expression, evaluated with ATen ops.
    up = upstream_decomposed()
    dtype = getattr(torch, dtype)
    bound = int(torch.finfo(dtype).max)
    x = _inputs((3, 7, 5)) * 100
    scales, zps = _qparams(7, -bound, bound, torch.float32, torch.int64)
    expected = up.quantize_per_channel(x, scales, zps, 1, -bound, bound, dtype)
    got = OPS.quantize_per_channel(x, scales, zps, 1, -bound, bound, dtype)
    assert_bitwise_equal(got.float(), expected.float(), "quantize")
    # torch 2.6's dequantize cannot subtract zero points from float8 ("Promotion for Float8 Types
    # is not supported"), so there is no upstream result to compare a float8 dequantize with.
    with pytest.raises(RuntimeError, match="Float8"):
        up.dequantize_per_channel(expected, scales, zps, 1, -bound, bound, dtype)


# ---- small parameters: plain loops (kernels/host_values.h) against ATen ops --
# Parameter tensors of more than 2**16 entries are checked and prepared with
# ATen ops, smaller CPU ones with plain loops. Quantizing LARGE channels at
# once, then a few of them alone, runs the same values through both paths.
LARGE = 2**16 + 3
ALL_ZP_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16, torch.bfloat16,
                 torch.float32, torch.float64]
# One channel, a few, and non-contiguous parameters (every other channel).
SMALL_SLICES = [slice(0, 1), slice(0, 9), slice(1, 18, 2)]


def _large_qparams(scale_dtype, zp_dtype):
    g = torch.Generator().manual_seed(7)
    scales = (torch.rand(LARGE, generator=g, dtype=torch.float64) * 0.5 + 0.01).to(scale_dtype)
    scales[0] = 0.5
    zps = torch.randint(0 if zp_dtype == torch.uint8 else -100, 101, (LARGE,), generator=g)
    if zp_dtype.is_floating_point:
        zps = zps + torch.rand(LARGE, generator=g, dtype=torch.float64)  # fractional: truncated by the cast
    return scales, zps.to(zp_dtype)


@pytest.mark.parametrize("scale_dtype", SCALE_DTYPES)
@pytest.mark.parametrize("zp_dtype", ALL_ZP_DTYPES)
def test_small_parameters_match_the_aten_path(scale_dtype, zp_dtype):
    scales, zps = _large_qparams(scale_dtype, zp_dtype)
    x = _inputs((LARGE, 3))
    for axis, data in ((0, x), (1, x.t().contiguous())):  # runs of 3 elements, or one channel per element
        def rows(t, channels):
            return t[channels] if axis == 0 else t[:, channels]
        q = OPS.quantize_per_channel(data, scales, zps, axis, -128, 127, torch.int8)
        for channels in SMALL_SLICES:
            small = OPS.quantize_per_channel(rows(data, channels), scales[channels], zps[channels], axis, -128, 127,
                                             torch.int8)
            assert torch.equal(small, rows(q, channels)), (axis, channels)
        for zp, out_dtype in itertools.product((zps, None), OUT_DTYPES):
            d = OPS.dequantize_per_channel(q, scales, zp, axis, -128, 127, torch.int8, out_dtype=out_dtype)
            for channels in SMALL_SLICES:
                small = OPS.dequantize_per_channel(rows(q, channels), scales[channels],
                                                   None if zp is None else zp[channels], axis, -128, 127, torch.int8,
                                                   out_dtype=out_dtype)
                assert_bitwise_equal(small, rows(d, channels), f"axis={axis} {channels} zp={zp is not None} "
                                                               f"out={out_dtype}")


def _message(call):
    with pytest.raises(RuntimeError) as info:
        call()
    return str(info.value).splitlines()[0]


@pytest.mark.parametrize("scale_dtype", SCALE_DTYPES)
def test_small_parameters_reject_scales_like_the_aten_path(scale_dtype):
    x, q = torch.ones(LARGE, 2), torch.ones(LARGE, 2, dtype=torch.int8)
    zps = torch.zeros(LARGE, dtype=torch.int64)
    for bad, text in ((0.0, "0"), (-1.5, "-1.5"), (float("nan"), "nan"), (float("inf"), "inf"),
                      (float("-inf"), "-inf")):
        scales = torch.ones(LARGE, dtype=scale_dtype)
        scales[5] = bad
        for op in (lambda n, s: OPS.quantize_per_channel(x[:n], s, zps[:n], 0, -128, 127, torch.int8),
                   lambda n, s: OPS.dequantize_per_channel(q[:n], s, zps[:n], 0, -128, 127, torch.int8)):
            aten = _message(lambda: op(LARGE, scales))
            assert aten.endswith(f": scales must be finite numbers > 0, got scales[5] = {text}"), aten
            assert _message(lambda: op(9, scales[:9])) == aten
            assert _message(lambda: op(9, scales[1:19:2])) == aten.replace("[5]", "[2]")


@pytest.mark.parametrize("zp_dtype", ALL_ZP_DTYPES)
def test_small_parameters_reject_zero_points_like_the_aten_path(zp_dtype):
    x, q = torch.ones(LARGE, 2), torch.ones(LARGE, 2, dtype=torch.int8)
    scales = torch.ones(LARGE)
    if zp_dtype.is_floating_point:
        bad_values = [(float("nan"), "must be finite, got zero_points[5] = nan"),
                      (float("inf"), "must be finite, got zero_points[5] = inf"),
                      (float("-inf"), "must be finite, got zero_points[5] = -inf")]
    else:
        bad_values = [(101, "must lie in [quant_min, quant_max] = [-100, 100], got zero_points[5] = 101")]
        if zp_dtype != torch.uint8:
            bad_values.append((-101, "must lie in [quant_min, quant_max] = [-100, 100], got zero_points[5] = -101"))
    for bad, text in bad_values:
        zps = torch.zeros(LARGE, dtype=zp_dtype)
        zps[5] = bad
        for op in (lambda n, z: OPS.quantize_per_channel(x[:n], scales[:n], z, 0, -100, 100, torch.int8),
                   lambda n, z: OPS.dequantize_per_channel(q[:n], scales[:n], z, 0, -100, 100, torch.int8)):
            aten = _message(lambda: op(LARGE, zps))
            assert aten.endswith(": zero_points " + text), aten
            assert _message(lambda: op(9, zps[:9])) == aten
            assert _message(lambda: op(9, zps[1:19:2])) == aten.replace("[5]", "[2]")
    # Float zero points are not range-checked, on either path.
    zps = torch.full((LARGE,), 300.5).to(zp_dtype) if zp_dtype.is_floating_point else None
    if zps is not None:
        assert torch.equal(OPS.quantize_per_channel(x[:9], scales[:9], zps[:9], 0, -100, 100, torch.int8),
                           OPS.quantize_per_channel(x, scales, zps, 0, -100, 100, torch.int8)[:9])
