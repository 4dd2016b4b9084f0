"""choose_qparams.tensor, choose_qparams_symmetric.tensor, choose_qparams_per_token,
_choose_qparams_per_token_asymmetric_impl and choose_qparams_per_token_asymmetric
through torch.ops, against the reference (all torch versions) and upstream's own
ops (torch 2.x)."""

import itertools

import pytest
import torch

import reference_ops as ref
from bitwise import assert_bitwise_equal
from conftest import requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed
EPS = torch.finfo(torch.float32).eps

RANGES = [(torch.int8, -128, 127), (torch.uint8, 0, 255), (torch.int8, -127, 127), (torch.int16, -32768, 32767),
          (torch.int32, -(2**31), 2**31 - 1), (torch.uint8, 0, 15), (torch.int8, -8, 7)]
if hasattr(torch, "uint16"):
    RANGES.append((torch.uint16, 0, 65535))
FLOAT_INPUTS = [torch.float32, torch.float16, torch.bfloat16]


def _samples(dtype, count=40, seed=0):
    """Tensors of varied ranges: mostly positive, mostly negative, straddling 0, tiny, all zero."""
    g = torch.Generator().manual_seed(seed)
    for i in range(count):
        spread = float(torch.rand(1, generator=g)) * 10 ** (i % 6 - 2)
        offset = float(torch.randn(1, generator=g)) * spread * (i % 4)
        yield (torch.randn(257, generator=g) * spread + offset).to(dtype)
    yield torch.zeros(9, dtype=dtype)
    yield torch.full((5,), -3.0, dtype=dtype)
    yield torch.full((5,), 1e-30).to(dtype)


def _steps_fit_int32(x, qmin, qmax):
    """Upstream casts round(min_neg / scale) to int32, which overflows (undefined)
    for full int32 ranges when min_neg dominates; the plugin computes in int64."""
    s, _ = ref.choose_qparams(x, qmin, qmax, EPS, None)
    steps = torch.round(torch.minimum(x.min().float(), torch.zeros(())) / s.float())
    return float(steps) >= -(2**31)


@pytest.mark.parametrize("dtype,qmin,qmax", RANGES)
@pytest.mark.parametrize("in_dtype", FLOAT_INPUTS)
@pytest.mark.parametrize("symmetric", [False, True])
def test_choose_qparams_matches_reference(dtype, qmin, qmax, in_dtype, symmetric):
    if qmin > 0:
        pytest.skip("choose_qparams needs a range including 0")
    op = OPS.choose_qparams_symmetric.tensor if symmetric else OPS.choose_qparams.tensor
    for x in _samples(in_dtype):
        scale, zero_point = op(x, qmin, qmax, EPS, dtype)
        expected_scale, expected_zp = ref.choose_qparams(x, qmin, qmax, EPS, dtype, symmetric)
        assert scale.dtype == torch.float64 and zero_point.dtype == torch.int64
        assert scale.shape == (1,) and zero_point.shape == (1,)
        assert_bitwise_equal(scale, expected_scale, f"{x[:3]}")
        assert torch.equal(zero_point, expected_zp), (x[:3], zero_point, expected_zp)
        # Layout does not matter.
        scale2, zp2 = op(x.repeat(2)[::2], qmin, qmax, EPS, dtype)
        assert torch.equal(scale2, scale) and torch.equal(zp2, zero_point)


def test_choose_qparams_worked_examples():
    # min=-1, max=3: scale = (3 - -1) / 255 = 4/255; zp = -128 - round(-1 / (4/255)) = -128 + 64 = -64
    scale, zp = OPS.choose_qparams.tensor(torch.tensor([-1.0, 0.5, 3.0]), -128, 127, EPS, torch.int8)
    assert scale.item() == float(torch.tensor(4.0) / torch.tensor(255.0))
    assert zp.item() == -64
    # symmetric: max(1, 3) / (255 / 2) = 3 / 127.5; uint8 -> zero point 128
    scale, zp = OPS.choose_qparams_symmetric.tensor(torch.tensor([-1.0, 3.0]), 0, 255, EPS, torch.uint8)
    assert scale.item() == float(torch.tensor(3.0) / torch.tensor(127.5)) and zp.item() == 128
    # all zeros: the scale is eps, the zero point quant_min
    scale, zp = OPS.choose_qparams.tensor(torch.zeros(4), -128, 127, EPS, torch.int8)
    assert scale.item() == float(torch.tensor(EPS, dtype=torch.float32)) and zp.item() == -128


