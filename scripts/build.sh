#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh), configures with CMake + Ninja and
# builds with all cores.
#   scripts/build.sh              -> build/
#   scripts/build.sh --sanitize   -> build-asan/ (ASan + UBSan)
# Environment: STRONGROOM_BUILD_DIR builds there instead (scripts/test.sh
# uses it when the checkout is in a directory other users cannot enter).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

usage() { echo "usage: scripts/build.sh [--sanitize]" >&2; }

sanitize=0
for arg in "$@"; do
  case "${arg}" in
    --sanitize) sanitize=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done

bash "${ROOT}/scripts/setup.sh"

if [[ ${sanitize} -eq 1 ]]; then
  BUILD_DIR="${ROOT}/build-asan"
  # -O1 with line tables: what ASan recommends, and it compiles much faster
  # than -O2 with full debug information.
  cmake_args=(-DSTRONGROOM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
              "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1")
else
  BUILD_DIR="${ROOT}/build"
  cmake_args=(-DSTRONGROOM_SANITIZE=OFF)
fi

# A build dir configured earlier with another generator cannot be reused by
# Ninja: drop only its cache, keep everything else.
BUILD_DIR=${STRONGROOM_BUILD_DIR:-${BUILD_DIR}}
cache="${BUILD_DIR}/CMakeCache.txt"
if [[ -f ${cache} ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "${cache}"; then
  echo "build: ${BUILD_DIR} was configured with another generator; reconfiguring with Ninja" >&2
  rm -rf -- "${cache}" "${BUILD_DIR}/CMakeFiles"
fi

cmake -S "${ROOT}" -B "${BUILD_DIR}" -G Ninja "${cmake_args[@]}"
cmake --build "${BUILD_DIR}" -j "$(nproc)"
