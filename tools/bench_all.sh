#!/usr/bin/env bash
# Regenerates every CPU table of BENCHMARKS.md in one go, printing each with
# the command that produced it (paste the output into BENCHMARKS.md):
#   quantized_decomposed kernels and observers (torch 2.6 in the trixie root,
#   side by side with upstream's ops and observers), out_dtype integer kernels
#   and PT2E pass times (torch 1.13, Bazel build).
# Needs what tools/run_tests.sh installs (run it once first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() { echo; echo "\$ $*"; "$@"; }

bazel build //:torch_pt2e
export TORCH_PT2E_LIBRARY="$PWD/bazel-bin/libtorch_pt2e.so"
run tools/bench_ops.sh
run tools/trixie_root.sh run 'TORCH_PT2E_LIBRARY=$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so python3 tools/bench_observers.py'
run /usr/bin/python3 tools/bench_int8.py --threads 1 --clock cpu
run /usr/bin/python3 tools/bench_flow.py --clock cpu