def test_empty_input_gives_the_unobserved_default():
    # Upstream's aminmax raises on an empty tensor; the plugin returns
    # determine_qparams' default for "nothing observed".
    scale, zp = OPS.choose_qparams.tensor(torch.empty(0), -128, 127, EPS, torch.int8)
    assert scale.tolist() == [1.0] and scale.dtype == torch.float64
    assert zp.tolist() == [0] and zp.dtype == torch.int64


@pytest.mark.parametrize("values,message", [
    ([1.0, float("nan")], r"input must hold finite values to choose quantization parameters, found min = 1, max = 1 "
                          r"and NaN"),
    ([1.0, float("inf")], r"found min = 1, max = inf"),
    ([float("-inf"), 2.0], r"found min = -inf, max = 2"),
])
def test_choose_qparams_rejects_non_finite_inputs(values, message):
    with pytest.raises(RuntimeError, match=message):
        OPS.choose_qparams.tensor(torch.tensor(values), -128, 127, EPS, torch.int8)


def test_choose_qparams_rejects_an_overflowing_range():
    x = torch.tensor([-60000.0, 60000.0], dtype=torch.float16)  # 120000 overflows float16
    with pytest.raises(RuntimeError, match=r"range \[-60000, 60000\] overflows Half"):
        OPS.choose_qparams.tensor(x, -128, 127, EPS, torch.int8)


@pytest.mark.parametrize("call,message", [
    (lambda x: OPS.choose_qparams.tensor(x, 1, 255, EPS, torch.uint8),
     r"the range \[quant_min, quant_max\] must include 0, got \[1, 255\]"),
    (lambda x: OPS.choose_qparams.tensor(x, 0, 0, EPS, torch.uint8), "quant_min must be < quant_max, got quant_min=0"),
    (lambda x: OPS.choose_qparams.tensor(x, -128, 127, 0.0, torch.int8), "eps must be a finite number > 0"),
    (lambda x: OPS.choose_qparams.tensor(x, -128, 127, 1e-50, torch.int8), r"eps must be .* \(as a float32\), got 1e-50"),
    (lambda x: OPS.choose_qparams.tensor(x.double(), -128, 127, EPS, torch.int8),
     "input must be float32, float16 or bfloat16, got Double"),
    (lambda x: OPS.choose_qparams.tensor(x, -128, 127, EPS, torch.float32), "dtype must be one of"),
    (lambda x: OPS.choose_qparams_symmetric.tensor(x, -129, 127, EPS, torch.int8), "quant_min must be >= -128"),
    (lambda x: OPS.choose_qparams_per_token(x, torch.uint8),
     "dtype must be int8 \\(the only one upstream supports\\), got Byte"),
    (lambda x: OPS.choose_qparams_per_token(x.int(), torch.int8), "input must be a floating-point tensor"),
    (lambda x: OPS.choose_qparams_per_token(torch.empty(3, 0), torch.int8),
     r"input.shape\[-1\] must be > 0 .* got shape \[3, 0\]"),
    (lambda x: OPS.choose_qparams_per_token(torch.tensor([[1.0, 2.0], [1.0, float("nan")]]), torch.int8),
     r"found max \|x\| = 1 and NaN in token 1"),
    (lambda x: OPS.choose_qparams_per_token_asymmetric(torch.tensor([[1.0, float("-inf")]]), torch.int8),
     r"token 0 of input must hold finite values .* found min = -inf, max = 1"),
    (lambda x: OPS._choose_qparams_per_token_asymmetric_impl(torch.empty(2, 0), torch.int8),
     r"input.shape\[-1\] must be > 0"),
])
def test_errors_name_the_value(call, message):
    with pytest.raises(RuntimeError, match=message):
        call(torch.ones(4))


