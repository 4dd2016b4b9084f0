"""torch_pt2e::out_dtype_* through torch.ops and TorchScript, against int64
references and a plain-torch oracle (every torch), and bit for bit against
upstream's out_dtype higher-order op (torch 2.x)."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import out_dtype_reference as ref
from bitwise import assert_bitwise_equal
from conftest import REPO

OPS = torch.ops.torch_pt2e
ATEN = torch.ops.aten

INT_RANGES = {torch.int8: (-128, 127), torch.uint8: (0, 255), torch.int16: (-32768, 32767),
              torch.int32: (-2**31, 2**31 - 1)}
GEMM_PAIRS = [(torch.int8, torch.int8), (torch.uint8, torch.int8), (torch.int8, torch.uint8),
              (torch.int16, torch.int16), (torch.int16, torch.int8), (torch.uint8, torch.uint8)]


def upstream_out_dtype():
    try:
        from torch._higher_order_ops.out_dtype import out_dtype
    except ImportError:
        return None
    return out_dtype


requires_upstream_out_dtype = pytest.mark.skipif(
    upstream_out_dtype() is None,
    reason="needs torch>=2.1 with torch._higher_order_ops.out_dtype (upstream's op); runs inside the trixie root "
           "with torch 2.6 (tools/trixie_root.sh, part of tools/run_tests.sh)")


def rand_int(shape, dtype, seed):
    low, high = INT_RANGES[dtype]
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, shape, generator=g, dtype=torch.int64).to(dtype)


def assert_same(actual, expected, context=""):
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != {expected.dtype}"
    assert_bitwise_equal(actual, expected, context)


# ---- the integer GEMM path, against int64 references ----------------------------

MM_SHAPES = [(1, 1, 1), (7, 15, 17), (16, 64, 48), (17, 65, 49), (63, 127, 65), (130, 768, 96)]


@pytest.mark.parametrize("a_dtype,b_dtype", GEMM_PAIRS)
def test_mm_is_the_exact_integer_product(a_dtype, b_dtype):
    for i, (m, k, n) in enumerate(MM_SHAPES):
        a, b = rand_int((m, k), a_dtype, i), rand_int((k, n), b_dtype, 100 + i)
        expected = ref.exact_mm(a, b)
        assert_same(OPS.out_dtype_mm(a, b, torch.int32), expected, f"{m}x{k}x{n}")
        # The same product from other layouts: transposed, sliced.
        assert_same(OPS.out_dtype_mm(a.t().contiguous().t(), b.t().contiguous().t(), torch.int32), expected)
    a, b = rand_int((40, 90), a_dtype, 7), rand_int((90, 120), b_dtype, 8)
    a_view, b_view = a[::3, 1::2], b[1::2, ::4]
    assert_same(OPS.out_dtype_mm(a_view, b_view, torch.int32), ref.exact_mm(a_view, b_view), "strided")


def test_mm_extremes_and_accumulation_range():
    a, b = torch.full((3, 131071), -128, dtype=torch.int8), torch.full((131071, 2), -128, dtype=torch.int8)
    # 131071 * (-128)^2 = 2147467264 < 2^31: exact
    assert torch.equal(OPS.out_dtype_mm(a, b, torch.int32), torch.full((3, 2), 2147467264, dtype=torch.int32))
    a, b = torch.full((1, 140000), -128, dtype=torch.int8), torch.full((140000, 1), -128, dtype=torch.int8)
    # 140000 * 16384 = 2293760000 wraps to 2293760000 - 2^32 = -2001207296, as an int32 matmul does
    assert OPS.out_dtype_mm(a, b, torch.int32).item() == -2001207296
    g = torch.Generator().manual_seed(3)
    a = torch.randint(-128, 128, (5, 70000), generator=g).to(torch.int8)
    b = torch.randint(-128, 128, (70000, 33), generator=g).to(torch.int8)
    assert torch.equal(OPS.out_dtype_mm(a, b, torch.int32), ref.exact_mm(a, b))


@pytest.mark.parametrize("x_dtype,w_dtype", GEMM_PAIRS)
def test_linear_is_the_exact_integer_product(x_dtype, w_dtype):
    x, w = rand_int((2, 5, 75), x_dtype, 1), rand_int((33, 75), w_dtype, 2)
    exact = x.long() @ w.long().t()
    assert_same(OPS.out_dtype_linear(x, w, None, torch.int32), exact.to(torch.int32))
    for bias in (rand_int((33,), torch.int32, 3), rand_int((33,), torch.int8, 4)):
        assert_same(OPS.out_dtype_linear(x, w, bias, torch.int32), (exact + bias.long()).to(torch.int32))
    x1 = rand_int((75,), x_dtype, 5)
    assert_same(OPS.out_dtype_linear(x1, w, None, torch.int32), (w.long() @ x1.long()).to(torch.int32), "1-D input")
    assert OPS.out_dtype_linear(x[:, :0], w, None, torch.int32).shape == (2, 0, 33)


CONV_CASES = [
    # batch, in, height, width, out, kernel, stride, padding, dilation, groups
    (1, 64, 14, 14, 64, (3, 3), 1, 1, 1, 1),
    (2, 3, 17, 13, 8, (3, 3), 1, 1, 1, 1),
    (1, 16, 7, 7, 50, (1, 1), 1, 0, 1, 1),
    (2, 8, 9, 11, 12, (3, 3), 2, 1, 1, 1),
    (2, 8, 10, 7, 12, (3, 2), 1, (2, 1), (2, 3), 4),
    (1, 8, 8, 8, 8, (3, 3), 1, 1, 1, 8),
    (1, 5, 12, 3, 7, (2, 3), (3, 1), (0, 1), 1, 1),
]


@pytest.mark.parametrize("x_dtype,w_dtype", GEMM_PAIRS[:5])
@pytest.mark.parametrize("case", CONV_CASES)
def test_convolution_is_the_exact_integer_result(case, x_dtype, w_dtype):
    n, c, h, w_, o, kernel, stride, padding, dilation, groups = case
    pair = lambda v: list(v) if isinstance(v, tuple) else [v, v]  # noqa: E731
    x, w = rand_int((n, c, h, w_), x_dtype, 1), rand_int((o, c // groups) + kernel, w_dtype, 2)
    bias = rand_int((o,), torch.int32, 3) // 4
    for b in (None, bias):
        expected = ref.exact_conv2d(x, w, b, pair(stride), pair(padding), pair(dilation), groups)
        got = OPS.out_dtype_convolution(x, w, b, pair(stride), pair(padding), pair(dilation), False, [0, 0], groups,
                                        torch.int32)
        assert_same(got, expected, str(case))
        assert_same(OPS.out_dtype_conv2d(x, w, b, pair(stride), pair(padding), pair(dilation), groups, torch.int32),
                    expected, "conv2d")
        assert_same(OPS.out_dtype_conv2d(x[0], w, b, pair(stride), pair(padding), pair(dilation), groups,
                                         torch.int32), expected[0], "unbatched conv2d")


def test_convolution_extremes_and_layouts():
    x, w = torch.full((1, 64, 5, 5), -128, dtype=torch.int8), torch.full((20, 64, 3, 3), -128, dtype=torch.int8)
    out = OPS.out_dtype_conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1, torch.int32)
    assert out[0, 3, 2, 2].item() == 576 * 16384  # the centre sees 64 channels x 9 taps of (-128)^2
    assert out[0, 0, 0, 0].item() == 256 * 16384  # a corner sees 64 x 4
    xs = rand_int((2, 16, 9, 9), torch.int8, 4)
    ws = rand_int((8, 16, 3, 3), torch.int8, 5)
    expected = ref.exact_conv2d(xs, ws, None, [1, 1], [1, 1], [1, 1], 1)
    channels_last = OPS.out_dtype_conv2d(xs.contiguous(memory_format=torch.channels_last), ws, None, [1, 1], [1, 1],
                                         [1, 1], 1, torch.int32)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)  # as ATen's convolution
    assert torch.equal(channels_last, expected)
    assert torch.equal(OPS.out_dtype_conv2d(xs[:, ::2], ws[:, ::2], None, 1, 1, 1, 1, torch.int32),
                       ref.exact_conv2d(xs[:, ::2], ws[:, ::2], None, [1, 1], [1, 1], [1, 1], 1))
    assert OPS.out_dtype_conv2d(xs[:0], ws, None, 1, 1, 1, 1, torch.int32).shape == (0, 8, 9, 9)


# ---- mul / div of an accumulator -----------------------------------------------

def accumulators(seed):
    g = torch.Generator().manual_seed(seed)
    acc = torch.randint(-2**31, 2**31 - 1, (5003,), generator=g, dtype=torch.int64).to(torch.int32)
    acc[:8] = torch.tensor([0, 1, -1, 2**24 + 1, -2**24 - 3, 2**31 - 1, -2**31, 7], dtype=torch.int32)
    return acc


FACTORS = [0.5, 0.0123, 3.0, -1.75, 1e-9, 1e10, float("nan"), float("inf"), -float("inf"), 0.0, 3, True]


def factor_variants(factor):
    """The factor as upstream code passes it: a number, 0-dim and 1-element tensors."""
    yield factor
    if not isinstance(factor, bool):
        yield torch.tensor(factor, dtype=torch.float32)
        yield torch.tensor(factor, dtype=torch.float64)
        yield torch.tensor([factor], dtype=torch.float32)


@pytest.mark.parametrize("op,aten_tensor,aten_scalar", [
    (OPS.out_dtype_mul, ATEN.mul.Tensor, ATEN.mul.Scalar),
    (OPS.out_dtype_div, ATEN.div.Tensor, ATEN.div.Scalar),
])
def test_mul_div_match_the_promoted_arithmetic(op, aten_tensor, aten_scalar):
    for self_tensor in (accumulators(0), accumulators(1).float() * 0.37, accumulators(2).to(torch.int16)):
        for factor in FACTORS:
            for variant in factor_variants(factor):
                aten = aten_tensor if isinstance(variant, torch.Tensor) else aten_scalar
                expected = ref.out_dtype(aten, torch.int32, self_tensor, variant)
                assert_same(op(self_tensor, variant, torch.int32), expected, f"{self_tensor.dtype} {variant!r}")
    # Per-channel factors and other output dtypes take ATen's path, with the same result.
    acc = accumulators(3)[:5000].view(50, 100)
    per_row = torch.rand(50, 1, dtype=torch.float32) + 0.5
    assert_same(op(acc, per_row, torch.int32), ref.out_dtype(aten_tensor, torch.int32, acc, per_row))
    assert_same(op(acc, 0.25, torch.int64), ref.out_dtype(aten_scalar, torch.int64, acc, 0.25))
    assert_same(op(acc, 0.25, torch.float32), ref.out_dtype(aten_scalar, torch.float32, acc, 0.25))


def test_mul_div_worked_examples():
    acc = torch.tensor([7, -7, 2**24 + 1, 2**31 - 1, 5], dtype=torch.int32)
    # 7 * 0.5 = 3.5 -> 3 and -3.5 -> -3 (toward zero); 2^24 + 1 is 2^24 in fp32 -> 2^23;
    # 2^31 - 1 is 2^31 in fp32 -> 2^30; 5 * 0.5 = 2.5 -> 2
    assert OPS.out_dtype_mul(acc, 0.5, torch.int32).tolist() == [3, -3, 2**23, 2**30, 2]
    # a float64 0-dim factor makes the computation float64: 2^31 - 1 stays exact -> 2^30 - 1
    assert OPS.out_dtype_mul(acc, torch.tensor(0.5, dtype=torch.float64), torch.int32)[3].item() == 2**30 - 1
    # 7 / 2 = 3.5 -> 3; an int factor keeps int32: 7 * 3 = 21
    assert OPS.out_dtype_div(acc, 2.0, torch.int32)[0].item() == 3
    assert OPS.out_dtype_mul(acc, 3, torch.int32)[0].item() == 21
    # NaN, infinities and values beyond int32 become INT32_MIN, as torch's float->int32 cast on x86
    special = OPS.out_dtype_mul(torch.tensor([1, -1, 0], dtype=torch.int32), float("inf"), torch.int32)
    assert special.tolist() == [-2**31, -2**31, -2**31]  # 0 * inf is NaN
    assert OPS.out_dtype_mul(torch.tensor([2**30], dtype=torch.int32), 4.0, torch.int32).item() == -2**31
    assert OPS.out_dtype_div(torch.tensor([1.5, -1.5]), 0.5, torch.int32).tolist() == [3, -3]


def test_mul_div_keep_layout_and_broadcast():
    acc = accumulators(4)[:4 * 5 * 6 * 7].view(4, 5, 6, 7).contiguous(memory_format=torch.channels_last)
    out = OPS.out_dtype_mul(acc, 0.125, torch.int32)
    assert out.stride() == acc.stride()
    assert torch.equal(out, ref.out_dtype(ATEN.mul.Scalar, torch.int32, acc, 0.125))
    row = torch.tensor([0.5, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])
    assert torch.equal(OPS.out_dtype_div(acc, row, torch.int32), ref.out_dtype(ATEN.div.Tensor, torch.int32, acc, row))
    scalar_self = torch.tensor(9, dtype=torch.int32)
    assert OPS.out_dtype_mul(scalar_self, torch.tensor([0.5]), torch.int32).shape == (1,)


# ---- the ATen path for everything else -------------------------------------------

def test_other_dtypes_follow_upstreams_promotion():
    g = torch.Generator().manual_seed(9)
    a8, b8 = rand_int((6, 9), torch.int8, 1), rand_int((9, 4), torch.int8, 2)
    a32 = rand_int((6, 9), torch.int32, 3) // 65536
    cases = [
        (OPS.out_dtype_mm, ATEN.mm.default, torch.float32, (a8, b8)),
        (OPS.out_dtype_mm, ATEN.mm.default, torch.int64, (a8, b8)),
        (OPS.out_dtype_mm, ATEN.mm.default, torch.int16, (a8, b8)),
        (OPS.out_dtype_mm, ATEN.mm.default, torch.int32, (a32, b8)),
        (OPS.out_dtype_mm, ATEN.mm.default, torch.int32, (torch.randn(6, 9, generator=g), b8)),
        (OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (a8, b8.t(), torch.randn(4, generator=g) * 100)),
        (OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (a8, b8.t(), torch.tensor(5, dtype=torch.int64))),
        (OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (a8[0], b8[:, 0], None)),
    ]
    x, w = rand_int((2, 4, 11), torch.int8, 4), rand_int((6, 4, 3), torch.int8, 5)
    cases.append((OPS.out_dtype_convolution, ATEN.convolution.default, torch.int32,
                  (x, w, None, [2], [1], [1], False, [0], 1)))  # 1-d convolution
    xt, wt = rand_int((1, 4, 5, 5), torch.int8, 6), rand_int((4, 3, 3, 3), torch.int8, 7)
    cases.append((OPS.out_dtype_convolution, ATEN.convolution.default, torch.float32,
                  (xt, wt, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1)))  # transposed
    cases.append((OPS.out_dtype_convolution, ATEN.convolution.default, torch.float64,
                  (xt, wt.transpose(0, 1).contiguous(), torch.ones(3), [1, 1], [0, 0], [1, 1], False, [0, 0], 1)))
    for op, aten, dtype, args in cases:
        assert_same(op(*args, dtype), ref.out_dtype(aten, dtype, *args), f"{aten} {dtype}")
    # ATen has no int32 transposed convolution on CPU; upstream raises, and so does the plugin.
    transposed = (xt, wt, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1)
    with pytest.raises(RuntimeError, match="not implemented for 'Int'"):
        ref.out_dtype(ATEN.convolution.default, torch.int32, *transposed)
    with pytest.raises(RuntimeError, match="not implemented for 'Int'"):
        OPS.out_dtype_convolution(*transposed, torch.int32)


def test_promotion_oracle_examples():
    i8, i32 = torch.ones(2, dtype=torch.int8), torch.ones(2, dtype=torch.int32)
    assert ref.compute_dtype(torch.int32, i8, i8) == torch.int32
    assert ref.compute_dtype(torch.int32, i32, 0.5) == torch.float32  # a Python float: the default dtype
    assert ref.compute_dtype(torch.int32, i32, torch.tensor(0.5, dtype=torch.float64)) == torch.float64
    assert ref.compute_dtype(torch.int32, i32, torch.ones(2, dtype=torch.bfloat16)) == torch.float32  # op math
    assert ref.compute_dtype(torch.int8, torch.ones(2, dtype=torch.uint8), i8) == torch.int16


# ---- TorchScript, Meta, autograd, dispatch -----------------------------------------

@torch.jit.script
def _scripted(x: torch.Tensor, w: torch.Tensor, image: torch.Tensor, kernel: torch.Tensor, scale: float):
    acc = torch.ops.torch_pt2e.out_dtype_mm(x, w.t(), torch.int32)
    lin = torch.ops.torch_pt2e.out_dtype_linear(x, w, None, torch.int32)
    conv = torch.ops.torch_pt2e.out_dtype_conv2d(image, kernel, None, [1, 1], [1, 1], [1, 1], 1, torch.int32)
    scaled = torch.ops.torch_pt2e.out_dtype_mul(acc, scale, torch.int32)
    halved = torch.ops.torch_pt2e.out_dtype_div(lin, torch.tensor(2.0), torch.int32)
    return acc, lin, conv, scaled, halved


def test_torchscript_runs_saves_and_loads(tmp_path):
    x, w = rand_int((9, 20), torch.int8, 1), rand_int((13, 20), torch.int8, 2)
    image, kernel = rand_int((1, 4, 6, 6), torch.int8, 3), rand_int((5, 4, 3, 3), torch.int8, 4)
    graph = str(_scripted.graph)
    for name in ("out_dtype_mm", "out_dtype_linear", "out_dtype_conv2d", "out_dtype_mul", "out_dtype_div"):
        assert f"torch_pt2e::{name}" in graph
    results = _scripted(x, w, image, kernel, 0.25)
    exact = ref.exact_mm(x, w.t())
    assert torch.equal(results[0], exact) and torch.equal(results[1], exact)
    assert torch.equal(results[2], ref.exact_conv2d(image, kernel, None, [1, 1], [1, 1], [1, 1], 1))
    assert torch.equal(results[3], (exact.float() * 0.25).to(torch.int32))
    assert torch.equal(results[4], (exact.float() / 2.0).to(torch.int32))
    path = tmp_path / "out_dtype.pt"
    torch.jit.save(_scripted, str(path))
    loaded = torch.jit.load(str(path))
    for got, want in zip(loaded(x, w, image, kernel, 0.25), results):
        assert torch.equal(got, want)


def test_meta_shapes_and_dtypes():
    m = lambda *shape, dtype=torch.int8: torch.empty(*shape, dtype=dtype, device="meta")  # noqa: E731
    assert OPS.out_dtype_mm(m(3, 5), m(5, 7), torch.int32).shape == (3, 7)
    out = OPS.out_dtype_linear(m(2, 3, 5), m(4, 5), m(4, dtype=torch.int32), torch.int32)
    assert out.shape == (2, 3, 4) and out.dtype == torch.int32 and out.device.type == "meta"
    out = OPS.out_dtype_convolution(m(2, 8, 10, 12), m(6, 4, 3, 3), None, [2, 1], [1], [1, 2], False, [0], 2,
                                    torch.int32)
    # height (10 + 2 - 1 * 2 - 1) / 2 + 1 = 5; width (12 + 2 - 2 * 2 - 1) / 1 + 1 = 10
    assert out.shape == (2, 6, 5, 10)
    assert OPS.out_dtype_conv2d(m(8, 10, 12), m(6, 8, 3, 3), None, 1, 0, 1, 1, torch.int32).shape == (6, 8, 10)
    out = OPS.out_dtype_convolution(m(1, 4, 5, 5), m(4, 3, 3, 3), None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1,
                                    torch.float32)
    assert out.shape == (1, 3, 10, 10) and out.dtype == torch.float32
    assert OPS.out_dtype_mul(m(4, 1, dtype=torch.int32), m(3, dtype=torch.float32), torch.int32).shape == (4, 3)
    assert OPS.out_dtype_div(m(4, dtype=torch.int32), 2.0, torch.int32).shape == (4,)


def test_backward_raises_like_upstream():
    a = torch.randn(3, 4, requires_grad=True)
    out = OPS.out_dtype_mm(a, torch.randn(4, 2), torch.float32)
    with pytest.raises(RuntimeError):
        out.sum().backward()
    # Integer inputs never need gradients and run as usual under grad mode.
    a, b = rand_int((2, 3), torch.int8, 1), rand_int((3, 2), torch.int8, 2)
    assert torch.equal(OPS.out_dtype_mm(a, b, torch.int32), ref.exact_mm(a, b))


_ISA_SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {package!r}); sys.path.insert(0, {tests!r})
    import torch_pt2e, out_dtype_reference as ref
    assert torch_pt2e.build_info()["cpu_capability"] == {capability!r}
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randint(-128, 128, s, generator=g).to(torch.int8)
    a, b = r(37, 70), r(70, 53)
    assert torch.equal(torch.ops.torch_pt2e.out_dtype_mm(a, b, torch.int32), ref.exact_mm(a, b))
    assert torch.equal(torch.ops.torch_pt2e.out_dtype_linear(a, b.t(), None, torch.int32), ref.exact_mm(a, b))
    a16 = a.to(torch.int16) * 200
    assert torch.equal(torch.ops.torch_pt2e.out_dtype_mm(a16, b, torch.int32), ref.exact_mm(a16, b))
    x, w = r(2, 6, 9, 9), r(5, 6, 3, 3)
    got = torch.ops.torch_pt2e.out_dtype_conv2d(x, w, None, 1, 1, 1, 1, torch.int32)
    assert torch.equal(got, ref.exact_conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1))
    acc = torch.randint(-2**31, 2**31 - 1, (1001,), generator=g, dtype=torch.int64).to(torch.int32)
    for factor in (0.0123, 1e10, float("nan")):
        scaled = torch.ops.torch_pt2e.out_dtype_mul(acc, factor, torch.int32)
        assert torch.equal(scaled, (acc.float() * factor).to(torch.int32))
        divided = torch.ops.torch_pt2e.out_dtype_div(acc.float(), factor, torch.int32)
        assert torch.equal(divided, (acc.float() / factor).to(torch.int32))
    print("ok")
""")


