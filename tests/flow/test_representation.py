"""The q/dq side (use_reference_representation=False) of upstream's
test_representation.py on TorchScript, with its node-occurrence expectations.

Upstream compares each model's q/dq output with its reference-representation
output; the reference rewrite is not part of this plugin yet, so where
torch 2.6 runs (the trixie root) the q/dq output is compared with upstream's
q/dq output instead, within upstream's tolerance (two output steps).
"""

import pytest
import torch

from flow_testing import QD, quantize, check_nodes
from xnnpack_testing import has_upstream_xnnpack, upstream_quantize
from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

CAPTURES = ["script", "trace"]


def _upstream_quantizer(**config):
    from torch.ao.quantization.quantizer import xnnpack_quantizer as up

    return up.XNNPACKQuantizer().set_global(up.get_symmetric_quantization_config(**config))


def _test_representation(model, example_inputs, config, non_ref_node_occurrence, how, fixed_output_tol=None,
                         output_scale_idx=2):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(**config))
    _, m = quantize(model, example_inputs, quantizer, how)
    check_nodes(m, non_ref_node_occurrence)
    output = m(*example_inputs)
    if not has_upstream_xnnpack():
        return
    output_tol = fixed_output_tol
    if output_tol is None:
        scales = [n.args[1] for n in GraphModuleView(m).graph.nodes
                  if n.op == "call_function" and n.target == QD.quantize_per_tensor.default]
        output_tol = scales[output_scale_idx - 1]
    upstream = upstream_quantize(model, example_inputs, _upstream_quantizer(**config))
    difference = torch.max(torch.abs(output - upstream(*example_inputs)))
    assert difference <= 2 * output_tol + 1e-5


class Linear5(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 5)

    def forward(self, x):
        return self.linear(x)


@pytest.mark.parametrize("how", CAPTURES)
def test_static_linear(how):
    _test_representation(Linear5().eval(), (torch.randn(2, 5),), {"is_per_channel": False}, {}, how)


@pytest.mark.parametrize("how", CAPTURES)
def test_dynamic_linear(how):
    _test_representation(Linear5().eval(), (torch.randn(2, 5),), {"is_per_channel": False, "is_dynamic": True}, {},
                         how, fixed_output_tol=1e-4)


class Conv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x):
        return self.conv2d(x)


@pytest.mark.parametrize("how", CAPTURES)
def test_conv2d(how):
    _test_representation(Conv().eval(), (torch.randn(1, 3, 3, 3),), {"is_per_channel": False}, {}, how)


class Add(torch.nn.Module):
    def forward(self, x, y):
        return x + y


class AddRelu(torch.nn.Module):
    def forward(self, x, y):
        out = x + y
        return torch.nn.functional.relu(out)


@pytest.mark.parametrize("how", CAPTURES)
def test_add(how):
    _test_representation(Add().eval(), (torch.randn(1, 3, 3, 3), torch.randn(1, 3, 3, 3)), {"is_per_channel": True},
                         {}, how)


@pytest.mark.parametrize("how", CAPTURES)
def test_add_relu(how):
    _test_representation(AddRelu().eval(), (torch.randn(1, 3, 3, 3), torch.randn(1, 3, 3, 3)),
                         {"is_per_channel": True}, {}, how)


class ConvMaxPool2d(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 2, 1)
        self.pool = torch.nn.MaxPool2d(1, 1)

    def forward(self, x):
        return self.pool(self.conv(x))


@pytest.mark.parametrize("how", CAPTURES)
def test_maxpool2d(how):
    _test_representation(ConvMaxPool2d().eval(), (torch.randn(1, 2, 2, 2),), {"is_per_channel": True}, {}, how)


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("shape", [(1, 5), (1, 3, 5), (1, 3, 3, 5), (1, 3, 3, 3, 5)], ids=["2d", "3d", "4d", "5d"])
def test_qdq_per_channel(how, shape):
    # quantize_per_channel of the weight is folded
    _test_representation(Linear5().eval(), (torch.randn(*shape),), {"is_per_channel": True},
                         {QD.quantize_per_channel.default: 0, QD.dequantize_per_channel.default: 1}, how,
                         output_scale_idx=2)


@pytest.mark.parametrize("how", CAPTURES)
def test_qdq(how):
    _test_representation(Add().eval(), (torch.randn(1, 3, 3, 3), torch.randn(1, 3, 3, 3)), {"is_per_channel": True},
                         {QD.quantize_per_tensor.default: 3, QD.dequantize_per_tensor.default: 3}, how)