@pytest.mark.parametrize("in_dtype", FLOAT_INPUTS + [torch.float64])
def test_per_token_matches_reference(in_dtype):
    g = torch.Generator().manual_seed(1)
    for shape in [(7, 33), (2, 3, 129), (65,), (1, 1)]:
        x = (torch.randn(shape, generator=g) * torch.rand(shape[:-1] + (1,), generator=g) * 50).to(in_dtype)
        x.view(-1)[:3] = 0  # a row with tiny values hits the 1e-5 floor below
        if len(shape) == 2 and shape[0] > 1:
            x[1] = 1e-7
        scales, zps = OPS.choose_qparams_per_token(x, torch.int8)
        expected_scales, expected_zps = ref.choose_qparams_per_token(x, torch.int8)
        assert_bitwise_equal(scales, expected_scales, f"{shape}")
        assert_bitwise_equal(zps, expected_zps, f"{shape}")
        for op in (OPS.choose_qparams_per_token_asymmetric, OPS._choose_qparams_per_token_asymmetric_impl):
            scales, zps = op(x, torch.int8)
            expected_scales, expected_zps = ref.choose_qparams_per_token_asymmetric(x, torch.int8)
            assert_bitwise_equal(scales, expected_scales, f"asymmetric {shape}")
            assert torch.equal(zps, expected_zps), shape


def test_per_token_dtypes_and_shapes():
    x = torch.randn(2, 3, 8)
    for in_dtype, scale_dtype in [(torch.float32, torch.float32), (torch.float16, torch.float32),
                                  (torch.bfloat16, torch.bfloat16), (torch.float64, torch.float64)]:
        scales, zps = OPS.choose_qparams_per_token(x.to(in_dtype), torch.int8)
        assert scales.dtype == zps.dtype == scale_dtype and scales.shape == zps.shape == (2, 3, 1)
        assert not zps.any()
        # The plugin's Meta kernel agrees with its CPU kernel (upstream's claims float64/int64).
        m_scales, m_zps = OPS.choose_qparams_per_token(x.to(in_dtype).to("meta"), torch.int8)
        if upstream_decomposed() is None:
            assert m_scales.dtype == m_zps.dtype == scale_dtype and m_scales.shape == (2, 3, 1)
        scales, zps = OPS.choose_qparams_per_token_asymmetric(x.to(in_dtype), torch.int8)
        assert scales.dtype == torch.float64 and zps.dtype == torch.int64 and scales.shape == (2, 3, 1)
    # A 0-d input is one token of one element; the result stays 0-d, as upstream's kernel.
    scales, zps = OPS.choose_qparams_per_token(torch.tensor(-2.54), torch.int8)
    assert scales.shape == () and scales.item() == pytest.approx(2.54 / 127)
    scales, zps = OPS.choose_qparams_per_token(torch.empty(0, 4), torch.int8)
    assert scales.shape == (0, 1)


def test_per_token_worked_examples():
    # max|x| = 2.54 -> 2.54 / 127 = 0.02; a zero row is floored at 1e-5 -> 1e-5 / 127
    scales, _ = OPS.choose_qparams_per_token(torch.tensor([[1.0, -2.54], [0.0, 0.0]]), torch.int8)
    assert scales[0].item() == float(torch.tensor(2.54) / 127)
    assert scales[1].item() == float(torch.tensor(1e-5) / 127)
    # asymmetric: [0, 2.55]: scale 2.55 / 255 = 0.01; min error -128 + 0 vs max error 127 + 255:
    # sum > 0 -> zero point from the min: -128 - 0 = -128
    scales, zps = OPS.choose_qparams_per_token_asymmetric(torch.tensor([[0.0, 2.55]]), torch.int8)
    assert scales.item() == float(torch.tensor(2.55) / 255.0) and zps.item() == -128
    # [-2.55, 0]: descaled min -255: -128 - 255 + 127 + 0 < 0 -> from the max: 127 - 0 = 127
    _, zps = OPS.choose_qparams_per_token_asymmetric(torch.tensor([[-2.55, 0.0]]), torch.int8)
    assert zps.item() == 127


def test_meta():
    x = torch.empty(4, 6, device="meta")
    scale, zp = OPS.choose_qparams.tensor(x, -128, 127, EPS, torch.int8)
    assert scale.dtype == torch.float64 and zp.dtype == torch.int64 and scale.shape == (1,)
    scales, zps = OPS.choose_qparams_per_token_asymmetric(x, torch.int8)
    assert scales.shape == (4, 1) and scales.dtype == torch.float64 and zps.dtype == torch.int64


