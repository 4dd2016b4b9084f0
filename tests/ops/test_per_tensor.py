"""quantize_per_tensor / dequantize_per_tensor through torch.ops, against the
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

SCALES = [1e-4, 0.0078125, 0.0123, 0.5, 1.0, 3.7, 1000.0]


def _inputs(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 40
    # Exact halves make the round-half-to-even ties happen.
    x.view(-1)[::7] = torch.arange(x.numel())[::7].float() * 0.5 - 60
    return x.to(dtype)


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("scale", SCALES)
def test_quantize_matches_reference(dtype, qmin, qmax, scale):
    x = _inputs((3, 1001))
    for zp in (qmin, 0 if qmin <= 0 else qmin, qmax, (qmin + qmax) // 2):
        got = OPS.quantize_per_tensor(x, scale, zp, qmin, qmax, dtype)
        expected = ref.quantize_per_tensor(x, scale, zp, qmin, qmax, dtype)
        if dtype == torch.int32:
            # Out-of-range values saturate here; upstream wraps to INT32_MIN (undefined).
            in_range = (x.double() / scale + zp).abs() < 2.0**30
            assert torch.equal(got[in_range], expected[in_range])
        else:
            assert torch.equal(got, expected), (dtype, scale, zp)


@pytest.mark.parametrize("in_dtype", [torch.float16, torch.bfloat16])
def test_quantize_reduced_inputs(in_dtype):
    x = _inputs((4099,), in_dtype)
    got = OPS.quantize_per_tensor(x, 0.05, -3, -128, 127, torch.int8)
    assert torch.equal(got, ref.quantize_per_tensor(x, 0.05, -3, -128, 127, torch.int8))


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("out_dtype", [None, torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dequantize_matches_reference(dtype, qmin, qmax, out_dtype):
    g = torch.Generator().manual_seed(1)
    q = torch.randint(qmin, qmax, (5000,), generator=g, dtype=torch.int64).to(dtype)
    for scale, zp in itertools.product([0.0123, 2.5], [qmin, (qmin + qmax) // 2]):
        got = OPS.dequantize_per_tensor(q, scale, zp, qmin, qmax, dtype, out_dtype=out_dtype)
        expected = ref.dequantize_per_tensor(q, scale, zp, qmin, qmax, dtype, out_dtype)
        assert_bitwise_equal(got, expected, f"{dtype} {out_dtype} {scale} {zp}")


def test_tensor_overloads():
    x = _inputs((257,))
    s, z = torch.tensor([0.02]), torch.tensor([5])
    a = OPS.quantize_per_tensor.tensor(x, s, z, -128, 127, torch.int8)
    b = OPS.quantize_per_tensor.tensor2(x, s, z, torch.tensor(-128), torch.tensor(127), torch.int8)
    assert torch.equal(a, b)
    assert torch.equal(a, ref.quantize_per_tensor(x, 0.02, 5, -128, 127, torch.int8))
    d = OPS.dequantize_per_tensor.tensor(a, s, z, -128, 127, torch.int8)
    d2 = OPS.dequantize_per_tensor.tensor2(a, s, z, torch.tensor(-128), torch.tensor(127), torch.int8)
    assert torch.equal(d, d2)


@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("zp_dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
                                      torch.bfloat16, torch.float32, torch.float64])
def test_tensor_overloads_read_every_dtype_and_layout(scale_dtype, zp_dtype):
    # CPU parameters are read without item() (kernels/host_values.h): the value
    # must be item()'s, whatever the dtype and layout.
    x = _inputs((5, 7))
    scale = torch.tensor([9.0, 0.0123 if scale_dtype.is_floating_point else 2.0], dtype=torch.float64).to(scale_dtype)
    zp = torch.tensor([100, 3, 7], dtype=zp_dtype)
    q_bounds = (torch.tensor([-128]), torch.tensor(127.0))
    for s, z in ((scale[1:], zp[1:2]), (scale[1], zp[1]), (scale[1:].expand(1), zp[1::2]), (scale[1:].view(1, 1),
                                                                                              zp[1:2].view(1, 1, 1))):
        expected = OPS.quantize_per_tensor(x, s.item(), int(z.item()), -128, 127, torch.int8)
        assert torch.equal(OPS.quantize_per_tensor.tensor(x, s, z, -128, 127, torch.int8), expected)
        assert torch.equal(OPS.quantize_per_tensor.tensor2(x, s, z, *q_bounds, torch.int8), expected)
        d = OPS.dequantize_per_tensor(expected, s.item(), int(z.item()), -128, 127, torch.int8)
        assert_bitwise_equal(OPS.dequantize_per_tensor.tensor(expected, s, z, -128, 127, torch.int8), d)
        assert_bitwise_equal(OPS.dequantize_per_tensor.tensor2(expected, s, z, *q_bounds, torch.int8), d)
    if zp_dtype.is_floating_point:
        with pytest.raises(RuntimeError, match="zero_point must hold an integer value, got 2.5"):
            OPS.quantize_per_tensor.tensor(x, scale[1:], torch.tensor([2.5], dtype=zp_dtype), -128, 127, torch.int8)


def test_tensor_overloads_check_the_values_they_read():
    x = _inputs((3,))
    for scale, text in ((0.0, "0"), (-2.0, "-2"), (float("nan"), "nan"), (float("inf"), "inf")):
        for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            with pytest.raises(RuntimeError, match=f"scale must be a finite number > 0, got {text}(\\s|$)"):
                OPS.quantize_per_tensor.tensor(x, torch.tensor([scale], dtype=dtype), torch.tensor(0), -128, 127,
                                               torch.int8)
    with pytest.raises(RuntimeError, match=r"zero_point must lie in \[quant_min, quant_max\] = \[-128, 127\], got 200"):
        OPS.dequantize_per_tensor.tensor(x.to(torch.int8), torch.tensor(0.5), torch.tensor(200, dtype=torch.uint8),
                                         -128, 127, torch.int8)
    with pytest.raises(RuntimeError, match="quant_min must hold an integer value, got -0.5"):
        OPS.quantize_per_tensor.tensor2(x, torch.tensor(0.5), torch.tensor(0), torch.tensor(-0.5), torch.tensor(1),
                                        torch.int8)

def test_layouts_and_sizes():
    x = _inputs((2, 3, 17, 19)).contiguous(memory_format=torch.channels_last)
    q = OPS.quantize_per_tensor(x, 0.1, 0, -128, 127, torch.int8)
    assert q.stride() == x.stride()
    assert torch.equal(q.contiguous(), OPS.quantize_per_tensor(x.contiguous(), 0.1, 0, -128, 127, torch.int8))
    big = _inputs((1 << 25,))
    assert torch.equal(OPS.quantize_per_tensor(big, 0.1, 0, -128, 127, torch.int8),
                       ref.quantize_per_tensor(big, 0.1, 0, -128, 127, torch.int8))
    assert OPS.quantize_per_tensor(torch.empty(0, 5), 0.1, 0, -128, 127, torch.int8).shape == (0, 5)


def test_meta_shapes():
    x = torch.empty(3, 5, device="meta")
    assert OPS.quantize_per_tensor(x, 0.1, 0, -128, 127, torch.int8).dtype == torch.int8
    q = torch.empty(3, 5, dtype=torch.uint8, device="meta")
    assert OPS.dequantize_per_tensor(q, 0.1, 0, 0, 255, torch.uint8, out_dtype=torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize("call,message", [
    (lambda x: OPS.quantize_per_tensor(x, 0.0, 0, -128, 127, torch.int8), "scale must be a finite number > 0, got 0"),
    (lambda x: OPS.quantize_per_tensor(x, float("inf"), 0, -128, 127, torch.int8), "scale must be a finite number"),
    (lambda x: OPS.quantize_per_tensor(x, 0.1, 300, -128, 127, torch.int8), "got 300"),
    (lambda x: OPS.quantize_per_tensor(x, 0.1, 0, 5, 1, torch.int8), "quant_min must be <= quant_max"),
    (lambda x: OPS.quantize_per_tensor(x, 0.1, 0, 0, 256, torch.uint8), "quant_max must be <= 255"),
    (lambda x: OPS.quantize_per_tensor(x.double(), 0.1, 0, -128, 127, torch.int8), "input must be float32"),
    (lambda x: OPS.quantize_per_tensor.tensor(x, torch.ones(2), torch.zeros(1), -128, 127, torch.int8),
     "scale must be a tensor with exactly one element"),
    (lambda x: OPS.dequantize_per_tensor(x, 0.1, 0, -128, 127, torch.int8), "input must have the dtype"),
])
def test_errors_name_the_value(call, message):
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(torch.ones(3))


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
def test_parity_with_upstream(dtype, qmin, qmax):
    up = upstream_decomposed()
    x = _inputs((2, 4097))
    for scale, zp in itertools.product(SCALES, [qmin, (qmin + qmax) // 2]):
        expected = up.quantize_per_tensor(x, scale, zp, qmin, qmax, dtype)
        got = OPS.quantize_per_tensor(x, scale, zp, qmin, qmax, dtype)
        if dtype == torch.int32:
            ok = (x.double() / scale + zp).abs() < 2.0**30
            assert torch.equal(got[ok], expected[ok])
        else:
            assert torch.equal(got, expected), (scale, zp)
        assert torch.equal(ref.quantize_per_tensor(x, scale, zp, qmin, qmax, dtype)[..., :10], expected[..., :10])
        for out_dtype in (None, torch.float64, torch.float16, torch.bfloat16):
            d_up = up.dequantize_per_tensor(expected, scale, zp, qmin, qmax, dtype, out_dtype=out_dtype)
            d = OPS.dequantize_per_tensor(expected, scale, zp, qmin, qmax, dtype, out_dtype=out_dtype)
            assert_bitwise_equal(d, d_up, f"{scale} {zp} {out_dtype}")
            assert_bitwise_equal(ref.dequantize_per_tensor(expected, scale, zp, qmin, qmax, dtype, out_dtype), d_up,
                                 "reference")
