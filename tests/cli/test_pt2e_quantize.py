"""The pt2e_quantize program (torch_pt2e_plugin/cli/), run as a user runs it:
calibration data from files, directories or random shapes; the report's
numbers checked against the written model and against SQNR computed here;
errors with a message, a non-zero exit and nothing written."""

import json
import math
import os
import pathlib
import pty
import subprocess

import pytest
import torch

CLI_SKIP_REASON = ("needs the pt2e_quantize binary next to the plugin library (bazel build //:pt2e_quantize, "
                   "part of tools/run_tests.sh; the CMake build makes it when CLI11 is installed), "
                   "or its path in PT2E_QUANTIZE")


@pytest.fixture(scope="module")
def cli(library_path):
    path = os.environ.get("PT2E_QUANTIZE") or str(pathlib.Path(library_path).parent / "pt2e_quantize")
    if not os.path.exists(path):
        pytest.skip(CLI_SKIP_REASON)
    return path


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 8, 3)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = self.conv2(y).mean([2, 3])
        return self.fc(y)


@pytest.fixture
def model_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(ConvNet().eval()), str(path))
    return path


def run(cli, *args, stderr=subprocess.PIPE):
    return subprocess.run([cli, *map(str, args)], stdout=subprocess.PIPE, stderr=stderr, text=True)


def sqnr_db(reference, actual):
    signal = sum(float((r.double() ** 2).sum()) for r in reference)
    noise = sum(float(((r.double() - a.double()) ** 2).sum()) for r, a in zip(reference, actual))
    return 10 * math.log10(signal / noise)


def dequantize_scales(module):
    """Constant scales of dequantize_per_tensor nodes, in graph order."""
    scales = []
    for node in module.graph.nodes():
        if node.kind() == "quantized_decomposed::dequantize_per_tensor":
            scale = node.inputsAt(1).node()
            if scale.kind() == "prim::Constant":
                scales.append(scale.f("value"))
    return scales


