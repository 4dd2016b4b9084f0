"""The CUDA kernels against the plugin's CPU kernels, bit for bit, and against
upstream's Python ops where the torch has them (torch.ao.quantization.fx._decomposed).

Every test needs a GPU and a CUDA build of the plugin; tools/gpu_check.sh runs them.
"""

import itertools

import pytest
import torch

from bitwise import assert_bitwise_equal
from conftest import requires_cuda, requires_upstream, upstream_decomposed

pytestmark = requires_cuda

OPS = torch.ops.quantized_decomposed

INT_DTYPES = [(torch.uint8, 0, 255), (torch.int8, -128, 127), (torch.int16, -32768, 32767),
              (torch.int32, -(2**31), 2**31 - 1)]
if hasattr(torch, "uint16"):
    INT_DTYPES.append((torch.uint16, 0, 65535))
FLOAT_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
SCALE_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
ZP_DTYPES = [torch.int32, torch.int64, torch.float32]
# Sizes around the 16-byte vector width and the grid-stride loop.
SHAPES = [(0,), (1,), (15,), (17,), (4, 1031), (3, 5, 7, 11), (2, 64, 33, 9)]


def _inputs(shape, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * 40
    flat = x.view(-1)
    # Exact halves make the round-half-to-even ties happen; then the edges.
    flat[::7] = torch.arange(flat.numel())[::7].float() % 97 * 0.5 - 24
    edges = torch.tensor([0.0, -0.0, 1e30, -1e30, float("inf"), float("-inf"), 2.5, -2.5])
    flat[3:3 + min(len(edges), max(flat.numel() - 3, 0))] = edges[:max(flat.numel() - 3, 0)]
    return x.to(dtype)


def _layouts(x):
    """The same values contiguous, channels-last (4-D), and non-dense; plus a
    view at an odd element offset (unaligned for the vector accesses)."""
    yield "contiguous", x
    if x.dim() == 4:
        yield "channels_last", x.contiguous(memory_format=torch.channels_last)
    if x.dim() >= 1 and x.shape[-1] > 0:
        wide = torch.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        wide[..., ::2] = x
        yield "strided", wide[..., ::2]
        shifted = torch.zeros(x.numel() + 1, dtype=x.dtype)
        shifted[1:] = x.reshape(-1)
        yield "unaligned", shifted[1:].view(x.shape)


def _both(fn, *args):
    """fn on the CPU tensors and on their CUDA copies; tensors only are moved."""
    cpu = fn(*args)
    cuda_args = [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]
    gpu = fn(*cuda_args)
    return cpu, gpu


def _assert_same(cpu, gpu, context):
    if isinstance(cpu, (tuple, list)):
        for i, (c, g) in enumerate(zip(cpu, gpu)):
            _assert_same(c, g, f"{context}[{i}]")
        return
    assert gpu.is_cuda, context
    assert gpu.stride() == cpu.stride() or gpu.numel() <= 1, f"{context}: strides {gpu.stride()} vs {cpu.stride()}"
    assert_bitwise_equal(gpu.cpu(), cpu, context)


# ---- per-tensor ---------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("in_dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
def test_quantize_per_tensor(shape, in_dtype, dtype, qmin, qmax):
    for scale, zp in [(0.5, 0), (0.0173, min(max(qmin, 3), qmax)), (1e-30, qmax), (3e38, qmin)]:
        for name, x in _layouts(_inputs(shape, in_dtype)):
            cpu, gpu = _both(OPS.quantize_per_tensor, x, scale, zp, qmin, qmax, dtype)
            _assert_same(cpu, gpu, f"{name} scale={scale} zp={zp}")


@pytest.mark.parametrize("overload", ["tensor", "tensor2"])
@pytest.mark.parametrize("param_device", ["cpu", "cuda"])
@pytest.mark.parametrize("scale_dtype", SCALE_DTYPES)
def test_quantize_dequantize_per_tensor_tensor_params(overload, param_device, scale_dtype):
    x = _inputs((6, 257))
    scale = torch.tensor(0.037, dtype=scale_dtype, device=param_device)
    zp = torch.tensor(-5, device=param_device)
    lo, hi = torch.tensor(-128, device=param_device), torch.tensor(127, device=param_device)
    if overload == "tensor":
        quantize = lambda t: OPS.quantize_per_tensor.tensor(t, scale, zp, -128, 127, torch.int8)
        dequantize = lambda q: OPS.dequantize_per_tensor.tensor(q, scale, zp, -128, 127, torch.int8,
                                                                out_dtype=torch.float16)
    else:
        quantize = lambda t: OPS.quantize_per_tensor.tensor2(t, scale, zp, lo, hi, torch.int8)
        dequantize = lambda q: OPS.dequantize_per_tensor.tensor2(q, scale, zp, lo, hi, torch.int8,
                                                                 out_dtype=torch.float16)
    q_cpu = OPS.quantize_per_tensor(x, scale.item(), -5, -128, 127, torch.int8)
    q_gpu = quantize(x.cuda())
    _assert_same(q_cpu, q_gpu, "quantize")
    d_cpu = OPS.dequantize_per_tensor(q_cpu, scale.item(), -5, -128, 127, torch.int8, out_dtype=torch.float16)
    _assert_same(d_cpu, dequantize(q_gpu), "dequantize")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("out_dtype", [None, torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dequantize_per_tensor(shape, dtype, qmin, qmax, out_dtype):
    g = torch.Generator().manual_seed(3)
    q = torch.randint(qmin, qmax + 1, shape, generator=g, dtype=torch.int64).to(dtype)
    for scale, zp in [(0.5, 0), (0.0173, min(max(qmin, 3), qmax)), (3e38, qmax)]:
        for name, layout in _layouts(q):
            cpu, gpu = _both(lambda t: OPS.dequantize_per_tensor(t, scale, zp, qmin, qmax, dtype, out_dtype=out_dtype),
                             layout)
            _assert_same(cpu, gpu, f"{name} scale={scale} zp={zp}")


def _cuda_error(fn):
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value).splitlines()[0]


def test_errors_match_cpu_for_gpu_parameters():
    x = torch.randn(64)
    for scale, zp in [(0.0, 0), (float("nan"), 0), (-1.0, 0), (0.1, 300), (0.1, 2.5)]:
        cpu_scale, cpu_zp = torch.tensor(scale), torch.tensor(zp)
        cpu = _cuda_error(lambda: OPS.quantize_per_tensor.tensor(x, cpu_scale, cpu_zp, -128, 127, torch.int8))
        gpu = _cuda_error(lambda: OPS.quantize_per_tensor.tensor(x.cuda(), cpu_scale.cuda(), cpu_zp.cuda(), -128, 127,
                                                                 torch.int8))
        assert gpu == cpu, (scale, zp)
    scales = torch.tensor([0.1, 0.0, 0.2])
    zps = torch.tensor([0, 0, 0])
    cpu = _cuda_error(lambda: OPS.quantize_per_channel(torch.randn(3, 4), scales, zps, 0, -128, 127, torch.int8))
    gpu = _cuda_error(lambda: OPS.quantize_per_channel(torch.randn(3, 4).cuda(), scales.cuda(), zps.cuda(), 0, -128,
                                                       127, torch.int8))
    assert gpu == cpu


# ---- per-channel ----------------------------------------------------------------


@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES)
@pytest.mark.parametrize("scale_dtype", SCALE_DTYPES)
@pytest.mark.parametrize("zp_dtype", ZP_DTYPES)
@pytest.mark.parametrize("in_dtype", FLOAT_DTYPES)
def test_quantize_dequantize_per_channel(dtype, qmin, qmax, scale_dtype, zp_dtype, in_dtype):
    x = _inputs((3, 5, 7, 11), in_dtype)
    for axis in (0, 1, 3, -1):
        channels = x.shape[axis]
        g = torch.Generator().manual_seed(axis + 7)
        scales = (torch.rand(channels, generator=g, dtype=torch.float64) * 0.5 + 0.01).to(scale_dtype)
        zps = torch.randint(max(qmin, -100), min(qmax, 100) + 1, (channels,), generator=g).to(zp_dtype)
        for name, layout in _layouts(x):
            cpu, gpu = _both(OPS.quantize_per_channel, layout, scales, zps, axis, qmin, qmax, dtype)
            _assert_same(cpu, gpu, f"quantize {name} axis={axis}")
            for out_dtype in (None, torch.float16, torch.float64):
                dq = lambda q, s, z: OPS.dequantize_per_channel(q, s, z, axis, qmin, qmax, dtype, out_dtype=out_dtype)
                cpu_d, gpu_d = _both(dq, cpu, scales, zps)
                _assert_same(cpu_d, gpu_d, f"dequantize {name} axis={axis} out={out_dtype}")


def test_fake_quant_per_channel():
    x = _inputs((4, 3, 9, 17))
    scales = torch.tensor([0.1, 0.25, 0.03])
    zps = torch.tensor([0, 5, -7], dtype=torch.int32)
    for name, layout in _layouts(x):
        cpu, gpu = _both(OPS.fake_quant_per_channel, layout, scales, zps, 1, -128, 127)
        _assert_same(cpu, gpu, name)
    # The gradient mask, through the autograd kernel on both devices.
    xs = [x.clone().requires_grad_(), x.cuda().requires_grad_()]
    for t, s, z in [(xs[0], scales, zps), (xs[1], scales.cuda(), zps.cuda())]:
        OPS.fake_quant_per_channel(t, s, z, 1, -128, 127).sum().backward()
    assert_bitwise_equal(xs[1].grad.cpu(), xs[0].grad, "grad")


# ---- per-token and per-group -------------------------------------------------


@pytest.mark.parametrize("in_dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("scale_dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES[:3])
def test_per_token(in_dtype, scale_dtype, dtype, qmin, qmax):
    for shape in [(0, 8), (1, 1), (5, 4097), (2, 3, 64), (130, 17)]:
        x = _inputs(shape, in_dtype)
        scales, zps = OPS.choose_qparams_per_token_asymmetric(x.float().clamp(-1e4, 1e4), dtype)
        scales = scales.to(scale_dtype)
        cpu, gpu = _both(OPS.quantize_per_token, x, scales, zps, qmin, qmax, dtype)
        _assert_same(cpu, gpu, f"quantize {shape}")
        for out_dtype in (torch.float32, torch.float16, torch.bfloat16):
            cpu_d, gpu_d = _both(lambda q, s, z: OPS.dequantize_per_token(q, s, z, qmin, qmax, dtype, out_dtype),
                                 cpu, scales, zps)
            _assert_same(cpu_d, gpu_d, f"dequantize {shape} {out_dtype}")


@pytest.mark.parametrize("in_dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("group_size", [1, 16, 32, 128])
def test_per_channel_group(in_dtype, group_size):
    x = _inputs((12, 256), in_dtype).clamp(-1e4, 1e4)
    groups = x.numel() // group_size
    g = torch.Generator().manual_seed(group_size)
    scales = (torch.rand(groups, generator=g) * 0.3 + 0.01).to(in_dtype)
    zps = torch.randint(-8, 8, (groups,), generator=g).to(in_dtype)
    cpu, gpu = _both(OPS.quantize_per_channel_group, x, scales, zps, -8, 7, torch.int8, group_size)
    _assert_same(cpu, gpu, "quantize")
    for zero_points in (zps, None):
        dq = lambda q, s: OPS.dequantize_per_channel_group(q, s, None if zero_points is None else
                                                           zero_points.to(q.device), -8, 7, torch.int8, group_size,
                                                           in_dtype)
        cpu_d, gpu_d = _both(dq, cpu, scales)
        _assert_same(cpu_d, gpu_d, f"dequantize zero_points={zero_points is not None}")
    nan = x.clone()
    nan[3, 5] = float("nan")
    cpu_err = _cuda_error(lambda: OPS.quantize_per_channel_group(nan, scales, zps, -8, 7, torch.int8, group_size))
    gpu_err = _cuda_error(lambda: OPS.quantize_per_channel_group(nan.cuda(), scales.cuda(), zps.cuda(), -8, 7,
                                                                 torch.int8, group_size))
    assert gpu_err == cpu_err


# ---- choose_qparams ----------------------------------------------------------------


@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("numel", [1, 31, 4096, 1 << 20, (1 << 22) + 3])
def test_choose_qparams(in_dtype, numel):
    x = (_inputs((numel,)).clamp(-6e4, 6e4) * 0.01).to(in_dtype)
    for op in (OPS.choose_qparams.tensor, OPS.choose_qparams_symmetric.tensor):
        for qmin, qmax, dtype in [(-128, 127, torch.int8), (0, 255, torch.uint8)]:
            cpu, gpu = _both(lambda t: op(t, qmin, qmax, 1e-5, dtype), x)
            _assert_same(cpu, gpu, f"{op} {dtype}")


@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (3, 4, 4099), (2048, 64), (1, 1 << 20)])
def test_choose_qparams_per_token(in_dtype, shape):
    x = (_inputs(shape).clamp(-6e4, 6e4) * 0.01).to(in_dtype)
    for op in (OPS.choose_qparams_per_token, OPS._choose_qparams_per_token_asymmetric_impl,
               OPS.choose_qparams_per_token_asymmetric):
        cpu, gpu = _both(lambda t: op(t, torch.int8), x)
        _assert_same(cpu, gpu, str(op))


