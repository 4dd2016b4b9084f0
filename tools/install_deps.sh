#!/usr/bin/env bash
# Installs the Debian bookworm packages the build and the tests need (offline
# build: everything comes from apt). Does nothing when they are installed.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap bazel-rules-java g++ cmake make
  libtorch-dev python3-torch python3-torchvision python3-pytest python3-numpy
  libgtest-dev nlohmann-json3-dev libcli11-dev
  debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "[install_deps] apt-get install ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
