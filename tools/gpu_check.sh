#!/usr/bin/env bash
# Every check of the CUDA kernels, on a machine with one NVIDIA GPU (H100/H200),
# given only this repository, a Python with the torch 2.11+cu130 pip wheel,
# pytest, CMake, ninja and a CUDA toolkit (nvcc); no network:
#   1. builds libtorch_pt2e.so with CMake against the wheel's LibTorch, CUDA on (sm_90)
#   2. the GoogleTest binaries, including the *_CUDA tests (which must run, not skip)
#   3. pytest: CUDA vs CPU kernels and vs torch's own quantized_decomposed ops
#      (tests/ops/test_cuda_parity.py, tests/ops/test_cuda_out_dtype.py, must not
#      skip), and the coexistence tests
#      with torch's Python library in both load orders (tests/ops/test_coexistence.py)
#   4. tools/bench_cuda.py: the table for BENCHMARKS.md ("CUDA kernels"), written
#      to $TORCH_PT2E_GPU_BUILD_DIR/cuda_benchmarks.md
#   5. the rest of the GoogleTest binaries (ctest)
# Steps 2-4 come before the full build so that a time-limited GPU lease spends
# itself on the checks only a GPU can do.
#
#   tools/gpu_check.sh              PYTHON=python3.12 tools/gpu_check.sh
#
# Environment: PYTHON (default python3), TORCH_PT2E_GPU_BUILD_DIR (default
# build-gpu), CUDA_HOME / CUDA_PATH (where nvcc is, else /usr/local/cuda or PATH),
# TORCH_PT2E_GPU_DEPS: a folder made by tools/gpu_deps.sh on a Debian machine,
# for GPU machines without nlohmann-json, CLI11 or GoogleTest (googletest is
# built from its source there, with that machine's compiler).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
START=$(date +%s)
step() { echo; echo "[gpu_check +$(( $(date +%s) - START ))s] $*"; }

PYTHON="${PYTHON:-python3}"
BUILD="${TORCH_PT2E_GPU_BUILD_DIR:-build-gpu}"

step "environment"
nvidia-smi -L
"$PYTHON" - <<'EOF'
import torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
try:
    from torch.ao.quantization.fx import _decomposed  # noqa: F401
    print("torch defines quantized_decomposed in Python: the coexistence tests will run")
except ImportError as error:
    print(f"torch has no torch.ao.quantization.fx._decomposed ({error}): coexistence tests skip")
EOF
NVCC=""
for dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
  if [ -n "$dir" ] && [ -x "$dir/bin/nvcc" ]; then NVCC="$dir/bin/nvcc"; break; fi
done
[ -n "$NVCC" ] || NVCC="$(command -v nvcc || true)"
if [ -z "$NVCC" ]; then
  echo "nvcc not found (looked in \$CUDA_HOME/bin, \$CUDA_PATH/bin, /usr/local/cuda/bin, PATH)" >&2
  exit 1
fi
"$NVCC" --version | tail -1
PREFIX="$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
JOBS="$(nproc)"
if [ -n "${TORCH_PT2E_GPU_DEPS:-}" ]; then
  DEPS="$(cd "$TORCH_PT2E_GPU_DEPS" && pwd)"
  if [ -d "$DEPS/googletest-src" ] && [ ! -d "$DEPS/gtest-install" ]; then
    step "building GoogleTest from $DEPS/googletest-src"
    cmake -S "$DEPS/googletest-src" -B "$DEPS/gtest-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_INSTALL_PREFIX="$DEPS/gtest-install" -DBUILD_GMOCK=OFF >/dev/null
    cmake --build "$DEPS/gtest-build" --target install -j "$JOBS" >/dev/null
  fi
  PREFIX="$PREFIX;$DEPS;$DEPS/gtest-install"
  export CPATH="$DEPS/include${CPATH:+:$CPATH}"
fi

step "CMake build with CUDA (sm_90) in $BUILD"
# TORCH_CUDA_ARCH_LIST: torch's CMake config adds its own -gencode flags from it.
TORCH_CUDA_ARCH_LIST=9.0 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DTORCH_PT2E_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DPython_EXECUTABLE="$(command -v "$PYTHON")"
# The library and the CUDA GoogleTest first; everything else after the checks.
cmake --build "$BUILD" -j "$JOBS" --target torch_pt2e kernels_test_cuda_kernels -- -k 0
"$PYTHON" -c "
import sys, torch; sys.path.insert(0, 'torch_pt2e_plugin/python')
torch.ops.load_library('$BUILD/libtorch_pt2e.so')
print('build info:', torch.ops.torch_pt2e.build_info())"

step "the CUDA GoogleTests, which must not skip"
"$BUILD/kernels_test_cuda_kernels" --gtest_filter='*_CUDA' | tee "$BUILD/gtest_cuda.log"
if grep -q "SKIPPED \]" "$BUILD/gtest_cuda.log"; then
  echo "CUDA GoogleTests were skipped on a GPU machine (reasons above)" >&2
  exit 1
fi

step "pytest: CUDA parity (vs CPU kernels and torch's own ops), coexistence in both load orders"
export TORCH_PT2E_LIBRARY="$PWD/$BUILD/libtorch_pt2e.so"
"$PYTHON" -m pytest -q -rs -p no:cacheprovider tests/ops/test_cuda_parity.py tests/ops/test_cuda_out_dtype.py \
  tests/ops/test_coexistence.py \
  | tee "$BUILD/pytest_cuda.log"
if grep -E "^SKIPPED .*test_cuda_(parity|out_dtype)" "$BUILD/pytest_cuda.log" | grep -v "free GPU memory"; then
  echo "CUDA parity tests were skipped on a GPU machine (reasons above)" >&2
  exit 1
fi

step "benchmark (tools/bench_cuda.py)"
"$PYTHON" tools/bench_cuda.py --output "$BUILD/cuda_benchmarks.md"

step "the rest of the build, and every GoogleTest binary (ctest)"
cmake --build "$BUILD" -j "$JOBS"
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS")

step "done: paste $BUILD/cuda_benchmarks.md into BENCHMARKS.md (section \"CUDA kernels\")"