@pytest.mark.parametrize("capability", ["avx2", "default"])
def test_lower_instruction_sets_through_the_ops(capability, library_path):
    import torch_pt2e
    detected = torch_pt2e.build_info()["cpu_capability"]
    if os.environ.get("TORCH_PT2E_CPU_CAPABILITY"):
        pytest.skip("TORCH_PT2E_CPU_CAPABILITY is set for the whole run; unset it to compare instruction sets")
    if capability == "avx2" and detected == "default":
        pytest.skip("this CPU has no AVX2; run on an AVX2 machine to test that path")
    env = dict(os.environ, TORCH_PT2E_CPU_CAPABILITY=capability, TORCH_PT2E_LIBRARY=library_path)
    script = _ISA_SCRIPT.format(package=str(REPO / "torch_pt2e_plugin" / "python"), tests=str(REPO / "tests" / "ops"),
                                capability=capability)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


# ---- errors ------------------------------------------------------------------------

def _i8(*shape):
    return torch.zeros(*shape, dtype=torch.int8)


ERRORS = [
    (lambda: OPS.out_dtype_mm(_i8(3), _i8(3, 2), torch.int32), r"self must be a 2-D tensor, got shape \[3\]"),
    (lambda: OPS.out_dtype_mm(_i8(2, 3), _i8(4, 5), torch.int32), r"shapes cannot be multiplied \(2x3 and 4x5\)"),
    (lambda: OPS.out_dtype_mm(_i8(2, 3), _i8(3, 5), torch.quint8),
     "out_dtype must be a bool, integer, floating or complex dtype that torch's type promotion orders, got QUInt8"),
    (lambda: OPS.out_dtype_linear(_i8(2, 5), _i8(4, 6), None, torch.int32),
     r"input's last dimension \(5\) must equal weight's \(6\)"),
    (lambda: OPS.out_dtype_linear(_i8(2, 5), _i8(4, 5), _i8(3), torch.int32),
     r"bias of shape \[3\] cannot be added to the output of shape \[2, 4\]"),
    (lambda: OPS.out_dtype_linear(_i8(2, 5), _i8(2, 4, 5), None, torch.int32), "weight must be a 1-D or 2-D tensor"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 5, 5), _i8(2, 8, 3, 3), None, [1], [1], [1], False, [0], 1,
                                       torch.int32),
     r"expects input with 8 channels, got input of shape \[1, 4, 5, 5\]"),
    (lambda: OPS.out_dtype_convolution(_i8(4, 5, 5), _i8(2, 4, 3, 3), None, [1], [1], [1], False, [0], 1,
                                       torch.int32),
     "expected 4-dimensional input for 4-dimensional weight"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 5, 5), _i8(2, 4, 3, 3), None, [0, 1], [1], [1], False, [0], 1,
                                       torch.int32), r"stride must be > 0, got \[0, 1\]"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 5, 5), _i8(2, 4, 3, 3), None, [1], [1, 1, 1], [1], False, [0], 1,
                                       torch.int32), r"padding must have 1 or 2 elements, got \[1, 1, 1\]"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 2, 2), _i8(2, 4, 5, 5), None, [1], [0], [1], False, [0], 1,
                                       torch.int32), "is smaller than the dilated kernel"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 5, 5), _i8(2, 4, 3, 3), _i8(3), [1], [1], [1], False, [0], 1,
                                       torch.int32), r"bias must be 1-D with 2 elements .*got shape \[3\]"),
    (lambda: OPS.out_dtype_convolution(_i8(1, 4, 5, 5), _i8(2, 4, 3, 3), None, [1], [1], [1], False, [0], 0,
                                       torch.int32), "groups must be > 0, got 0"),
    (lambda: OPS.out_dtype_conv2d(_i8(4, 5), _i8(2, 4, 3, 3), None, 1, 1, 1, 1, torch.int32),
     r"expected a 3-D \(unbatched\) or 4-D \(batched\) input, got shape \[4, 5\]"),
    (lambda: OPS.out_dtype_mul(torch.ones(3, dtype=torch.int32), torch.ones(4), torch.int32),
     r"do not broadcast \(dimension 0: 3 vs 4\)"),
]


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("call,message", ERRORS)
def test_errors_name_the_values(call, message, device, monkeypatch):
    if device == "meta":
        original = _i8
        monkeypatch.setitem(globals(), "_i8", lambda *shape: original(*shape).to("meta"))
    with pytest.raises(RuntimeError, match=message):
        call()


