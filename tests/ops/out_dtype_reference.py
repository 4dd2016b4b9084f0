"""Upstream's out_dtype higher-order op (torch/_higher_order_ops/out_dtype.py)
written from the semantics notes as plain torch code.

The oracle on torch 1.13, which has no out_dtype; on torch 2.x the parity
tests check it against upstream's op as well. out_dtype(op, dtype, *args)
casts every tensor argument to the computation dtype of
torch._prims_common.elementwise_dtypes(*leaves(args), ones(1, dtype=dtype))
(DEFAULT kind), runs op, and casts the result to dtype. None of this calls
the plugin.
"""

import numbers

import torch

# torch._prims_common.get_higher_dtype's order; dtypes sharing a level
# promote to the next level's first dtype.
_LEVELS = [
    (torch.bool,),
    (torch.uint8, torch.int8),
    (torch.int16,),
    (torch.int32,),
    (torch.int64,),
    (torch.float16, torch.bfloat16),
    (torch.float32,),
    (torch.float64,),
    (torch.complex32,),
    (torch.complex64,),
    (torch.complex128,),
]
_COMPLEX_OF = {torch.float16: torch.complex32, torch.bfloat16: torch.complex64,
               torch.float32: torch.complex64, torch.float64: torch.complex128}


def _level(dtype):
    for i, group in enumerate(_LEVELS):
        if dtype in group:
            return i
    raise ValueError(f"no promotion order for {dtype}")


def _higher(a, b):
    if a is None or a == b:
        return b
    if b is None:
        return a
    la, lb = _level(a), _level(b)
    if la == lb:
        return _LEVELS[la + 1][0]
    return a if la > lb else b


def _category(dtype):
    return 0 if dtype == torch.bool else 1 if _level(dtype) <= 4 else 2 if _level(dtype) <= 7 else 3


def _number_category(x):
    return 0 if isinstance(x, bool) else 1 if isinstance(x, numbers.Integral) else \
        2 if isinstance(x, numbers.Real) else 3


def _leaves(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _leaves(a)
        elif a is not None:
            yield a


def compute_dtype(out_dtype, *args):
    leaves = list(_leaves(args)) + [torch.ones(1, dtype=out_dtype)]
    tensors = [x for x in leaves if isinstance(x, torch.Tensor)]
    highest = max(_category(x.dtype) if isinstance(x, torch.Tensor) else _number_category(x) for x in leaves)

    def highest_dtype(keep, as_complex=False):
        dims, zero_dim = None, None
        for t in tensors:
            if keep(t.dtype):
                d = _COMPLEX_OF.get(t.dtype, t.dtype) if as_complex else t.dtype
                if t.dim() == 0:
                    zero_dim = _higher(zero_dim, d)
                else:
                    dims = _higher(dims, d)
        return dims if dims is not None else zero_dim

    if highest == 2:
        result = highest_dtype(lambda d: _category(d) == 2) or torch.get_default_dtype()
    elif highest == 3:
        result = highest_dtype(lambda d: _category(d) >= 2, True) or _COMPLEX_OF[torch.get_default_dtype()]
    elif highest == 1:
        result = highest_dtype(lambda d: _category(d) == 1) or torch.int64
    else:
        result = torch.bool
    return {torch.float16: torch.float32, torch.bfloat16: torch.float32,
            torch.complex32: torch.complex64}.get(result, result)


def out_dtype(fn, dtype, *args):
    """fn is the ATen op as a Python callable (torch.ops.aten.mm.default ...)."""
    promoted = compute_dtype(dtype, *args)
    cast = [a.to(promoted) if isinstance(a, torch.Tensor) else a for a in args]
    return fn(*cast).to(dtype)


def exact_mm(a, b):
    """The int32 result of an integer product, through int64 (wraps like int32 arithmetic)."""
    return (a.long() @ b.long()).to(torch.int32)


def exact_conv2d(x, w, bias, stride, padding, dilation, groups):
    """Integer convolution through float64, exact while |sums| < 2^53."""
    out = torch.nn.functional.conv2d(x.double(), w.double(), None if bias is None else bias.double(),
                                     stride, padding, dilation, groups)
    return out.long().to(torch.int32)
