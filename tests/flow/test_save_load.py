"""A prepared model is saved, loaded in another process, calibrated and
converted there; the converted model saves and loads with the same outputs.
Folding shrinks the parameter bytes."""

import subprocess
import sys
import textwrap

import torch

from flow_testing import QD, check_nodes, quantize
import helper_modules as hm
from test_quantize_pt2e import ConvQuantizer
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e


class ConvReluNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 8, 3)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv(x)))


def _tensor_bytes(module):
    total = 0
    for _, t in list(module.named_parameters()) + list(module.named_buffers()):
        total += t.numel() * t.element_size()
    return total


def test_prepared_model_is_calibrated_and_converted_in_another_process(tmp_path, library_path):
    torch.manual_seed(0)
    model = torch.jit.script(ConvReluNet().eval())
    prepared = prepare_pt2e(model, ConvQuantizer())
    prepared_path = tmp_path / "prepared.pt"
    converted_path = tmp_path / "converted.pt"
    torch.jit.save(prepared, str(prepared_path))
    batch = torch.randn(2, 3, 10, 10)
    torch.save(batch, str(tmp_path / "batch.pt"))
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(hm.__file__.rsplit('/', 3)[0] + '/torch_pt2e_plugin/python')!r})
        import torch_pt2e
        from torch_pt2e.quantize_pt2e import convert_pt2e
        prepared = torch.jit.load({str(prepared_path)!r})
        prepared(torch.load({str(tmp_path / 'batch.pt')!r}))
        converted = convert_pt2e(prepared)
        torch.jit.save(converted, {str(converted_path)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"TORCH_PT2E_LIBRARY": library_path, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr

    # The same calibration here gives the same model.
    prepared(batch)
    here = convert_pt2e(prepared)
    there = torch.jit.load(str(converted_path))
    # conv: input, output; conv2 (after an unannotated relu): input, output
    check_nodes(there, {QD.quantize_per_tensor.default: 4, QD.dequantize_per_tensor.default: 6})
    x = torch.randn(1, 3, 10, 10)
    assert torch.equal(here(x), there(x))


def test_converted_model_saves_and_loads_with_identical_outputs(tmp_path):
    torch.manual_seed(1)
    example = (torch.randn(1, 3, 10, 10),)
    _, converted = quantize(ConvReluNet(), example, ConvQuantizer())
    path = tmp_path / "q.pt"
    torch.jit.save(converted, str(path))
    loaded = torch.jit.load(str(path))
    x = torch.randn(4, 3, 10, 10)
    assert torch.equal(loaded(x), converted(x))


def test_folding_shrinks_parameter_bytes_to_the_int8_weights():
    torch.manual_seed(2)
    example = (torch.randn(1, 3, 10, 10),)
    model = ConvReluNet().eval()
    prepared = prepare_pt2e(torch.jit.script(model), ConvQuantizer())
    prepared(*example)
    folded = convert_pt2e(prepared)
    unfolded = convert_pt2e(prepared, fold_quantize=False)
    weights = model.conv.weight.numel() + model.conv2.weight.numel()
    biases = model.conv.bias.numel() + model.conv2.bias.numel()
    # int8 weights + fp32 biases; nothing of the fp32 weights is left.
    assert _tensor_bytes(folded) == weights * 1 + biases * 4
    assert _tensor_bytes(unfolded) == weights * 4 + biases * 4
    check_nodes(unfolded, {QD.quantize_per_tensor.default: 6})
    assert torch.equal(folded(*example), unfolded(*example))


def test_repeated_flow_adds_nothing_to_the_scripted_models_compilation_unit():
    # A scripted model's classes live in torch's global compilation unit, which never drops a
    # class or method. prepare_pt2e and convert_pt2e build their results in units of their own
    # (freed with the results), so rounds on one model leave nothing behind there.
    torch.manual_seed(0)
    model = torch.jit.script(ConvReluNet().eval())
    unit = torch.jit._state._python_cu
    example = torch.randn(1, 3, 8, 8)
    before = len(unit.get_functions())
    for _ in range(3):
        prepared = prepare_pt2e(model, ConvQuantizer())
        prepared(example)
        converted = convert_pt2e(prepared)
        assert torch.isfinite(converted(example)).all()
        assert len(unit.get_functions()) == before
