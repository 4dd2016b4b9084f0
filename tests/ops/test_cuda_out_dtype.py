"""torch_pt2e::out_dtype_* CUDA kernels (kernels/cuda/out_dtype_kernel.cu) against
the CPU kernels, bit for bit: integer mm / linear / conv2d and the int32
requantization mul / div.

Every test needs a GPU and a CUDA build of the plugin; tools/gpu_check.sh runs them.
"""

import pytest
import torch

from bitwise import assert_bitwise_equal
from conftest import requires_cuda

pytestmark = requires_cuda

OPS = torch.ops.torch_pt2e

INT_RANGES = {torch.int8: (-128, 127), torch.uint8: (0, 255), torch.int16: (-32768, 32767),
              torch.int32: (-2**31, 2**31 - 1)}
GEMM_PAIRS = [(torch.int8, torch.int8), (torch.uint8, torch.int8), (torch.int8, torch.uint8),
              (torch.int16, torch.int16), (torch.int16, torch.int8), (torch.uint8, torch.uint8)]


def rand_int(shape, dtype, seed):
    low, high = INT_RANGES[dtype]
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, shape, generator=g, dtype=torch.int64).to(dtype)


def on_both(fn, *args):
    cpu = fn(*args)
    gpu = fn(*[a.cuda() if isinstance(a, torch.Tensor) else a for a in args])
    assert gpu.is_cuda
    assert gpu.stride() == cpu.stride() or gpu.numel() <= 1, (gpu.stride(), cpu.stride())
    assert_bitwise_equal(gpu.cpu(), cpu)
    return cpu


@pytest.mark.parametrize("a_dtype,b_dtype", GEMM_PAIRS)
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 15, 17), (17, 65, 49), (130, 768, 96), (0, 5, 3), (4, 0, 3)])
def test_mm(a_dtype, b_dtype, m, k, n):
    a, b = rand_int((m, k), a_dtype, m + k), rand_int((k, n), b_dtype, n)
    on_both(lambda x, y: OPS.out_dtype_mm(x, y, torch.int32), a, b)
    # Transposed (non-contiguous) operands.
    on_both(lambda x, y: OPS.out_dtype_mm(x, y, torch.int32), a.t().contiguous().t(), b.t().contiguous().t())


def test_mm_wraps_like_the_cpu():
    # int16 x int16 sums beyond 2^31 wrap modulo 2^32 on both devices.
    a = torch.full((3, 4096), -32768, dtype=torch.int16)
    b = torch.full((4096, 5), -32768, dtype=torch.int16)
    on_both(lambda x, y: OPS.out_dtype_mm(x, y, torch.int32), a, b)


@pytest.mark.parametrize("bias_dtype", [None, torch.int32, torch.int8])
def test_linear(bias_dtype):
    x, w = rand_int((2, 9, 96), torch.int8, 1), rand_int((33, 96), torch.int8, 2)
    bias = None if bias_dtype is None else rand_int((33,), torch.int8, 3).to(bias_dtype)
    cpu = OPS.out_dtype_linear(x, w, bias, torch.int32)
    gpu = OPS.out_dtype_linear(x.cuda(), w.cuda(), None if bias is None else bias.cuda(), torch.int32)
    assert gpu.is_cuda
    assert_bitwise_equal(gpu.cpu(), cpu, str(bias_dtype))


@pytest.mark.parametrize("groups,stride,padding,dilation", [(1, 1, 0, 1), (1, 2, 1, 1), (2, 1, 2, 2), (4, 3, 1, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_conv2d(groups, stride, padding, dilation, channels_last):
    x = rand_int((2, 8, 13, 11), torch.uint8, 4)
    w = rand_int((12, 8 // groups, 3, 3), torch.int8, 5)
    bias = rand_int((12,), torch.int32, 6)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    on_both(lambda a, b, c: OPS.out_dtype_conv2d(a, b, c, [stride] * 2, [padding] * 2, [dilation] * 2, groups,
                                                 torch.int32), x, w, bias)


@pytest.mark.parametrize("self_dtype", [torch.int32, torch.float32])
@pytest.mark.parametrize("factor_on", ["number", "cpu", "cuda"])
def test_mul_div(self_dtype, factor_on):
    g = torch.Generator().manual_seed(7)
    x = (torch.randn(4099, generator=g) * 1e6).to(self_dtype)
    if self_dtype is torch.float32:
        x[:4] = torch.tensor([float("nan"), float("inf"), -3e9, 2.5])
    for factor in (0.0123, 3.0, 1e-30):
        for name in ("out_dtype_mul", "out_dtype_div"):
            op = getattr(OPS, name)
            if factor_on == "number":
                cpu = op.Scalar(x, factor, torch.int32)
                gpu = op.Scalar(x.cuda(), factor, torch.int32)
            else:
                f = torch.tensor(factor, dtype=torch.float32)
                cpu = op.Tensor(x, f, torch.int32)
                gpu = op.Tensor(x.cuda(), f.to(factor_on), torch.int32)
            assert gpu.is_cuda
            assert_bitwise_equal(gpu.cpu(), cpu, f"{name} {factor}")
