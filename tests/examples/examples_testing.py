"""Shared by the example tests: a small model quantized from Python, and where
the example binaries are (Bazel: bazel-bin/examples/<name>/<name> next to
bazel-bin/libtorch_pt2e.so; CMake: <build>/<name> next to the library)."""

import pathlib

import pytest
import torch

from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config


def example_binary(library_path: str, name: str) -> str:
    library_dir = pathlib.Path(library_path).parent
    for candidate in (library_dir / "examples" / name / name, library_dir / name):
        if candidate.exists():
            return str(candidate)
    pytest.skip(f"needs the {name} example built next to the plugin library (bazel build //examples/{name}, "
                "part of tools/run_tests.sh; or the CMake build)")


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean([2, 3]))


def quantized_convnet() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.jit.script(ConvNet().eval()), quantizer)
    for _ in range(3):
        prepared(torch.randn(2, 3, 10, 10))
    return convert_pt2e(prepared)
