"""examples/bazel_workspace: a workspace of its own that uses this
repository as an external one (local_repository) builds a cc_binary linking
@torch_pt2e_plugin//:torch_pt2e_lib with its own Bazel server, offline,
and runs a model quantized here with Python's outputs."""

import os
import pathlib
import shutil
import subprocess

import pytest
import torch

from examples_testing import quantized_convnet

WORKSPACE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "bazel_workspace"

pytestmark = pytest.mark.skipif(
    shutil.which("bazel") is None or int(torch.__version__.split(".")[0]) != 1,
    reason="needs Bazel and the LibTorch it builds against (Debian bookworm's 1.13, which this Python must "
           "match); runs in the bookworm step of tools/run_tests.sh")


def test_external_workspace_builds_and_runs_a_quantized_model(tmp_path):
    try:
        # The plugin is compiled again in that workspace's own output base; unoptimized objects
        # compile about twice as fast, which keeps the test command within CI's time (the
        # example's own .bazelrc builds optimized, as users deploying it would).
        build = subprocess.run(["bazel", "build", "--compilation_mode=fastbuild", "//:run_quantized"],
                               cwd=WORKSPACE, capture_output=True, text=True, timeout=3000)
        assert build.returncode == 0, build.stderr[-5000:]
        binary = WORKSPACE / "bazel-bin" / "run_quantized"
        model = quantized_convnet()
        torch.jit.save(model, str(tmp_path / "q.pt"))
        result = subprocess.run([str(binary), tmp_path / "q.pt", "1,3,10,10", tmp_path / "out.pt"],
                                capture_output=True, text=True, env={**os.environ})
        assert result.returncode == 0, result.stderr
        assert "external repository" in result.stdout
        assert torch.equal(torch.load(str(tmp_path / "out.pt")), model(torch.ones(1, 3, 10, 10)))
    finally:
        subprocess.run(["bazel", "shutdown"], cwd=WORKSPACE, capture_output=True)
