"""prepare_pt2e runs an XNNPACKQuantizer without a Python filter entirely in
C++ (quantize_pt2e._runs_in_cpp); everything else goes through the graph
view. Both paths must give the same prepared and converted models, and
neither may change the input module."""

import pytest
import torch
import torchvision

from torch_pt2e.quantize_pt2e import _runs_in_cpp, convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

CAPTURES = ["script", "trace"]


def small_resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    model.train()
    with torch.no_grad():  # batch-norm statistics from data (random init leaves mean 0 / var 1)
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32))
    return model.eval()


def capture(model, how, example):
    return torch.jit.script(model) if how == "script" else torch.jit.trace(model, example)


def quantizer(per_channel, filter_fn=None):
    q = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))
    if filter_fn is not None:
        q.set_filter_function(filter_fn)
    return q


def node_kinds(module):
    return [node.kind() for node in module.graph.nodes()]


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("per_channel", [True, False])
def test_cpp_path_equals_general_path(how, per_channel):
    example = (torch.randn(2, 3, 32, 32),)
    model = capture(small_resnet(), how, example)
    fast_quantizer = quantizer(per_channel)
    general_quantizer = quantizer(per_channel, filter_fn=lambda node: True)
    assert _runs_in_cpp(fast_quantizer, None, False)
    assert not _runs_in_cpp(general_quantizer, None, False)

    fast = prepare_pt2e(model, fast_quantizer)
    general = prepare_pt2e(model, general_quantizer)
    assert node_kinds(fast) == node_kinds(general)
    calibration = [torch.randn(2, 3, 32, 32) for _ in range(3)]
    with torch.no_grad():
        for batch in calibration:
            fast(batch)
            general(batch)
    fast_q, general_q = convert_pt2e(fast), convert_pt2e(general)
    assert node_kinds(fast_q) == node_kinds(general_q)
    assert str(fast_q.graph).count("quantized_decomposed::quantize_per_tensor") > 10
    with torch.no_grad():
        assert torch.equal(fast_q(example[0]), general_q(example[0]))


def test_input_module_is_untouched():
    model = torch.jit.script(small_resnet())
    before_code = model.code
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    example = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(example)
    prepared = prepare_pt2e(model, quantizer(True))
    with torch.no_grad():
        prepared(example)
    convert_pt2e(prepared)
    assert model.code == before_code
    state = model.state_dict()
    assert state.keys() == before_state.keys()
    assert all(torch.equal(state[k], before_state[k]) for k in state)
    with torch.no_grad():
        assert torch.equal(model(example), expected)


class ConvBnEverywhere(torch.nn.Module):
    """conv + batch norm pairs inside a Sequential, a Sequential nested in it,
    written directly in forward, and in a helper method forward calls on its
    own module."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Sequential(torch.nn.Conv2d(8, 8, 1), torch.nn.BatchNorm2d(8)))
        self.conv = torch.nn.Conv2d(8, 4, 1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(8, 8, 1)
        self.bn2 = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        x = self.bn2(self.conv2(self.features(x)))
        return self._head(x)

    def _head(self, x):
        return self.bn(self.conv(x))


@pytest.mark.parametrize("how", CAPTURES)
def test_every_conv_batch_norm_pair_folds(how):
    """Each batch norm folds into its conv wherever the pair is written: the
    batch norm's input check (x.dim() of the conv output) is folded too.
    Before session 18 a pair written in a scripted forward kept its batch norm."""
    torch.manual_seed(0)
    model = ConvBnEverywhere().train()
    with torch.no_grad():  # statistics from data (random init leaves mean 0 / var 1)
        for _ in range(2):
            model(torch.randn(4, 3, 12, 12))
    model.eval()
    example = torch.randn(2, 3, 12, 12)
    prepared = prepare_pt2e(capture(model, how, (example,)), quantizer(True))
    kinds = node_kinds(prepared)
    assert "aten::batch_norm" not in kinds
    assert "aten::dim" not in kinds
    assert kinds.count("aten::conv2d") == 4
    with torch.no_grad():
        expected = model(example)
        # Observers pass values through: the prepared model computes the float model.
        torch.testing.assert_close(prepared(example), expected, rtol=1e-4, atol=1e-5)
