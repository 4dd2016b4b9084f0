"""The Python side of the main job (tools/main_job.sh), with Debian's
/usr/bin/python3 (torch 1.13 + python3-torchvision).

  main_job_model.py make DIR   scripted ResNet-18 (random init, seed 0, batch
                               norm statistics from a few random batches in
                               train mode), calibration batches and a test input
  main_job_model.py run DIR    runs the quantized model written by pt2e_quantize
                               on the test input and saves its output, which the
                               C++ deployment program must reproduce
"""

import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = int(os.environ.get("TORCH_PT2E_MAIN_JOB_SIZE", "224"))
CALIBRATION_BATCHES = 4
BATCH = 2


def make(directory: str) -> None:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, SIZE, SIZE))
    scripted = torch.jit.script(model.eval())
    torch.jit.save(scripted, os.path.join(directory, "resnet18.pt"))
    calibration = [(torch.randn(BATCH, 3, SIZE, SIZE),) for _ in range(CALIBRATION_BATCHES)]
    torch.save(calibration, os.path.join(directory, "calibration.pt"))
    torch.save((torch.randn(BATCH, 3, SIZE, SIZE),), os.path.join(directory, "input.pt"))
    print(f"scripted torchvision ResNet-18 (random init, seed 0) -> {directory}/resnet18.pt; "
          f"{CALIBRATION_BATCHES} calibration batches of {BATCH}x3x{SIZE}x{SIZE}")


def run(directory: str) -> None:
    sys.path.insert(0, os.path.join(REPO, "torch_pt2e_plugin", "python"))
    import torch_pt2e  # noqa: F401  (loads the plugin: the quantized model calls its ops)

    model = torch.jit.load(os.path.join(directory, "resnet18_int8.pt"))
    (x,) = torch.load(os.path.join(directory, "input.pt"))
    with torch.no_grad():
        output = model(x)
    torch.save(output, os.path.join(directory, "expected.pt"))
    print(f"Python ran the quantized model: output {tuple(output.shape)} -> {directory}/expected.pt")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "run"):
        sys.exit(__doc__)
    {"make": make, "run": run}[sys.argv[1]](sys.argv[2])