def test_choose_qparams_errors_match_cpu():
    x = torch.randn(1000)
    x[17] = float("nan")
    for fn in (lambda t: OPS.choose_qparams.tensor(t, -128, 127, 1e-5, torch.int8),
               lambda t: OPS.choose_qparams_per_token_asymmetric(t.view(10, 100), torch.int8),
               lambda t: OPS.choose_qparams_per_token(t.view(10, 100), torch.int8)):
        assert _cuda_error(lambda: fn(x.cuda())) == _cuda_error(lambda: fn(x))


def test_convert_element_type():
    x = _inputs((4, 3, 8, 5)).contiguous(memory_format=torch.channels_last)
    for dtype in (torch.float16, torch.bfloat16, torch.float64, torch.int32):
        cpu, gpu = _both(lambda t: OPS.convert_element_type.no_fuse(t, dtype), x.clamp(-6e4, 6e4))
        _assert_same(cpu, gpu, str(dtype))


# ---- devices, streams, big tensors ----------------------------------------------


def test_runs_on_the_current_stream_and_device():
    x = _inputs((1 << 20,)).cuda()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        q = OPS.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)
    stream.synchronize()
    assert_bitwise_equal(q.cpu(), OPS.quantize_per_tensor(x.cpu(), 0.05, 3, -128, 127, torch.int8), "stream")
    if torch.cuda.device_count() > 1:
        y = x.to("cuda:1")
        assert OPS.quantize_per_tensor(y, 0.05, 3, -128, 127, torch.int8).device == y.device


