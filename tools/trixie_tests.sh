#!/usr/bin/env bash
# Runs inside the trixie root (tools/trixie_root.sh run tools/trixie_tests.sh):
# builds the plugin with CMake against torch 2.6 and runs the C++ and Python
# tests there, where upstream's quantized_decomposed ops and PT2E flow exist.
set -euo pipefail
BUILD="${TORCH_PT2E_BUILD_DIR:-/build/torch_pt2e}"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j "$(nproc)" 2>&1 | grep -E "error|Error" || true
cmake --build "$BUILD" -j "$(nproc)" >/dev/null
(cd "$BUILD" && ctest --output-on-failure -j "$(nproc)")
TORCH_PT2E_LIBRARY="$BUILD/libtorch_pt2e.so" python3 -m pytest -q -rs tests "$@"
