"""convert_element_type.no_fuse through torch.ops (prims.convert_element_type
semantics: a new tensor of the dtype, with the input's layout)."""

import pytest
import torch

from bitwise import assert_bitwise_equal
from conftest import requires_upstream, upstream_decomposed

OPS = torch.ops.quantized_decomposed
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int32]


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_converts_like_to(src, dst):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 4, 5, 6, generator=g) * 50).to(src)
    for layout in (x, x.contiguous(memory_format=torch.channels_last), x[..., ::2]):
        got = OPS.convert_element_type.no_fuse(layout, dst)
        assert_bitwise_equal(got, layout.to(dst), f"{src}->{dst}")
        if layout.is_contiguous() or layout.is_contiguous(memory_format=torch.channels_last):
            assert got.stride() == layout.stride()
        # Always a new tensor, even for the same dtype (so the pair is never a no-op).
        assert got.data_ptr() != layout.data_ptr()


def test_round_trip_fp16_and_meta():
    x = torch.tensor([1.0, 1.0 + 2**-11, 65520.0, 1e-8])
    half = OPS.convert_element_type.no_fuse(x, torch.float16)
    back = OPS.convert_element_type.no_fuse(half, torch.float32)
    # 1 + 2^-11 rounds to 1 (ties to even); 65520 overflows to inf; 1e-8 underflows to 0
    assert back.tolist() == [1.0, 1.0, float("inf"), 0.0]
    m = OPS.convert_element_type.no_fuse(torch.empty(2, 3, device="meta"), torch.bfloat16)
    assert m.shape == (2, 3) and m.dtype == torch.bfloat16


@requires_upstream
def test_parity_with_upstream():
    up = upstream_decomposed()
    x = torch.randn(7, 9) * 1000
    for dst in DTYPES:
        assert_bitwise_equal(OPS.convert_element_type.no_fuse(x, dst), up.convert_element_type(x, dst), f"{dst}")
