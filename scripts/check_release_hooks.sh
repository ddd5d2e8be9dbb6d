#!/usr/bin/env bash
# Proves that a release build has no test hooks (CMakeLists.txt: only
# STRONGROOM_TESTING=ON defines STRONGROOM_TEST_HOOKS, which compiles in the
# `test.clock` control command of fs/policy_commands.cc).
#
# Configures build-release/ (Release, -DSTRONGROOM_TESTING=OFF), builds only
# the `strongroom` target, then mounts a throw-away vault with the release
# binary and with the test build's binary, sends {"cmd":"test.clock",...} and
# {"cmd":"test.fail-point",...} as root to each daemon's control socket, and
# requires the release daemon to answer "unknown command ..." to both and the
# test daemon to accept them (so
# the check tells the two builds apart, rather than passing on a socket that
# answers nothing).
#
#   scripts/check_release_hooks.sh [TEST_BINARY]
#     TEST_BINARY  a test build's strongroom (default build/tools/strongroom)
# Environment: STRONGROOM_RELEASE_BUILD_DIR (default build-release).
# Needs root, /dev/fuse, fusermount3 and python3 (scripts/setup.sh installs
# them). Without /dev/fuse it skips (exit 0) unless CI=true.
# Prints one line per check; exits 1 if any check failed. Everything it
# mounts or starts is unmounted and stopped on exit, whatever happens.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
RELEASE_DIR="${STRONGROOM_RELEASE_BUILD_DIR:-${ROOT}/build-release}"
TEST_BIN="${1:-${ROOT}/build/tools/strongroom}"
RELEASE_BIN="${RELEASE_DIR}/tools/strongroom"

failures=0
pass() { echo "check_release_hooks: PASS: $*"; }
fail() { echo "check_release_hooks: FAIL: $*"; failures=$((failures + 1)); }
die() { echo "check_release_hooks: FAIL: $*"; exit 1; }

if [[ ${EUID} -ne 0 ]]; then
  die "must run as root (it mounts vaults and talks to their control sockets as root)"
fi
if [[ ! -c /dev/fuse ]]; then
  [[ ${CI:-} == true ]] && die "/dev/fuse is missing"
  echo "check_release_hooks: SKIP: /dev/fuse is missing"
  exit 0
fi
for tool in python3 fusermount3 sha256sum; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} is not installed (scripts/setup.sh)"
done
[[ -x ${TEST_BIN} ]] || die "test build binary ${TEST_BIN} not found (build it first: scripts/build.sh)"

# --- the release build ------------------------------------------------------