def test_large_input_multithreaded_reduction():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(1 << 25, generator=g)
    x[12345678] = 9.5
    x[31234567] = -7.25
    scale, zp = OPS.choose_qparams.tensor(x, -128, 127, EPS, torch.int8)
    expected_scale, expected_zp = ref.choose_qparams(x, -128, 127, EPS, torch.int8)
    assert torch.equal(scale, expected_scale) and torch.equal(zp, expected_zp)


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", [r for r in RANGES if r[1] <= 0])
@pytest.mark.parametrize("in_dtype", FLOAT_INPUTS)
def test_choose_qparams_parity_with_upstream(dtype, qmin, qmax, in_dtype):
    up = upstream_decomposed()
    for x, symmetric in itertools.product(_samples(in_dtype, seed=3), (False, True)):
        if not symmetric and not _steps_fit_int32(x, qmin, qmax):
            continue
        fn = up.choose_qparams_symmetric_tensor if symmetric else up.choose_qparams_tensor
        expected = fn(x, qmin, qmax, EPS, dtype)
        op = OPS.choose_qparams_symmetric.tensor if symmetric else OPS.choose_qparams.tensor
        got = op(x, qmin, qmax, EPS, dtype)
        reference = ref.choose_qparams(x, qmin, qmax, EPS, dtype, symmetric)
        for g_, e, r in zip(got, expected, reference):
            assert_bitwise_equal(g_, e, f"{x[:3]} symmetric={symmetric}")
            assert_bitwise_equal(r, e, "reference")


@requires_upstream
def test_int32_zero_point_overflow_is_defined():
    # Mostly negative input, full int32 range: upstream's int32 cast of
    # round(min_neg / scale) overflows; the plugin computes qmin - round(...) in int64.
    x = torch.tensor([-3000.0, 500.0])
    assert not _steps_fit_int32(x, -(2**31), 2**31 - 1)
    scale, zp = OPS.choose_qparams.tensor(x, -(2**31), 2**31 - 1, EPS, torch.int32)
    expected_scale, expected_zp = ref.choose_qparams(x, -(2**31), 2**31 - 1, EPS, torch.int32)
    assert torch.equal(scale, expected_scale) and torch.equal(zp, expected_zp)
    # steps = round(-3000 / (3500 / 2^32)) = -3681400539.4 (float32: -3681400576); -2^31 + 3681400576
    assert zp.item() == -(2**31) + 3681400576
    up_scale, up_zp = upstream_decomposed().choose_qparams_tensor(x, -(2**31), 2**31 - 1, EPS, torch.int32)
    assert torch.equal(up_scale, scale) and up_zp.item() != zp.item()  # upstream's overflowed cast


@requires_upstream
@pytest.mark.parametrize("in_dtype", FLOAT_INPUTS + [torch.float64])
def test_per_token_parity_with_upstream(in_dtype):
    up = upstream_decomposed()
    g = torch.Generator().manual_seed(7)
    for shape in [(9, 65), (2, 3, 17), (33,)]:
        x = (torch.randn(shape, generator=g) * torch.rand(shape[:-1] + (1,), generator=g) * 30).to(in_dtype)
        x.view(-1)[::11] = 0
        for ours, theirs, mine in [
                (OPS.choose_qparams_per_token, up.choose_qparams_per_token, ref.choose_qparams_per_token),
                (OPS.choose_qparams_per_token_asymmetric, up.choose_qparams_per_token_asymmetric,
                 ref.choose_qparams_per_token_asymmetric),
                (OPS._choose_qparams_per_token_asymmetric_impl, up._choose_qparams_per_token_asymmetric_impl,
                 ref.choose_qparams_per_token_asymmetric)]:
            expected = theirs(x, torch.int8)
            for g_, e, r in zip(ours(x, torch.int8), expected, mine(x, torch.int8)):
                assert_bitwise_equal(g_, e, f"{ours} {shape}")
                assert_bitwise_equal(r, e, f"reference {ours} {shape}")
