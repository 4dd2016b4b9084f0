"""The plugin and torch's own Python quantized_decomposed library in one process,
in every load order, in fresh interpreters (this Python: /usr/bin/python3 with
torch 1.13, or the trixie root's with torch 2.6).

Each scenario must neither raise nor abort; afterwards the plugin's CPU kernels
are the ones the dispatcher runs, torch's Python functions still work, and
both give identical results. On torch 1.x, which has no Python definitions,
the plugin defines every op itself."""

import json
import os
import subprocess
import sys

import pytest

from conftest import upstream_decomposed

# Each op's CPU kernel and the file that registers it.
KERNEL_FILES = {
    "quantize_per_tensor": "per_tensor_kernel.cpp",
    "quantize_per_tensor.tensor": "per_tensor_kernel.cpp",
    "quantize_per_tensor.tensor2": "per_tensor_kernel.cpp",
    "dequantize_per_tensor": "per_tensor_kernel.cpp",
    "dequantize_per_tensor.tensor": "per_tensor_kernel.cpp",
    "dequantize_per_tensor.tensor2": "per_tensor_kernel.cpp",
    "choose_qparams.tensor": "choose_qparams_kernel.cpp",
    "choose_qparams_symmetric.tensor": "choose_qparams_kernel.cpp",
    "choose_qparams_per_token": "choose_qparams_kernel.cpp",
    "_choose_qparams_per_token_asymmetric_impl": "choose_qparams_kernel.cpp",
    "choose_qparams_per_token_asymmetric": "choose_qparams_kernel.cpp",
    "quantize_per_channel": "per_channel_kernel.cpp",
    "dequantize_per_channel": "per_channel_kernel.cpp",
    "quantize_per_token": "per_token_kernel.cpp",
    "dequantize_per_token": "per_token_kernel.cpp",
    "quantize_per_channel_group": "per_channel_group_kernel.cpp",
    "dequantize_per_channel_group": "per_channel_group_kernel.cpp",
    "fake_quant_per_channel": "fake_quant_kernel.cpp",
    "convert_element_type.no_fuse": "convert_element_type_kernel.cpp",
}

# Runs in a fresh interpreter: loads the plugin and upstream's module in the
# order given by argv[1], then reports on stdout as JSON.
SCENARIO = r"""
import json, os, shutil, sys, tempfile
import torch

library = os.environ["TORCH_PT2E_LIBRARY"]
order = sys.argv[1]
names = json.loads(sys.argv[2])


def import_upstream():
    try:
        import torch.ao.quantization.quantize_pt2e  # noqa: F401  (defines quantized_decomposed on torch 2.x)
        from torch.ao.quantization.fx import _decomposed
        return _decomposed
    except ImportError:
        return None


if order == "plugin_first":
    torch.ops.load_library(library)
    up = import_upstream()
elif order == "upstream_first":
    up = import_upstream()
    torch.ops.load_library(library)
elif order == "twice":
    torch.ops.load_library(library)
    up = import_upstream()
    torch.ops.load_library(library)
elif order == "second_copy":
    copy = os.path.join(tempfile.mkdtemp(), "libtorch_pt2e_copy.so")
    shutil.copy(library, copy)
    torch.ops.load_library(library)
    up = import_upstream()
    torch.ops.load_library(copy)
else:
    raise SystemExit("unknown order " + order)

cpu = {}
for name in names:
    dump = torch._C._dispatch_dump("quantized_decomposed::" + name)
    cpu[name] = [line for line in dump.splitlines() if line.startswith("CPU:")]

ops = torch.ops.quantized_decomposed
g = torch.Generator().manual_seed(0)
x = torch.randn(16, 32, generator=g) * 3
scales = torch.rand(16, generator=g) + 0.05
zps = torch.randint(-5, 5, (16,), generator=g)
# (through the dispatcher, upstream's Python function)
pairs = {
    "quantize_per_tensor": (
        lambda: ops.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8),
        lambda: up.quantize_per_tensor(x, 0.05, 3, -128, 127, torch.int8)),
    "quantize_per_channel": (
        lambda: ops.quantize_per_channel(x, scales, zps, 0, -128, 127, torch.int8),
        lambda: up.quantize_per_channel(x, scales, zps, 0, -128, 127, torch.int8)),
    "choose_qparams.tensor": (
        lambda: ops.choose_qparams.tensor(x, -128, 127, 1e-7, torch.int8)[0],
        lambda: up.choose_qparams_tensor(x, -128, 127, 1e-7, torch.int8)[0]),
    "choose_qparams_per_token_asymmetric": (
        lambda: ops.choose_qparams_per_token_asymmetric(x, torch.int8)[0],
        lambda: up.choose_qparams_per_token_asymmetric(x, torch.int8)[0]),
    "quantize_per_token": (
        lambda: ops.quantize_per_token(x, scales.view(16, 1), zps.view(16, 1), -128, 127, torch.int8),
        lambda: up.quantize_per_token(x, scales.view(16, 1), zps.view(16, 1), -128, 127, torch.int8)),
}
same = {}
for name, (ours, theirs) in pairs.items():
    result = ours()
    if up is not None:
        same[name] = bool(torch.equal(result, theirs()))
info = json.loads(torch.ops.torch_pt2e.build_info())
print(json.dumps({"cpu": cpu, "same": same, "upstream": up is not None,
                  "definer": info["quantized_decomposed_definer"]}))
"""


def run_scenario(order, library_path):
    env = dict(os.environ, TORCH_PT2E_LIBRARY=library_path)
    proc = subprocess.run([sys.executable, "-c", SCENARIO, order, json.dumps(sorted(KERNEL_FILES))],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"{order}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["plugin_first", "upstream_first", "twice", "second_copy"])
def test_load_orders_coexist(order, library_path):
    report = run_scenario(order, library_path)
    has_upstream = upstream_decomposed() is not None
    assert report["upstream"] == has_upstream
    for name, kernel_file in KERNEL_FILES.items():
        lines = report["cpu"][name]
        assert len(lines) == 1 and f"kernels/cpu/{kernel_file}" in lines[0], (name, lines)
    if has_upstream:
        assert report["definer"] == "python"
        assert report["same"] and all(report["same"].values()), report["same"]
    else:
        assert report["definer"] == "plugin"
