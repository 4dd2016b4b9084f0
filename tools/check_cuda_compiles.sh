#!/usr/bin/env bash
# Compiles every kernels/cuda/*.cu with nvcc, host and device code (sm_90, the
# H100/H200), to object files, without a GPU: the CI check that the CUDA
# kernels build. It compiles against Debian's CPU-only LibTorch headers (the
# LibTorch of the rest of the test run), plus a build-only stand-in for the one
# generated header they lack (tools/cuda_compile_check/, see the file there).
# Nothing is linked or run; tools/gpu_check.sh does that on a GPU machine.
#
#   tools/check_cuda_compiles.sh [--per-file] [file.cu ...]
#                                      default: every kernels/cuda/*.cu
#
# By default the files are compiled as $(nproc) batches, each one translation
# unit that #includes its files: nvcc spends over a minute per translation
# unit on LibTorch's headers alone (cudafe++, cicc and the host compiler each
# read ATen.h), so one unit per file took 8-10 minutes of CI's 2 cores where the
# batches take 2-3. This needs every file's internal names to be unique across
# kernels/cuda/ (they are: shared helpers live in headers there). --per-file
# compiles each file as its own unit, as the real builds do, which also shows
# a file that leans on another's #includes.
#
# nvcc is looked for in $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin and
# PATH. Without one the check is skipped with a message (exit 0), unless
# TORCH_PT2E_REQUIRE_NVCC=1, which makes that an error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_nvcc() {
  local dir
  for dir in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    if [ -n "$dir" ] && [ -x "$dir/bin/nvcc" ]; then
      echo "$dir/bin/nvcc"
      return 0
    fi
  done
  command -v nvcc 2>/dev/null
}

NVCC="$(find_nvcc || true)"
if [ -z "$NVCC" ]; then
  msg="no nvcc found (looked in \$CUDA_HOME/bin, \$CUDA_PATH/bin, /usr/local/cuda/bin and PATH)"
  if [ "${TORCH_PT2E_REQUIRE_NVCC:-0}" = "1" ]; then
    echo "[check_cuda_compiles] ERROR: $msg" >&2
    exit 1
  fi
  echo "[check_cuda_compiles] SKIPPED: $msg; install the CUDA toolkit to run this check"
  exit 0
fi

TORCH_INCLUDE="${TORCH_PT2E_TORCH_INCLUDE:-/usr/include}"
if [ ! -f "$TORCH_INCLUDE/ATen/ATen.h" ]; then
  echo "[check_cuda_compiles] ERROR: LibTorch headers not found in $TORCH_INCLUDE (apt-get install libtorch-dev)" >&2
  exit 1
fi

PER_FILE=0
if [ "${1:-}" = "--per-file" ]; then
  PER_FILE=1
  shift
fi
if [ $# -gt 0 ]; then
  SOURCES=("$@")
else
  SOURCES=(kernels/cuda/*.cu)
fi

OUT_DIR="$(mktemp -d)"
trap 'rm -rf "$OUT_DIR"' EXIT

jobs="$(nproc)"
if [ "$PER_FILE" = 1 ] || [ "${#SOURCES[@]}" -le 1 ]; then
  UNITS=("${SOURCES[@]}")
else
  # Batch b gets files b, b+jobs, b+2*jobs, ... (balanced by count).
  UNITS=()
  for ((b = 0; b < jobs && b < ${#SOURCES[@]}; b++)); do
    unit="$OUT_DIR/batch$b.cu"
    : >"$unit"
    for ((i = b; i < ${#SOURCES[@]}; i += jobs)); do
      echo "#include \"$PWD/${SOURCES[$i]}\"" >>"$unit"
    done
    UNITS+=("$unit")
  done
fi
echo "[check_cuda_compiles] $("$NVCC" --version | tail -1), sm_90, ${#SOURCES[@]} files in ${#UNITS[@]} translation units, LibTorch headers in $TORCH_INCLUDE"

# The flags of the real builds (CMakeLists.txt, third_party/cuda): no fused
# multiply-add, C++17, the C++ ABI of Debian's LibTorch.
FLAGS=(
  -std=c++17 -O3 --fmad=false --expt-relaxed-constexpr --resource-usage
  -gencode arch=compute_90,code=sm_90
  -Xcompiler -fPIC -Xcompiler -Wall -Xcompiler -Wno-unused-parameter
  -D_GLIBCXX_USE_CXX11_ABI=1 -DTORCH_PT2E_WITH_CUDA=1
  -I. -Itools/cuda_compile_check -isystem "$TORCH_INCLUDE/torch/csrc/api/include"
)
# (/usr/include is searched anyway; naming it again would break #include_next.)
[ "$TORCH_INCLUDE" = /usr/include ] || FLAGS+=(-isystem "$TORCH_INCLUDE")

compile() {
  local source="$1" start label="$1"
  start=$(date +%s)
  # A batch is named by the files it includes.
  case "$source" in "$OUT_DIR"/*) label="$(sed 's|.*"'"$PWD"'/\(.*\)"|\1|' "$source" | tr '\n' ' ')" ;; esac
  local object="$OUT_DIR/$(basename "$source" .cu).o"
  if "$NVCC" "${FLAGS[@]}" -c "$source" -o "$object" >"$object.log" 2>&1; then
    # ptxas reports each kernel it compiled to sm_90 machine code.
    local kernels
    kernels=$(grep -c "Compiling entry function .* for 'sm_90'" "$object.log" || true)
    echo "[check_cuda_compiles] ok   $label: $kernels kernels compiled for sm_90 ($(( $(date +%s) - start )) s)"
    grep -i "warning" "$object.log" | sed 's/^/    /' || true
  else
    echo "[check_cuda_compiles] FAIL $label"
    sed 's/^/    /' "$object.log" | head -60
    return 1
  fi
}
status=0
running=0
pids=()
for source in "${UNITS[@]}"; do
  compile "$source" &
  pids+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
    running=$((running - 1))
  fi
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done

if [ "$status" -ne 0 ]; then
  echo "[check_cuda_compiles] FAILED" >&2
  exit 1
fi
echo "[check_cuda_compiles] all ${#SOURCES[@]} files compiled for sm_90"
