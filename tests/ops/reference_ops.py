"""quantized_decomposed written from the semantics notes, as plain torch code.

The oracle on torch 1.13, which has no upstream ops; on torch 2.x the parity
tests also check this module against upstream itself. Each function states
the tensor expression upstream evaluates (../shared/reference/pt2e-semantics.md
section 1.3); none of them calls the plugin.

Where plain ATen arithmetic differs between torch 1.13 and torch 2.x (bf16/fp16
scalar handling), the function spells out torch 2.x's rounding steps in fp32.
"""

import torch


def _reduced_or_none(dtype):
    return dtype if dtype in (torch.float16, torch.bfloat16) else None


def quantize_per_tensor(x, scale, zero_point, quant_min, quant_max, dtype):
    # clamp(round(x_f32 * float(1.0 / scale)) + zp, qmin, qmax).to(dtype)
    x = x.to(torch.float32)
    inv_scale = torch.tensor(1.0 / scale, dtype=torch.float64).to(torch.float32)
    return torch.clamp(torch.round(x * inv_scale) + zero_point, quant_min, quant_max).to(dtype)


def dequantize_per_tensor(q, scale, zero_point, quant_min, quant_max, dtype, out_dtype=None):
    # (q.to(out_dtype) - zp) * scale, every op rounding to out_dtype.
    out_dtype = out_dtype or torch.float32
    reduced = _reduced_or_none(out_dtype)
    if reduced is None:
        return (q.to(out_dtype) - zero_point) * scale
    qr = q.to(reduced).float()
    zr = torch.tensor(float(zero_point)).to(reduced).float()
    diff = (qr - zr).to(reduced).float()
    return (diff * torch.tensor(scale, dtype=torch.float32)).to(reduced)
