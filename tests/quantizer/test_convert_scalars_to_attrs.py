"""XNNPACKQuantizer.transform_for_annotation (C++ convert_scalars_to_attrs):
scalar operands of add and mul become float32 0-d buffers read by
prim::GetAttr, .Scalar calls become .Tensor calls, results are unchanged."""

import pytest
import torch

from flow.flow_testing import QD, check_nodes, quantize
from quantizer_testing import CAPTURES, canonical_view, op
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
from flow.xnnpack_testing import UPSTREAM_XNNPACK_SKIP, has_upstream_xnnpack, upstream_quantize

aten = torch.ops.aten


class Scalars(torch.nn.Module):
    def forward(self, x):
        return (x + 2) * 0.5


@pytest.mark.parametrize("how", CAPTURES)
def test_scalars_become_buffers(how):
    x = torch.randn(2, 3)
    view = canonical_view(Scalars(), (x,), how, transform=XNNPACKQuantizer())
    module = view.module
    add, mul = op(view, aten.add.Tensor), op(view, aten.mul.Tensor)
    for node, value in ((add, 2.0), (mul, 0.5)):
        constant = node.args[1]
        assert constant.op == "get_attr" and constant.target.startswith("_tensor_constant_")
        buffer = getattr(module, constant.target)
        # float32 0-d, as upstream's torch.tensor(float(scalar))
        assert buffer.dtype == torch.float32 and buffer.dim() == 0 and buffer.item() == value
        assert constant.target in dict(module.named_buffers())
    assert torch.equal(module(x), Scalars()(x))


class AddOne(torch.nn.Module):
    def forward(self, x):
        return x + 1


def test_integer_tensor_operand_is_left_alone():
    # a float32 buffer would make the integer add return float32
    x = torch.arange(6).reshape(2, 3)
    view = canonical_view(AddOne(), (x,), "trace", transform=XNNPACKQuantizer())
    node = op(view, aten.add.Tensor)
    assert not hasattr(node.args[1], "op")
    assert view.module(x).dtype == torch.int64


@pytest.mark.parametrize("how", CAPTURES)
def test_scalar_add_is_quantized(how):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config())
    x = torch.randn(2, 3)
    _, m = quantize(AddOne(), (x,), quantizer, how)
    # x, the constant (quantization folded) and the output
    check_nodes(m, {QD.quantize_per_tensor.default: 2, QD.dequantize_per_tensor.default: 3},
                [QD.dequantize_per_tensor.default, QD.dequantize_per_tensor.default, aten.add.Tensor,
                 QD.quantize_per_tensor.default])


@pytest.mark.skipif(not has_upstream_xnnpack(), reason=UPSTREAM_XNNPACK_SKIP)
@pytest.mark.parametrize("how", CAPTURES)
def test_scalar_add_matches_upstream(how):
    from torch.ao.quantization.quantizer import xnnpack_quantizer as up

    x = torch.randn(2, 3)
    upstream = upstream_quantize(AddOne(), (x,),
                                 up.XNNPACKQuantizer().set_global(up.get_symmetric_quantization_config()))
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config())
    _, ours = quantize(AddOne(), (x,), quantizer, how)
    assert torch.equal(ours(x), upstream(x))
