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


# ---- helpers for chains of reduced-precision tensor ops ---------------------
# Each op of upstream's chains on float16/bfloat16 tensors is computed in
# float32 and rounded to the storage dtype; torch 1.13 and 2.x differ in how
# they treat Python scalars there, so these functions compute in float32
# (float64 for float64 inputs) and round explicitly after each op.

def _wide(dtype):
    return torch.float64 if dtype == torch.float64 else torch.float32


def _rounded(t, dtype):
    """The value a `dtype` tensor holds after an op computed as `t`."""
    return t.to(dtype).to(t.dtype) if dtype in (torch.float16, torch.bfloat16) else t


def _probe(dtype, zero_dim):
    """A tensor standing for an intermediate result in torch.result_type."""
    return torch.empty((), dtype=dtype) if zero_dim else torch.empty(1, dtype=dtype)


def _reciprocal(scales):
    """1.0 / scales: a reciprocal in the scales' dtype, in float32/float64."""
    return _rounded(scales.to(_wide(scales.dtype)).reciprocal(), scales.dtype)


def _quantize_chain(x, scales, zero_points, quant_min, quant_max, dtype, add_before_round):
    """x * (1.0 / scales), + zero_points, round (before or after the add), clamp,
    each op in torch's promoted dtype of its operands (rounded explicitly when
    that is float16/bfloat16)."""
    product = torch.result_type(x, scales)
    zero_dim = x.dim() == 0 and scales.dim() == 0
    total = torch.result_type(_probe(product, zero_dim), zero_points)
    w = _wide(total)
    m = _rounded(_rounded(x.to(w), product) * _rounded(_reciprocal(scales).to(w), product), product)
    zp = _rounded(zero_points.to(w), total)
    if add_before_round:
        r = torch.round(_rounded(m + zp, total))
    else:
        r = _rounded(torch.round(m) + zp, total)
    lo, hi = (_rounded(torch.tensor(float(b), dtype=w), total) for b in (quant_min, quant_max))
    return torch.maximum(torch.minimum(r, hi), lo).to(dtype)


def _dequantize_chain(q, zero_points, scales, out_dtype):
    """(q - zero_points) * scales in torch's promoted dtypes, then .to(out_dtype)."""
    if zero_points is None:
        difference, d = q.dtype, q
    else:
        try:
            difference = torch.result_type(q, zero_points)
        except RuntimeError:
            # torch>=2.3 refuses to promote uint16 with other integers; the
            # plugin defines the difference as the exact one, in int64.
            difference = torch.int64
            q, zero_points = q.to(difference), zero_points.to(difference)
        if difference.is_floating_point:
            w = _wide(difference)
            d = _rounded(_rounded(q.to(w), difference) - _rounded(zero_points.to(w), difference), difference)
        else:
            d = q - zero_points
    zero_dim = q.dim() == 0 and (zero_points is None or zero_points.dim() == 0)
    product = torch.result_type(_probe(difference, zero_dim), scales)
    w = _wide(product)
    p = _rounded(_rounded(d.to(w), product) * _rounded(scales.to(w), product), product)
    return p.to(out_dtype)


