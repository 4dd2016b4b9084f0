"""Where prepare makes very many observers and convert very many per-channel
qparams and folded weights, they go into groups of submodules instead of onto
the top module (passes/attribute_groups.h), which keeps TorchScript's
attribute lookups from growing with the model. TORCH_PT2E_FLAT_ATTRIBUTE_LIMIT=0
gives a small model that layout, so another process runs the whole flow there
(prepare, save, load, calibrate, convert, save, load, run) and its numbers
must be this process's, with the top-module layout, bit for bit."""

import os
import subprocess
import sys

import pytest
import torch

import torch_pt2e


class Block(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear = torch.nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.linear(x))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.blocks = torch.nn.Sequential(*[Block(4) for _ in range(5)])

    def forward(self, x):
        y = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.blocks(y)


# The flow both processes run; {qat} and {paths} are filled in.
FLOW = """
import sys
sys.path.insert(0, {package!r})
import torch
import torch_pt2e
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e, prepare_qat_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

qat = {qat}
model = torch.jit.load({model!r})
batches = torch.load({batches!r})
quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_qat=qat))
prepared = (prepare_qat_pt2e if qat else prepare_pt2e)(model, quantizer)
torch.jit.save(prepared, {prepared_path!r})
prepared = torch.jit.load({prepared_path!r})
if qat:
    prepared.train()
outputs = [prepared(batch) for batch in batches]
if qat:
    prepared.eval()
converted = convert_pt2e(prepared)
torch.jit.save(converted, {converted_path!r})
converted = torch.jit.load({converted_path!r})
with torch.no_grad():
    outputs += [converted(batch) for batch in batches]
torch.save([o.detach() for o in outputs], {outputs_path!r})
"""


def run_flow(tmp_path, tag, qat, env=None):
    paths = {name: str(tmp_path / f"{tag}_{name}.pt") for name in ("prepared_path", "converted_path", "outputs_path")}
    script = FLOW.format(package=os.path.dirname(torch_pt2e.__path__[0]), qat=qat,
                         model=str(tmp_path / "model.pt"), batches=str(tmp_path / "batches.pt"), **paths)
    if env is None:
        exec(compile(script, f"<flow {tag}>", "exec"), {})
    else:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
    return paths


@pytest.mark.parametrize("qat", [False, True], ids=["ptq", "qat"])
def test_grouped_layout_gives_the_flat_layouts_numbers(tmp_path, library_path, qat):
    torch.manual_seed(0)
    net = Net()
    torch.jit.save(torch.jit.script(net.train() if qat else net.eval()), str(tmp_path / "model.pt"))
    torch.save([torch.randn(2, 3, 8, 8) for _ in range(3)], str(tmp_path / "batches.pt"))

    flat = run_flow(tmp_path, "flat", qat)
    grouped = run_flow(tmp_path, "grouped", qat, env={"TORCH_PT2E_LIBRARY": library_path, "PATH": "/usr/bin:/bin",
                                                       "TORCH_PT2E_FLAT_ATTRIBUTE_LIMIT": "0"})

    flat_outputs = torch.load(flat["outputs_path"])
    grouped_outputs = torch.load(grouped["outputs_path"])
    assert len(flat_outputs) == len(grouped_outputs) == 6
    for expected, got in zip(flat_outputs, grouped_outputs):
        assert torch.equal(expected, got)

    # The layouts are what each process was asked for.
    flat_prepared = torch.jit.load(flat["prepared_path"])
    grouped_prepared = torch.jit.load(grouped["prepared_path"])
    assert hasattr(flat_prepared, "activation_post_process_0")
    assert not hasattr(flat_prepared, "activation_post_process_groups")
    assert not hasattr(grouped_prepared, "activation_post_process_0")
    groups = grouped_prepared.activation_post_process_groups
    observers = [name for group_name, group in groups.named_children() for name, _ in group.named_children()]
    flat_observers = [name for name, _ in flat_prepared.named_children() if name.startswith("activation_post_process_")]
    assert sorted(observers) == sorted(flat_observers)

    flat_converted = torch.jit.load(flat["converted_path"])
    grouped_converted = torch.jit.load(grouped["converted_path"])
    assert hasattr(grouped_converted, "_frozen_param_groups") and hasattr(grouped_converted, "_qparams_groups")
    assert not hasattr(grouped_converted, "activation_post_process_groups")
    assert hasattr(flat_converted, "_frozen_param0") and not hasattr(flat_converted, "_frozen_param_groups")
    kinds = lambda m: sorted(n.kind() for n in m.graph.nodes() if n.kind().startswith("quantized_decomposed::"))
    assert kinds(grouped_converted) == kinds(flat_converted)
    # Same parameter bytes: the grouped layout adds modules, not tensors.
    size = lambda m: sum(t.numel() * t.element_size() for t in list(m.parameters()) + list(m.buffers()))
    assert size(grouped_converted) == size(flat_converted)