def test_calibration_file_report_matches_the_written_model(cli, model_path, tmp_path):
    torch.manual_seed(1)
    batches = [(torch.randn(2, 3, 12, 12),) for _ in range(3)]
    torch.save(batches, str(tmp_path / "calib.pt"))
    out, report_path = tmp_path / "q.pt", tmp_path / "report.json"
    result = run(cli, model_path, "--calibration", tmp_path / "calib.pt", "-o", out, "--report-json", report_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress when stderr is not a terminal
    report = json.loads(report_path.read_text())

    ops = report["ops"]
    # conv -> relu is one pattern (its output quantized after the relu); mean shares conv2's output observer
    assert [(op["op"], op["module"]) for op in ops] == [
        ("aten::conv2d", "conv"), ("aten::conv2d", "conv2"), ("aten::mean", ""), ("aten::linear", "fc")]
    assert ops[0]["weight"]["scale"]["channels"] == 8  # per-channel by default
    assert ops[0]["output"] == ops[1]["input"]
    assert ops[2]["input"] == ops[2]["output"] == ops[1]["output"]

    quantized = torch.jit.load(str(out))
    float_model = torch.jit.load(str(model_path))
    graph_scales = set(dequantize_scales(quantized))
    for op in ops:
        assert op["input"]["scale"] in graph_scales
    expected = [float_model(*b) for b in batches]
    actual = [quantized(*b) for b in batches]
    assert report["model_sqnr_db"] == pytest.approx(sqnr_db(expected, actual), rel=1e-9)
    assert all(15 < op["sqnr_db"] < 60 for op in ops)
    assert report["size_bytes"]["quantized"] == out.stat().st_size
    assert report["size_bytes"]["quantized"] < report["size_bytes"]["float"]
    assert set(report["seconds"]) == {"load", "prepare", "calibrate", "convert", "report", "save"}
    assert "whole-model SQNR" in result.stdout and "aten::linear" in result.stdout


def test_directory_of_files_and_single_tensors(cli, model_path, tmp_path):
    data = tmp_path / "calib"
    data.mkdir()
    torch.save(torch.randn(1, 3, 10, 10), str(data / "a.pt"))
    torch.save((torch.randn(1, 3, 10, 10), (torch.randn(2, 3, 10, 10),)), str(data / "b.pt"))
    result = run(cli, model_path, "--calibration", data, "-o", tmp_path / "q.pt", "--report-json",
                 tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["calibration"]["batches"] == 3


def test_random_inputs_per_tensor_skip_module_no_fold(cli, model_path, tmp_path):
    result = run(cli, model_path, "--random-input", "1,3,10,10", "--batches", 2, "--per-tensor", "--skip-module",
                 "conv2", "--no-fold", "-o", tmp_path / "q.pt", "--report-json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    ops = json.loads((tmp_path / "r.json").read_text())["ops"]
    assert "conv2" not in [op["module"] for op in ops]
    assert isinstance(ops[0]["weight"]["scale"], float)  # per-tensor
    kinds = [n.kind() for n in torch.jit.load(str(tmp_path / "q.pt")).graph.nodes()]
    assert "quantized_decomposed::quantize_per_tensor" in kinds
    # not folded: the weights are quantized at run time
    assert kinds.count("quantized_decomposed::quantize_per_tensor") > sum(op["output"] is not None for op in ops)


def test_dynamic_and_reference_representation(cli, model_path, tmp_path):
    result = run(cli, model_path, "--random-input", "1,3,10,10", "--batches", 1, "--dynamic", "-o",
                 tmp_path / "d.pt", "--report-json", tmp_path / "d.json")
    assert result.returncode == 0, result.stderr
    ops = json.loads((tmp_path / "d.json").read_text())["ops"]
    assert ops and all(op["input"] == "dynamic" or op["input"]["scale"] == "dynamic" for op in ops)
    result = run(cli, model_path, "--random-input", "1,3,10,10", "--batches", 1, "--reference-representation",
                 "-o", tmp_path / "r.pt", "--report-json", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["model_sqnr_db"] > 15
    # Per-channel weights (the CLI's default) keep float convs/linears of dequantized weights, as
    # upstream; every quantize/dequantize becomes integer arithmetic.
    graph = str(torch.jit.load(str(tmp_path / "r.pt")).graph)
    assert "quantized_decomposed::" not in graph and "aten::round" in graph


def test_reference_numerics(cli, model_path, tmp_path):
    args = ["--random-input", "1,3,10,10", "--batches", 1, "--per-tensor", "--reference-representation"]
    for numerics in ("upstream", "qdq"):
        result = run(cli, model_path, *args, "--reference-numerics", numerics, "-o", tmp_path / f"{numerics}.pt",
                     "--report-json", tmp_path / f"{numerics}.json")
        assert result.returncode == 0, result.stderr
        assert json.loads((tmp_path / f"{numerics}.json").read_text())["options"]["reference_numerics"] == numerics
    # upstream requantizes with out_dtype_mul (truncation); qdq rounds instead
    assert "torch_pt2e::out_dtype_mul" in str(torch.jit.load(str(tmp_path / "upstream.pt")).graph)
    assert "torch_pt2e::out_dtype_mul" not in str(torch.jit.load(str(tmp_path / "qdq.pt")).graph)
    result = run(cli, model_path, "--random-input", "1,3,10,10", "--reference-numerics", "qdq", "-o",
                 tmp_path / "x.pt")
    assert result.returncode != 0 and "--reference-representation" in result.stderr
    result = run(cli, model_path, *args, "--reference-numerics", "nearest", "-o", tmp_path / "x.pt")
    assert result.returncode != 0 and "nearest" in result.stderr


def test_progress_on_a_terminal(cli, model_path, tmp_path):
    try:
        leader, follower = pty.openpty()
    except OSError as error:
        pytest.skip(f"no pseudo-terminal here ({error}; the trixie root has no /dev/pts); "
                    "runs in the bookworm pytest step of tools/run_tests.sh")
    result = run(cli, model_path, "--random-input", "1,3,10,10", "--batches", 3, "-o", tmp_path / "q.pt",
                 stderr=follower)
    os.close(follower)
    shown = os.read(leader, 65536).decode()
    os.close(leader)
    assert result.returncode == 0
    assert "calibrating: 3/3 batches" in shown and "batches/s" in shown and "left" in shown


def assert_fails(cli, tmp_path, args, message):
    before = set(os.listdir(tmp_path))
    result = run(cli, *args)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert set(os.listdir(tmp_path)) == before  # nothing written, no temporary left


def test_errors(cli, model_path, tmp_path):
    out = tmp_path / "q.pt"
    assert_fails(cli, tmp_path, [tmp_path / "missing.pt", "--random-input", "1,3,10,10", "-o", out],
                 "model file not found: " + str(tmp_path / "missing.pt"))
    (tmp_path / "notes.txt").write_text("not a model")
    assert_fails(cli, tmp_path, [tmp_path / "notes.txt", "--random-input", "1,3,10,10", "-o", out],
                 "is not a TorchScript model")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,4,10,10", "-o", out],
                 "calibration batch 0 does not fit the model's inputs")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,3,10,10", "--random-input", "2", "-o", out],
                 "calibration batch 0 has 2 inputs but the model's forward takes 1")
    torch.save([(torch.randn(1, 3, 10, 10),), (torch.randn(1, 5, 10, 10),)], str(tmp_path / "bad.pt"))
    assert_fails(cli, tmp_path, [model_path, "--calibration", tmp_path / "bad.pt", "-o", out],
                 "calibration batch 1 does not fit the model's inputs")
    torch.save({"x": torch.randn(1), "y": torch.randn(1)}, str(tmp_path / "dict.pt"))
    assert_fails(cli, tmp_path, [model_path, "--calibration", tmp_path / "dict.pt", "-o", out],
                 "must hold a list/tuple of batches or one tensor, got GenericDict")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,x", "-o", out],
                 "--random-input expects positive sizes separated by commas")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,3,10,10", "--dynamic",
                                 "--reference-representation", "-o", out],
                 "--dynamic cannot be combined with --reference-representation")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,3,10,10", "--per-tensor", "--per-channel",
                                 "-o", out], "excludes")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,3,10,10", "--skip-module", "konv", "-o", out],
                 "--skip-module 'konv': the model has no submodule of that name (submodules: conv, conv2, fc)")
    assert_fails(cli, tmp_path, [model_path, "--random-input", "1,3,10,10", "-o", tmp_path / "no" / "q.pt"],
                 "output directory does not exist")


def test_help_says_ptq_only(cli):
    result = run(cli, "--help")
    assert result.returncode == 0
    assert "QAT is not offered" in result.stdout
