#!/usr/bin/env bash
# Packs the build dependencies that the GPU machine's image lacks into one
# folder, from this machine's Debian packages, so tools/gpu_check.sh can build
# there with no network: nlohmann-json3-dev (headers and CMake config),
# libcli11-dev (headers) and googletest (its source; gpu_check.sh builds it
# with the GPU machine's compiler, so its C++ ABI matches the torch wheel's).
#
#   tools/gpu_deps.sh [DIR]          default DIR: .gpudeps (git-ignored)
#
# Then on the GPU machine: TORCH_PT2E_GPU_DEPS=DIR tools/gpu_check.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="${1:-.gpudeps}"
for pkg in nlohmann-json3-dev libcli11-dev googletest; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { echo "missing Debian package $pkg (apt-get install $pkg)" >&2; exit 1; }
done
rm -rf "$DIR"
mkdir -p "$DIR/include" "$DIR/share/cmake"
cp -r /usr/include/nlohmann /usr/include/CLI "$DIR/include/"
# The config computes its prefix from its own path (three folders up).
cp -r /usr/share/cmake/nlohmann_json "$DIR/share/cmake/"
cp -r /usr/src/googletest "$DIR/googletest-src"
du -sh "$DIR"
