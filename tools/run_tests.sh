#!/usr/bin/env bash
# Every test of the project, from a fresh Debian bookworm machine:
#   1. apt packages (tools/install_deps.sh)
#   2. Bazel: build libtorch_pt2e.so and run the GoogleTest binaries (torch 1.13)
#   3. pytest with Debian's /usr/bin/python3 and torch 1.13 (also runs the
#      pt2e_quantize program, the C++ examples, and examples/bazel_workspace
#      built by its own Bazel as a workspace that uses this one)
#   4. the CUDA kernels compile (nvcc, sm_90; no GPU needed, nothing run:
#      tools/gpu_check.sh runs them on a GPU machine)
#   5. the trixie root with torch 2.6: CMake build, GoogleTest, pytest,
#      including parity with upstream's ops and coexistence with them
# Extra arguments are passed to pytest (e.g. -k per_tensor).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { echo; echo "=== $* ==="; }

step "dependencies"
tools/install_deps.sh

step "bazel build + GoogleTest (LibTorch $(dpkg-query -W -f='${Version}' libtorch-dev))"
bazel build //:torch_pt2e //:pt2e_quantize //examples/... //tests/...
bazel test //tests/...

step "pytest (torch 1.13, /usr/bin/python3)"
TORCH_PT2E_LIBRARY="$PWD/bazel-bin/libtorch_pt2e.so" /usr/bin/python3 -m pytest -q -rs tests "$@"

step "CUDA kernels compile for sm_90 (tools/check_cuda_compiles.sh)"
tools/check_cuda_compiles.sh

step "trixie root (torch 2.6): CMake build, GoogleTest, pytest"
tools/trixie_root.sh run tools/trixie_tests.sh "$@"

echo
echo "All tests passed."
