"""examples/deploy: a model quantized and saved from Python, run by a C++
program linked only against LibTorch and the plugin, gives Python's outputs
bit for bit."""

import subprocess

import torch

from examples_testing import example_binary, quantized_convnet


def test_cpp_outputs_are_bitwise_pythons(tmp_path, library_path):
    deploy = example_binary(library_path, "deploy")
    model = quantized_convnet()
    torch.jit.save(model, str(tmp_path / "q.pt"))
    x = torch.randn(4, 3, 10, 10)
    torch.save((x,), str(tmp_path / "input.pt"))
    expected = model(x)
    torch.save(expected, str(tmp_path / "expected.pt"))
    result = subprocess.run([deploy, tmp_path / "q.pt", tmp_path / "input.pt", tmp_path / "expected.pt"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "C++ outputs match Python's bitwise" in result.stdout

    # one ulp off somewhere: the program notices
    torch.save(expected + torch.where(torch.arange(expected.numel()).view_as(expected) == 5,
                                      expected.abs() * 2**-20, torch.zeros_like(expected)),
               str(tmp_path / "off.pt"))
    result = subprocess.run([deploy, tmp_path / "q.pt", tmp_path / "input.pt", tmp_path / "off.pt"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "DIFFERS from Python's" in result.stdout


def test_cpp_flow_example_quantizes_in_cpp(tmp_path, library_path):
    cpp_flow = example_binary(library_path, "cpp_flow")
    result = subprocess.run([cpp_flow], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    quantized = torch.jit.load(str(tmp_path / "cpp_flow_quantized.pt"))
    kinds = [node.kind() for node in quantized.graph.nodes()]
    assert "quantized_decomposed::quantize_per_tensor" in kinds
    assert "quantized_decomposed::dequantize_per_channel" in kinds
    assert quantized(torch.randn(1, 3, 16, 16)).shape == (1, 10)

    # a model from a file: conv -> relu -> mean -> linear, scripted here
    from examples_testing import ConvNet
    torch.manual_seed(3)
    float_model = torch.jit.script(ConvNet().eval())
    torch.jit.save(float_model, str(tmp_path / "float.pt"))
    result = subprocess.run([cpp_flow, tmp_path / "float.pt", "2,3,12,12", tmp_path / "q.pt"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    x = torch.randn(8, 3, 12, 12)
    expected, actual = float_model(x), torch.jit.load(str(tmp_path / "q.pt"))(x)
    sqnr = 10 * torch.log10(expected.pow(2).sum() / (expected - actual).pow(2).sum())
    assert sqnr > 20, float(sqnr)