def test_more_than_2_pow_31_bytes():
    free, _ = torch.cuda.mem_get_info()
    numel = (1 << 31) + 4099  # int8 output past 2^31 bytes, float32 input past 2^33
    if free < numel * 7:
        pytest.skip(f"needs {numel * 7 / 2**30:.1f} GiB of free GPU memory, has {free / 2**30:.1f}")
    x = torch.empty(numel, device="cuda").uniform_(-10, 10)
    q = OPS.quantize_per_tensor(x, 0.1, 0, -128, 127, torch.int8)
    tail = slice(numel - 70000, numel)
    assert_bitwise_equal(q[tail].cpu(), OPS.quantize_per_tensor(x[tail].cpu(), 0.1, 0, -128, 127, torch.int8), "tail")
    s = torch.full((7,), 0.1, device="cuda")
    z = torch.zeros(7, dtype=torch.int32, device="cuda")
    x2 = x[: (numel // 7) * 7].view(7, -1)
    del q
    qc = OPS.quantize_per_channel(x2, s, z, 0, -128, 127, torch.int8)
    assert_bitwise_equal(qc[6, -70000:].cpu(),
                         OPS.quantize_per_channel(x2[6:, -70000:].cpu(), s[:1].cpu(), z[:1].cpu(), 0, -128, 127,
                                                  torch.int8)[0], "per-channel tail")


# ---- upstream's own ops on the GPU ------------------------------------------------


@requires_upstream
@pytest.mark.parametrize("dtype,qmin,qmax", INT_DTYPES[:4])
@pytest.mark.parametrize("in_dtype", FLOAT_DTYPES)
def test_matches_upstream_python_ops(dtype, qmin, qmax, in_dtype):
    """upstream's Python implementations (the CompositeExplicitAutograd
    functions of _decomposed) evaluated on CUDA tensors, against the plugin."""
    decomposed = upstream_decomposed()
    x = _inputs((64, 257), in_dtype).cuda()
    got = OPS.quantize_per_tensor(x, 0.037, min(max(qmin, 3), qmax), qmin, qmax, dtype)
    expected = decomposed.quantize_per_tensor(x, 0.037, min(max(qmin, 3), qmax), qmin, qmax, dtype)
    assert_bitwise_equal(got.cpu(), expected.cpu(), "quantize_per_tensor")
    scales = torch.rand(64, device="cuda", dtype=torch.float32) * 0.3 + 0.01
    zps = torch.randint(max(qmin, -50), min(qmax, 50) + 1, (64,), device="cuda")
    got = OPS.quantize_per_channel(x, scales, zps, 0, qmin, qmax, dtype)
    expected = decomposed.quantize_per_channel(x, scales, zps, 0, qmin, qmax, dtype)
    assert_bitwise_equal(got.cpu(), expected.cpu(), "quantize_per_channel")
    got_d = OPS.dequantize_per_channel(got, scales, zps, 0, qmin, qmax, dtype)
    expected_d = decomposed.dequantize_per_channel(got, scales, zps, 0, qmin, qmax, dtype)
    assert_bitwise_equal(got_d.cpu(), expected_d.cpu(), "dequantize_per_channel")
    if dtype in (torch.int8, torch.uint8):
        x32 = x.float()
        for name in ("choose_qparams_per_token_asymmetric",):
            got_s, got_z = getattr(OPS, name)(x32, dtype)
            exp_s, exp_z = getattr(decomposed, name)(x32, dtype)
            assert_bitwise_equal(got_s.cpu(), exp_s.cpu(), name)
            assert_bitwise_equal(got_z.cpu(), exp_z.cpu(), name)