def _along(t, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return t.reshape(shape)


# ---- per channel -------------------------------------------------------------

def quantize_per_channel(x, scales, zero_points, axis, quant_min, quant_max, dtype):
    # clamp(round(x_f32 * (1.0 / scales)) + zero_points, qmin, qmax).to(dtype),
    # where 1.0 / scales is a reciprocal in the scales' dtype.
    x = x.to(torch.float32)
    inv = _along(scales.reciprocal(), x.dim(), axis)
    return torch.clamp(torch.round(x * inv) + _along(zero_points, x.dim(), axis), quant_min, quant_max).to(dtype)


def dequantize_per_channel(q, scales, zero_points, axis, quant_min, quant_max, dtype, out_dtype=None):
    # ((q - zero_points) * scales).to(out_dtype): the difference in the promoted
    # type of q and zero_points (exact for integers), then the product.
    zp = None if zero_points is None else _along(zero_points, q.dim(), axis)
    return _dequantize_chain(q, zp, _along(scales, q.dim(), axis), out_dtype or torch.float32)


# ---- per token -----------------------------------------------------------------

def quantize_per_token(x, scales, zero_points, quant_min, quant_max, dtype):
    # input.mul(1.0 / scales).add(zero_points).round().clamp(qmin, qmax): the
    # zero point is added before rounding.
    return _quantize_chain(x, scales, zero_points, quant_min, quant_max, dtype, add_before_round=True)


def dequantize_per_token(q, scales, zero_points, quant_min, quant_max, dtype, output_dtype):
    return _dequantize_chain(q, zero_points, scales, output_dtype)


def choose_qparams_per_token(x, dtype):
    # scales = clamp(max|x| per row, min=1e-5) / 127 in the input's dtype
    # (float16 -> float32); zero points are zeros of the same dtype.
    if dtype != torch.int8:
        raise ValueError(dtype)
    scale_dtype = torch.float32 if x.dtype == torch.float16 else x.dtype
    wide = _wide(scale_dtype)
    amax = x.abs().amax(dim=-1, keepdim=True).to(wide)
    lower = torch.tensor(1e-5, dtype=scale_dtype).to(wide)
    clamped = torch.where(amax < lower, lower, amax)
    scales = _rounded(clamped / torch.tensor(127.0, dtype=wide), scale_dtype).to(scale_dtype)
    return scales, torch.zeros_like(scales)


def choose_qparams_per_token_asymmetric(x, dtype):
    # After XNNPACK: qmin, qmax = -128, 127; every step in the input's dtype.
    wide = _wide(x.dtype)
    r = lambda t: _rounded(t, x.dtype)  # noqa: E731
    zero = torch.zeros((), dtype=wide)
    min_neg = torch.minimum(x.amin(dim=-1, keepdim=True).to(wide), zero)
    max_pos = torch.maximum(x.amax(dim=-1, keepdim=True).to(wide), zero)
    scale = r(r(max_pos - min_neg) / 255.0)
    scale = torch.maximum(scale, torch.tensor(torch.finfo(torch.float32).eps, dtype=wide))
    descaled_min, descaled_max = r(min_neg / scale), r(max_pos / scale)
    from_min, from_max = r(-128 + descaled_min), r(127 + descaled_max)
    zero_point = torch.where(r(from_min + from_max) > 0, r(-128 - descaled_min), r(127 - descaled_max))
    return scale.to(torch.float64), torch.clamp(zero_point, -128, 127).round().to(torch.int64)


# ---- per tensor choose_qparams ----------------------------------------------------

def choose_qparams(x, quant_min, quant_max, eps, dtype, symmetric=False):
    """determine_qparams after aminmax: 0-d ops in the input's dtype, then
    max(scale, eps) in float32; float64 scale [1] and int64 zero point [1]."""
    r = lambda t: _rounded(t, x.dtype)  # noqa: E731
    zero = torch.zeros((), dtype=torch.float32)
    min_neg = torch.minimum(x.min().float(), zero)
    max_pos = torch.maximum(x.max().float(), zero)
    eps32 = torch.tensor([eps], dtype=torch.float32)
    if symmetric:
        amax = torch.maximum(-min_neg, max_pos)
        scale = torch.maximum(r(amax / torch.tensor((quant_max - quant_min) / 2, dtype=torch.float32)), eps32)
        zero_point = torch.tensor([128 if dtype == torch.uint8 else 0])
    else:
        levels = torch.tensor(float(quant_max - quant_min), dtype=torch.float32)
        scale = torch.maximum(r(r(max_pos - min_neg) / levels), eps32)
        # int64 where upstream casts to int32 (which overflows for full int32 ranges).
        zero_point = quant_min - torch.round(min_neg / scale).to(torch.int64)
        zero_point = torch.clamp(zero_point, quant_min, quant_max)
    return scale.to(torch.float64), zero_point.to(torch.int64)


# ---- per channel group ----------------------------------------------------------

def _group_size(x, scales, group_size):
    if group_size > x.shape[-1] and scales.shape[-1] == 1:
        return x.shape[-1]
    return group_size


def quantize_per_channel_group(x, scales, zero_points, quant_min, quant_max, dtype, group_size):
    group_size = _group_size(x, scales, group_size)
    out = _quantize_chain(x.reshape(-1, group_size), scales.reshape(-1, 1), zero_points.reshape(-1, 1), quant_min,
                          quant_max, dtype, add_before_round=True)
    return out.reshape_as(x)


def dequantize_per_channel_group(q, scales, zero_points, quant_min, quant_max, dtype, group_size, output_dtype):
    group_size = _group_size(q, scales, group_size)
    zp = torch.zeros([], dtype=torch.int32) if zero_points is None else zero_points.reshape(-1, 1)
    return _dequantize_chain(q.reshape(-1, group_size), zp, scales.reshape(-1, 1), output_dtype).reshape_as(q)


# ---- fake quant, convert_element_type ---------------------------------------------

def fake_quant_per_channel(x, scales, zero_points, axis, quant_min, quant_max):
    """(output, mask): (clamp(t, qmin, qmax) - zp) * s with t = round(x * (1/s)) + zp,
    in float32 with int32 zero points; mask = qmin <= t <= qmax."""
    s = _along(scales.to(torch.float32), x.dim(), axis)
    zp = _along(zero_points.to(torch.int32), x.dim(), axis)
    t = torch.round(x * s.reciprocal()) + zp
    return (torch.clamp(t, quant_min, quant_max) - zp) * s, (t >= quant_min) & (t <= quant_max)


def convert_element_type(x, dtype):
    return x.to(dtype)
