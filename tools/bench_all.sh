#!/usr/bin/env bash
# Regenerates every CPU table of BENCHMARKS.md in one go, printing each with
# the command that produced it (paste the output into BENCHMARKS.md):
#   quantized_decomposed kernels, observers, and model-level fidelity and pass
#   times of the PT2E flow (torch 2.6 in the trixie root, side by side with
#   upstream's ops, observers and PT2E flow), out_dtype integer kernels and
#   PT2E pass times against quantize_jit, the stage times of pt2e_quantize on
#   ResNet-18 (torch 1.13, Bazel build).
# Needs what tools/run_tests.sh installs (run it once first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() { echo; echo "\$ $*"; "$@"; }

bazel build //:torch_pt2e //:pt2e_quantize
export TORCH_PT2E_LIBRARY="$PWD/bazel-bin/libtorch_pt2e.so"
run tools/bench_ops.sh
run tools/trixie_root.sh run 'TORCH_PT2E_LIBRARY=$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so python3 tools/bench_observers.py'
run /usr/bin/python3 tools/bench_observers.py --search-paths --repeat 5 --rounds 3
run tools/trixie_root.sh run 'TORCH_PT2E_LIBRARY=$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so python3 tools/bench_upstream.py'
run /usr/bin/python3 tools/bench_int8.py --threads 1 --clock cpu
run /usr/bin/python3 tools/bench_flow.py --clock cpu
main_job="$(mktemp -d)"
run /usr/bin/python3 tools/main_job_model.py make "$main_job"
quantize=(bazel-bin/pt2e_quantize "$main_job/resnet18.pt" --calibration "$main_job/calibration.pt"
  --output "$main_job/resnet18_int8.pt")
echo; echo "\$ ${quantize[*]}"
TIMEFORMAT="process CPU time: %U s user, %S s system (%R s wall)"
time "${quantize[@]}"
rm -rf "$main_job"
