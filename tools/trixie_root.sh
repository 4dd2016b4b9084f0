#!/usr/bin/env bash
# A Debian trixie root with torch 2.6 (Debian's python3-torch / libtorch-dev),
# where the plugin is built with CMake and checked against upstream's own
# quantized_decomposed ops and PT2E flow.
#
#   tools/trixie_root.sh ensure          create or update the root (cached)
#   tools/trixie_root.sh run CMD...      run CMD inside it, in this checkout
#
# The root lives in $TORCH_PT2E_TRIXIE_ROOT (default
# /var/cache/torch_pt2e/trixie-root) and is reused while its package list is
# unchanged. Needs root privileges (debootstrap, chroot, mount).
set -euo pipefail

ROOT="${TORCH_PT2E_TRIXIE_ROOT:-/var/cache/torch_pt2e/trixie-root}"
PACKAGES="python3-torch python3-torchvision libtorch-dev g++ cmake make python3-pytest python3-numpy libgtest-dev nlohmann-json3-dev libcli11-dev"
STAMP="$ROOT/.torch_pt2e_packages"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { echo "[trixie-root] $*" >&2; }

ensure_mounts() {
  for d in proc sys dev; do
    mkdir -p "$ROOT/$d"
    mountpoint -q "$ROOT/$d" || mount --bind "/$d" "$ROOT/$d"
  done
}

# True when every package of $PACKAGES is in the stamp (checkouts of
# different branches may list different packages; none undoes another's).
installed_per_stamp() {
  [ -f "$STAMP" ] || return 1
  for p in $PACKAGES; do
    tr ' ' '\n' <"$STAMP" | grep -qxF -- "$p" || return 1
  done
}

ensure() {
  if installed_per_stamp; then
    return 0
  fi
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    log "creating $ROOT with debootstrap (about a minute or three)"
    mkdir -p "$(dirname "$ROOT")"
    debootstrap --variant=minbase trixie "$ROOT" >"$ROOT.debootstrap.log" 2>&1 || {
      tail -20 "$ROOT.debootstrap.log" >&2
      exit 1
    }
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  ensure_mounts
  log "installing $PACKAGES"
  chroot "$ROOT" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES" >"$ROOT.apt.log" 2>&1 || {
    tail -20 "$ROOT.apt.log" >&2
    exit 1
  }
  echo $( (cat "$STAMP" 2>/dev/null || true; echo "$PACKAGES") | tr ' ' '\n' | sort -u) >"$STAMP"
}

run() {
  ensure
  ensure_mounts
  # Each run binds this checkout at its own mount point inside the root
  # (/checkouts/<hash of its path>), so several checkouts (CI, worktrees) can
  # use the root at once.
  target="/checkouts/$(echo "$REPO" | md5sum | cut -c1-12)"
  mkdir -p "$ROOT$target"
  mountpoint -q "$ROOT$target" || mount --bind "$REPO" "$ROOT$target"
  trap 'umount "$ROOT$target" 2>/dev/null || true' EXIT
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    TORCH_PT2E_REPO_IN_ROOT="$target" TORCH_PT2E_BUILD_DIR="/build$target" \
    /bin/bash -c "cd '$target' && $*"
}

case "${1:-}" in
  ensure) ensure ;;
  run)
    shift
    run "$@"
    ;;
  *)
    echo "usage: $0 ensure | run CMD..." >&2
    exit 2
    ;;
esac