# ---- parity with upstream's out_dtype (torch 2.x) ---------------------------------------

def _gemm_parity_cases():
    g = torch.Generator().manual_seed(11)
    cases = []
    for a_dtype, b_dtype in GEMM_PAIRS + [(torch.int32, torch.int8)]:
        for m, k, n in [(1, 1, 1), (17, 65, 49), (64, 300, 96)]:
            a, b = rand_int((m, k), a_dtype, m + k), rand_int((k, n), b_dtype, n)
            cases.append((OPS.out_dtype_mm, ATEN.mm.default, torch.int32, (a, b)))
        x, w = rand_int((3, 5, 70), a_dtype, 1), rand_int((24, 70), b_dtype, 2)
        cases.append((OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (x, w, None)))
        cases.append((OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (x, w, rand_int((24,), torch.int32, 3))))
    a, b = torch.full((1, 140000), -128, dtype=torch.int8), torch.full((140000, 1), -128, dtype=torch.int8)
    cases.append((OPS.out_dtype_mm, ATEN.mm.default, torch.int32, (a, b)))  # wraps
    a, b = rand_int((8, 9), torch.int8, 4), rand_int((9, 5), torch.int8, 5)
    for dtype in (torch.float32, torch.float64, torch.int64, torch.int16, torch.bfloat16):
        cases.append((OPS.out_dtype_mm, ATEN.mm.default, dtype, (a, b)))
    cases.append((OPS.out_dtype_linear, ATEN.linear.default, torch.int32, (a, b.t(), torch.randn(5, generator=g))))
    return cases


