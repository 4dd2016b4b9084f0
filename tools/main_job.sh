#!/usr/bin/env bash
# The main job (README): builds the plugin and runs the demonstration.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tools/install_deps.sh
bazel build //:torch_pt2e
TORCH_PT2E_LIBRARY="$PWD/bazel-bin/libtorch_pt2e.so" /usr/bin/python3 tools/demo_ops.py
