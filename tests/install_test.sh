#!/bin/sh
# `cmake --install` into a temporary prefix puts everything a server needs in
# place: the binary, the mount(8) helper, the systemd unit, the man pages.
# The unit must pass `systemd-analyze verify` with no message at all, and the
# man pages must format without a warning. A missing systemd-analyze or
# groff skips that check (with a message); CI has both.
#   tests/install_test.sh BUILD_DIR
set -eu

build=$1
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }
note() { echo "install_test: $*"; }
# A missing tool is a skip by hand, and a failure in CI (scripts/setup.sh
# installs groff-base, systemd and man-db).
skip() { [ "${CI:-}" = true ] && fail "$* (CI must run every check)"; note "SKIP $*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-install.XXXXXX")
trap 'rm -rf -- "${tmp}"' EXIT
prefix=${tmp}/prefix

cmake --install "${build}" --prefix "${prefix}" >"${tmp}/install.log" 2>&1 \
  || { cat "${tmp}/install.log" >&2; fail "cmake --install failed"; }

bin=${prefix}/bin/strongroom
helper=${prefix}/sbin/mount.strongroom
unit=${prefix}/lib/systemd/system/strongroom@.service
man1=${prefix}/share/man/man1/strongroom.1
man8=${prefix}/share/man/man8/mount.strongroom.8

[ -x "${bin}" ] || fail "${bin} is missing or not executable"
[ -L "${helper}" ] || fail "${helper} is not a symlink"
[ "$(readlink "${helper}")" = "../bin/strongroom" ] || fail "${helper} points to $(readlink "${helper}")"
[ "$(readlink -f "${helper}")" = "$(readlink -f "${bin}")" ] || fail "${helper} does not reach ${bin}"
[ -f "${unit}" ] || fail "${unit} is missing"
grep -qx "ExecStart=${bin} mount --foreground \$OPTIONS \${VAULT} \${MOUNTPOINT}" "${unit}" \
  || fail "the unit's ExecStart does not name ${bin}: $(grep ExecStart= "${unit}")"
grep -q '@bindir@' "${unit}" && fail "the unit still has @bindir@"
for f in "${man1}" "${man8}" "${prefix}/share/doc/strongroom/examples/example.conf"; do
  [ -f "${f}" ] || fail "${f} is missing"
done
# The helper answers as mount.strongroom (a usage error, without mounting).
set +e
out=$("${helper}" 2>&1)
rc=$?
set -e
[ ${rc} -eq 2 ] || fail "mount.strongroom without arguments exited ${rc}: ${out}"
case ${out} in "mount.strongroom: usage: "*) ;; *) fail "mount.strongroom said: ${out}" ;; esac
note "installed: bin/strongroom, sbin/mount.strongroom, lib/systemd/system/strongroom@.service, man1, man8"

if command -v groff >/dev/null 2>&1; then
  for page in "${man1}" "${man8}"; do
    warnings=$(groff -man -Tutf8 -ww -z "${page}" 2>&1)
    [ -z "${warnings}" ] || fail "groff warns about ${page}: ${warnings}"
  done
  note "man pages format without warnings"
else
  skip "man page check: groff is not installed"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
  # Documentation=man:... is checked against the installed pages.
  set +e
  out=$(MANPATH="${prefix}/share/man" systemd-analyze verify "${unit}" 2>&1)
  rc=$?
  set -e
  [ ${rc} -eq 0 ] || fail "systemd-analyze verify exited ${rc}: ${out}"
  [ -z "${out}" ] || fail "systemd-analyze verify complains: ${out}"
  # The rules the unit must keep: readiness by sd_notify, a clean stop, and
  # no mount namespace of its own (the mount must be visible to all).
  grep -qx 'Type=notify' "${unit}" || fail "the unit is not Type=notify"
  grep -qx 'KillSignal=SIGTERM' "${unit}" || fail "the unit does not stop with SIGTERM"
  if grep -E '^[[:space:]]*(PrivateTmp|ProtectSystem|ProtectHome|PrivateDevices|PrivateMounts|PrivateUsers|ReadOnlyPaths|ReadWritePaths|InaccessiblePaths|ExecPaths|NoExecPaths|ReadOnlyDirectories|ReadWriteDirectories|InaccessibleDirectories|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectClock|ProtectProc|ProcSubset|MountFlags|RootDirectory|RootImage)[[:space:]]*=' "${unit}"; then
    fail "the unit has an option that gives it its own mount namespace"
  fi
  note "systemd-analyze verify: clean"
else
  skip "unit check: systemd-analyze is not installed"
fi
note "PASS"
