#!/usr/bin/env bash
# The main job (README): from a fresh Debian bookworm machine, quantizes a
# scripted torchvision ResNet-18 with pt2e_quantize (printing its report), then
# runs the quantized model from a separate C++ program that links only
# LibTorch and the plugin and checks its outputs against Python's.
# Files go to $TORCH_PT2E_MAIN_JOB_DIR (default /tmp/torch_pt2e_main_job).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WORK="${TORCH_PT2E_MAIN_JOB_DIR:-/tmp/torch_pt2e_main_job}"
mkdir -p "$WORK"

step() { echo; echo "=== $* ==="; }

step "dependencies"
tools/install_deps.sh

step "build: libtorch_pt2e.so, pt2e_quantize, examples/deploy"
bazel build //:torch_pt2e //:pt2e_quantize //examples/deploy

step "script ResNet-18 and save calibration data (Python, torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'))"
/usr/bin/python3 tools/main_job_model.py make "$WORK"

step "pt2e_quantize"
bazel-bin/pt2e_quantize "$WORK/resnet18.pt" --calibration "$WORK/calibration.pt" \
  --output "$WORK/resnet18_int8.pt" --report-json "$WORK/report.json"

step "the quantized model in Python"
TORCH_PT2E_LIBRARY="$PWD/bazel-bin/libtorch_pt2e.so" /usr/bin/python3 tools/main_job_model.py run "$WORK"

step "the quantized model in C++ (examples/deploy: LibTorch + libtorch_pt2e.so)"
bazel-bin/examples/deploy/deploy "$WORK/resnet18_int8.pt" "$WORK/input.pt" "$WORK/expected.pt"