# A build dir configured earlier with another generator cannot be reused by
# Ninja: drop only its cache (as scripts/build.sh does).
cache="${RELEASE_DIR}/CMakeCache.txt"
if [[ -f ${cache} ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "${cache}"; then
  rm -rf -- "${cache}" "${RELEASE_DIR}/CMakeFiles"
fi
build_log=$(mktemp "${TMPDIR:-/tmp}/strongroom-release-build.XXXXXX")
# -O1: the check is about what is compiled in, not how fast it runs, and
# CI's time is better spent elsewhere.
if ! { cmake -S "${ROOT}" -B "${RELEASE_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTRONGROOM_TESTING=OFF \
         -DSTRONGROOM_SANITIZE=OFF "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O1 -DNDEBUG" \
       && cmake --build "${RELEASE_DIR}" --target strongroom -j "$(nproc)"; } >"${build_log}" 2>&1; then
  tail -n 30 -- "${build_log}" >&2
  rm -f -- "${build_log}"
  die "the release build (${RELEASE_DIR}) failed"
fi
rm -f -- "${build_log}"
pass "release build ${RELEASE_DIR} (Release, STRONGROOM_TESTING=OFF) built the strongroom target"

if grep -q '^STRONGROOM_TESTING:BOOL=OFF$' "${cache}" && [[ ! -d ${RELEASE_DIR}/tests ]]; then
  pass "release build is configured without the test suite"
else
  fail "release build ${RELEASE_DIR} has STRONGROOM_TESTING on or a tests/ directory"
fi

# The command and failure point names are string literals that exist only
# under the hook.
for hook in test.clock test.fail-point destroy.overwrite STRONGROOM_TEST_REKEY_KILL; do
  if grep -qaF "${hook}" "${RELEASE_BIN}"; then
    fail "release binary ${RELEASE_BIN} contains the string ${hook}"
  else
    pass "release binary contains no ${hook} string"
  fi
  if grep -qaF "${hook}" "${TEST_BIN}"; then
    pass "test binary ${TEST_BIN} contains the ${hook} string"
  else
    fail "test binary ${TEST_BIN} does not contain ${hook} (is it a test build?)"
  fi
done

# --- mounted checks ---------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-release-check.XXXXXX")
chmod 0755 "${WORK}"
printf 'release hooks check passphrase\n' >"${WORK}/passfile"
chmod 0600 "${WORK}/passfile"

daemon_pids=()
mountpoints=()

cleanup() {
  local mnt pid
  for mnt in "${mountpoints[@]}"; do
    if grep -qF " ${mnt} " /proc/mounts; then
      fusermount3 -u -- "${mnt}" 2>/dev/null || fusermount3 -u -z -- "${mnt}" 2>/dev/null || umount -l -- "${mnt}" \
        2>/dev/null || true
    fi
  done
  for pid in "${daemon_pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
      kill -TERM "${pid}" 2>/dev/null || true
      sleep 1
      kill -KILL "${pid}" 2>/dev/null || true
    fi
    wait "${pid}" 2>/dev/null || true
  done
  for mnt in "${mountpoints[@]}"; do
    grep -qF " ${mnt} " /proc/mounts && return 0  # never remove a tree that is still mounted
  done
  rm -rf --one-file-system -- "${WORK}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Drops a reaped daemon from the list cleanup() stops (its pid may be reused).
forget_pid() {
  local p kept=()
  for p in "${daemon_pids[@]}"; do
    [[ ${p} == "$1" ]] || kept+=("${p}")
  done
  daemon_pids=("${kept[@]}")
}

# Sends one JSON request line to a control socket as this (root) process and
# prints the reply line.
control_request() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
data = b""
while not data.endswith(b"\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
s.close()
sys.stdout.write(data.decode(errors="replace").strip() + "\n")
PY
}

# Classifies a reply to command $2: "unknown" (refused as an unknown
# command), "accepted" (ok: test.clock with the daemon's new time,
# test.fail-point with the point armed), or "other".
classify_reply() {
  python3 - "$1" "$2" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print("other"); sys.exit()
cmd = sys.argv[2]
result = r.get("result") if isinstance(r.get("result"), dict) else {}
if r.get("ok") is False and r.get("error") == "unknown command " + cmd:
    print("unknown")
elif r.get("ok") is True and cmd == "test.clock" and isinstance(result.get("now"), int):
    print("accepted")
elif r.get("ok") is True and cmd == "test.fail-point" and result.get("armed") == "none":
    print("accepted")
else:
    print("other")
PY
}

# probe BINARY LABEL EXPECTED: inits a vault with BINARY, mounts it in the
# foreground (its pid known, so it is always stopped), sends test.clock and
# checks the reply is EXPECTED ("unknown" or "accepted"); then unmounts.
probe() {
  local bin=$1 label=$2 expected=$3
  local vault="${WORK}/${label}-vault" mnt="${WORK}/${label}-mnt" log="${WORK}/${label}.log"
  mkdir "${mnt}"
  mnt=$(realpath -- "${mnt}")
  if ! "${bin}" init "${vault}" --passfile "${WORK}/passfile" --scrypt-logn 10 --admin sr-admin --uid 4200 \
       >"${log}" 2>&1; then
    fail "${label}: strongroom init failed: $(tail -n 1 "${log}")"
    return
  fi
  mountpoints+=("${mnt}")
  "${bin}" mount -f --passfile "${WORK}/passfile" "${vault}" "${mnt}" >>"${log}" 2>&1 &
  local pid=$!
  daemon_pids+=("${pid}")
  local sock
  sock="/run/strongroom/$(printf '%s' "${mnt}" | sha256sum | cut -c1-16).sock"
  local up=0
  for _ in $(seq 100); do
    if grep -qF " ${mnt} " /proc/mounts && [[ -S ${sock} ]]; then
      up=1
      break
    fi
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ${up} -ne 1 ]]; then
    fail "${label}: the vault did not mount within 10 s: $(tail -n 1 "${log}")"
    return
  fi
  local reply verdict cmd request
  for cmd in test.clock test.fail-point; do
    if [[ ${cmd} == test.clock ]]; then
      request='{"cmd":"test.clock","offset":100}'
    else
      request='{"cmd":"test.fail-point","name":"none","after":0}'
    fi
    reply=$(control_request "${sock}" "${request}" 2>&1) || true
    verdict=$(classify_reply "${reply}" "${cmd}")
    if [[ ${verdict} == "${expected}" ]]; then
      if [[ ${expected} == unknown ]]; then
        pass "${label}: ${cmd} refused as an unknown command: ${reply}"
      else
        pass "${label}: ${cmd} accepted: ${reply}"
      fi
    else
      fail "${label}: ${cmd}: expected ${expected}, got: ${reply}"
    fi
  done
  # Keys live in locked memory. Checked on the release daemon: the test
  # build may run under AddressSanitizer, which makes mlock a no-op.
  if [[ ${label} == release ]]; then
    local locked
    locked=$(awk '/^VmLck:/ {print $2}' "/proc/${pid}/status" 2>/dev/null || true)
    if [[ ${locked:-0} -gt 0 ]]; then
      pass "${label}: the daemon holds its keys in locked memory (VmLck ${locked} kB)"
    else
      fail "${label}: the daemon has no locked memory (VmLck ${locked:-unknown} kB)"
    fi
  fi
  if ! fusermount3 -u -- "${mnt}"; then
    fail "${label}: fusermount3 -u ${mnt} failed"
    return
  fi
  local rc=0
  wait "${pid}" || rc=$?
  forget_pid "${pid}"
  if [[ ${rc} -eq 0 ]]; then
    pass "${label}: unmounted, daemon exited 0"
  else
    fail "${label}: the daemon exited with ${rc} after unmounting: $(tail -n 1 "${log}")"
  fi
}

probe "${RELEASE_BIN}" release unknown
probe "${TEST_BIN}" test accepted

if [[ ${failures} -ne 0 ]]; then
  echo "check_release_hooks: ${failures} check(s) failed"
  exit 1
fi
echo "check_release_hooks: the release build has no test hooks"
