#!/usr/bin/env bash
# Builds the plugin with CMake inside the trixie root (torch 2.6, where
# upstream's quantized_decomposed Python ops exist) and runs
# tools/bench_ops.py there. Extra arguments go to bench_ops.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
args=""
if [ $# -gt 0 ]; then args=$(printf ' %q' "$@"); fi
tools/trixie_root.sh run "cmake -S . -B \"\$TORCH_PT2E_BUILD_DIR\" -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1 && \
  cmake --build \"\$TORCH_PT2E_BUILD_DIR\" -j \"\$(nproc)\" --target torch_pt2e >/dev/null && \
  TORCH_PT2E_LIBRARY=\"\$TORCH_PT2E_BUILD_DIR/libtorch_pt2e.so\" python3 tools/bench_ops.py${args}"
