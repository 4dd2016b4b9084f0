"""Bit-for-bit comparison of tensors (NaNs compare equal to NaNs, whatever their payload)."""

import torch

_INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64,
             torch.float16: torch.int16, torch.bfloat16: torch.int16}


def assert_bitwise_equal(actual, expected, context=""):
    assert actual.dtype == expected.dtype, f"{context}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{context}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    if actual.dtype in _INT_VIEW:
        a_nan, e_nan = torch.isnan(actual), torch.isnan(expected)
        assert torch.equal(a_nan, e_nan), f"{context}: NaN positions differ"
        view = _INT_VIEW[actual.dtype]
        a_bits = actual.contiguous().view(view)[~a_nan]
        e_bits = expected.contiguous().view(view)[~e_nan]
        mismatch = (a_bits != e_bits).nonzero()
        assert mismatch.numel() == 0, (
            f"{context}: {mismatch.numel()} elements differ, first at {mismatch[0].item()}: "
            f"{actual[~a_nan][mismatch[0]].item()} vs {expected[~e_nan][mismatch[0]].item()}")
    else:
        mismatch = (actual != expected).nonzero()
        assert mismatch.numel() == 0, f"{context}: {mismatch.shape[0]} elements differ"