def _pair(v):
    return list(v) if isinstance(v, tuple) else [v, v]


def _conv_parity_cases():
    cases = []
    for n, c, h, w_, o, kernel, stride, padding, dilation, groups in CONV_CASES:
        if dilation != 1:
            continue  # upstream has no integer kernel for it: test_dilated_convolution_where_upstream_cannot
        for x_dtype, w_dtype in [(torch.int8, torch.int8), (torch.int16, torch.int16), (torch.uint8, torch.int8)]:
            x, w = rand_int((n, c, h, w_), x_dtype, 6), rand_int((o, c // groups) + kernel, w_dtype, 7)
            bias = rand_int((o,), torch.int32, 8) // 4
            conv_args = (x, w, bias, _pair(stride), _pair(padding), _pair(dilation))
            cases.append((OPS.out_dtype_convolution, ATEN.convolution.default, torch.int32,
                          conv_args + (False, [0, 0], groups)))
            cases.append((OPS.out_dtype_conv2d, ATEN.conv2d.default, torch.int32, conv_args + (groups,)))
            cases.append((OPS.out_dtype_conv2d, ATEN.conv2d.default, torch.int32,
                          (x[0],) + conv_args[1:] + (groups,)))
    xt, wt = rand_int((1, 4, 5, 5), torch.int8, 9), rand_int((4, 3, 3, 3), torch.int8, 10)
    cases.append((OPS.out_dtype_convolution, ATEN.convolution.default, torch.float32,
                  (xt, wt, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1)))
    return cases


def _scale_parity_cases():
    g = torch.Generator().manual_seed(12)
    cases = []
    for self_tensor in (accumulators(5), accumulators(6).float() * 0.37, accumulators(7).to(torch.int8)):
        for factor in FACTORS:
            for variant in factor_variants(factor):
                tensor_form = isinstance(variant, torch.Tensor)
                cases.append((OPS.out_dtype_mul, ATEN.mul.Tensor if tensor_form else ATEN.mul.Scalar, torch.int32,
                              (self_tensor, variant)))
                cases.append((OPS.out_dtype_div, ATEN.div.Tensor if tensor_form else ATEN.div.Scalar, torch.int32,
                              (self_tensor, variant)))
    acc = accumulators(8)[:5000].view(50, 100)
    cases.append((OPS.out_dtype_mul, ATEN.mul.Tensor, torch.int32, (acc, torch.rand(50, 1, generator=g))))
    cases.append((OPS.out_dtype_div, ATEN.div.Tensor, torch.int32, (acc.float(), torch.rand(100, generator=g))))
    return cases


@requires_upstream_out_dtype
@pytest.mark.parametrize("cases", [_gemm_parity_cases, _conv_parity_cases, _scale_parity_cases],
                         ids=["mm_linear", "convolution", "mul_div"])
def test_parity_with_upstream_out_dtype(cases):
    upstream = upstream_out_dtype()
    for op, aten, dtype, args in cases():
        expected = upstream(aten, dtype, *args)
        context = f"{aten} -> {dtype} with {[getattr(a, 'dtype', a) for a in args][:3]}"
        assert_same(op(*args, dtype), expected, context)
        assert_same(ref.out_dtype(aten, dtype, *args), expected, "reference: " + context)


@requires_upstream_out_dtype
def test_dilated_convolution_where_upstream_cannot():
    # torch 2.6's CPU ATen has no int32 dilated convolution, so upstream's
    # out_dtype raises; the plugin's integer path computes the exact result.
    x, w = rand_int((2, 8, 10, 7), torch.int8, 1), rand_int((12, 2, 3, 2), torch.int8, 2)
    args = (x, w, None, [1, 1], [2, 1], [2, 3])
    exact = ref.exact_conv2d(x, w, None, [1, 1], [2, 1], [2, 3], 4)
    try:
        expected = upstream_out_dtype()(ATEN.convolution.default, torch.int32, *args, False, [0, 0], 4)
    except RuntimeError as error:
        assert "not implemented for 'Int'" in str(error)
        expected = exact
    assert torch.equal(expected, exact)
    assert_same(OPS.out_dtype_convolution(*args, False, [0, 0], 4, torch.int32), exact)


@requires_upstream_out_dtype
def test_upstream_allows_exactly_these_ops():
    from torch._higher_order_ops.out_dtype import ALLOWABLE_OPS
    wrapped = {ATEN.mm.default, ATEN.linear.default, ATEN.convolution.default, ATEN.conv2d.default,
               ATEN.mul.Tensor, ATEN.mul.Scalar, ATEN.div.Tensor, ATEN.div.Scalar}
    assert set(ALLOWABLE_OPS) <= wrapped, set(ALLOWABLE_OPS) - wrapped
