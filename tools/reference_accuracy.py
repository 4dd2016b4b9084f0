"""How far the reference-represented torchvision ResNet-18 is from its q/dq
model, for both reference_numerics, per channel and per tensor, over seeds
(docs/reference_representation.md, "Accuracy, and reference_numerics").

    TORCH_PT2E_LIBRARY=bazel-bin/libtorch_pt2e.so /usr/bin/python3 tools/reference_accuracy.py [--seeds 4]

A step is the network output's quantization scale. "max" is the largest
|reference - q/dq| in steps over a batch of 4 (4000 logits); "> 2 steps" counts
logits beyond the issue's bound; "error" is the largest |output - float model|.
"""

import argparse
import pathlib
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "torch_pt2e_plugin" / "python"))
sys.path.insert(0, str(ROOT / "tests"))
import torch_pt2e  # noqa: E402,F401
from quantizer.parity import calibrate_batch_norm  # noqa: E402
from torch_pt2e.graph_view import GraphModuleView  # noqa: E402
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e  # noqa: E402
from torch_pt2e.quantizer.xnnpack_quantizer import (  # noqa: E402
    XNNPACKQuantizer, get_symmetric_quantization_config)


def output_step(qdq):
    return [n.args[1] for n in GraphModuleView(qdq).graph.nodes
            if n.op == "call_function" and n.target == torch.ops.quantized_decomposed.quantize_per_tensor.default][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    args = parser.parse_args()
    import torchvision

    torch.manual_seed(0)
    model = calibrate_batch_norm(torchvision.models.resnet18(), [torch.randn(4, 3, 64, 64) for _ in range(3)]).eval()
    print("| weights | numerics | seed | max steps | logits > 2 steps | error vs float (reference / q/dq) |")
    print("|---|---|---|---|---|---|")
    for per_channel in (True, False):
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))
            prepared = prepare_pt2e(torch.jit.script(model), quantizer)
            for _ in range(2):
                prepared(torch.randn(2, 3, 64, 64))
            example = torch.randn(4, 3, 64, 64)
            qdq = convert_pt2e(prepared)
            step = output_step(qdq)
            with torch.no_grad():
                expected, qdq_output = model(example), qdq(example)
            for numerics in ("upstream", "qdq"):
                reference = convert_pt2e(prepared, use_reference_representation=True, reference_numerics=numerics)
                with torch.no_grad():
                    output = reference(example)
                steps = (output - qdq_output).abs() / step
                print(f"| {'per channel' if per_channel else 'per tensor'} | {numerics} | {seed} | "
                      f"{steps.max().item():.0f} | {int((steps > 2.5).sum())} | "
                      f"{(output - expected).abs().max().item():.3f} / {(qdq_output - expected).abs().max().item():.3f} |",
                      flush=True)


if __name__ == "__main__":
    main()
