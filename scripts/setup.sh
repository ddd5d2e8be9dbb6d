#!/usr/bin/env bash
# Installs everything Strongroom needs to build, test and demo on Debian 12;
# with --bench, also the benchmark peers (gocryptfs, securefs, bindfs, fio).
# Idempotent: when every package is already installed it does not touch apt
# at all (set STRONGROOM_SETUP_FORCE=1 to run apt anyway).
set -euo pipefail

# Build and test dependencies.
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  fuse3 libfuse3-dev libssl-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev
  libsystemd-dev
)
# Service tests: the unit is checked with systemd-analyze (package systemd;
# it looks its Documentation=man: pages up with man, package man-db), the
# man pages with groff, `mount -a` needs util-linux's mount.
SERVICE_TEST_PACKAGES=(systemd man-db groff-base mount)
# Benchmark peers and tools (scripts/bench.sh, which runs setup.sh --bench).
# python3 parses fio's JSON and talks to control sockets in scripts.
BENCH_PACKAGES=(gocryptfs securefs bindfs fio hyperfine psmisc)
# The Samba re-export test (tests/integration/samba_test.cc, docs/samba.md)
# runs its own smbd on 127.0.0.1 and talks to it with smbclient.
SAMBA_PACKAGES=(samba smbclient)

PACKAGES=("${BUILD_PACKAGES[@]}" python3 "${SERVICE_TEST_PACKAGES[@]}" "${SAMBA_PACKAGES[@]}")
case "${1:-}" in
  --bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--bench]" >&2; exit 2 ;;
esac

log() { printf 'setup: %s\n' "$*" >&2; }

SUDO=()
if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "not root and sudo is not available; cannot install packages"
    exit 1
  fi
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "${pkg}" 2>/dev/null || true)
  # "ii " = desired install, currently installed, no error.
  if [[ ${status} != "ii "* ]]; then
    missing+=("${pkg}")
  fi
done

if [[ ${#missing[@]} -eq 0 && ${STRONGROOM_SETUP_FORCE:-0} != 1 ]]; then
  log "all ${#PACKAGES[@]} packages already installed"
else
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing: ${missing[*]}"
  fi
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y "${PACKAGES[@]}"
  # Installing samba here is for the tests' private smbd on 127.0.0.1: where
  # systemd runs, Debian would also start smbd and nmbd on every interface.
  # Stopped only when this run installed samba (a server already sharing
  # files is left as it is).
  if [[ " ${missing[*]} " == *" samba "* && -d /run/systemd/system ]]; then
    log "samba was installed for the tests only: disabling its smbd and nmbd services"
    "${SUDO[@]}" systemctl disable --now smbd nmbd 2>/dev/null || true
  fi
fi

# FUSE needs the kernel module and /dev/fuse.
if [[ ! -c /dev/fuse ]]; then
  "${SUDO[@]}" modprobe fuse 2>/dev/null || true
fi
if [[ ! -c /dev/fuse ]]; then
  log "warning: /dev/fuse is missing; mounted tests, demo and benchmark will fail"
fi
