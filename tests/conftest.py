"""Shared pytest setup: puts the Python package on the path and loads the plugin.

The same suite runs twice in tools/run_tests.sh: with Debian bookworm's torch
1.13 (library built by Bazel) and inside the trixie root with torch 2.6
(library built by CMake), where upstream's own quantized_decomposed ops and
PT2E flow exist and the parity tests run against them.
"""

import pathlib
import sys

import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "torch_pt2e_plugin" / "python"))
sys.path.insert(0, str(REPO / "tests"))

import torch_pt2e  # noqa: E402  (loads libtorch_pt2e.so)

TORCH_MAJOR = int(torch.__version__.split(".")[0])


def upstream_decomposed():
    """torch's own Python quantized_decomposed module, or None on torch 1.x."""
    try:
        from torch.ao.quantization.fx import _decomposed
    except ImportError:
        return None
    return _decomposed


UPSTREAM_SKIP_REASON = (
    "needs torch>=2 with torch.ao.quantization.fx._decomposed (upstream's ops); "
    "runs inside the trixie root with torch 2.6 (tools/trixie_root.sh, part of tools/run_tests.sh)"
)
requires_upstream = pytest.mark.skipif(upstream_decomposed() is None, reason=UPSTREAM_SKIP_REASON)

# Where torch 2.x defines quantized_decomposed in Python, its Meta and
# Autograd kernels serve those keys; the plugin's own run where it defines the ops.
PLUGIN_DEFINER_SKIP_REASON = (
    "torch 2.x defines quantized_decomposed in Python, so upstream's Meta/Autograd kernels run here; "
    "the plugin's run with torch 1.13 (pytest in tools/run_tests.sh) and in the GoogleTest binaries"
)
requires_plugin_definer = pytest.mark.skipif(upstream_decomposed() is not None, reason=PLUGIN_DEFINER_SKIP_REASON)

CUDA_SKIP_REASON = "needs a CUDA device and a CUDA build of the plugin (tools/gpu_check.sh on a GPU machine)"
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_SKIP_REASON)


@pytest.fixture(scope="session")
def library_path():
    return torch_pt2e.library_path()
