#!/usr/bin/env bash
# Runs the same workloads on Strongroom, gocryptfs, securefs (lite format) and
# bindfs (plain FUSE passthrough: the ceiling), interleaving the runs, and
# prints per workload and filesystem the median, the spread (min-max) and the
# ratios to gocryptfs and to the best peer (best of gocryptfs and securefs).
# Ratios are oriented so that > 1.00 means "this filesystem is better".
#
# The `policy` comparison runs small-file and metadata workloads on Strongroom
# as a non-root user (uid 4300) with a single grant, with a big policy (10
# users, 3 teams, 200 grants nested 4 levels deep) and with the kernel allowed
# to cache names (the hidden --unsafe-entry-timeout 1), interleaved, and prints
# the ratios big/single and default/cached.
#
# The `audit` comparison (issue 4) builds a second binary with the audit log
# compiled out (-DSTRONGROOM_BENCH_NO_AUDIT=ON, in build-noaudit/, built once
# and reused while up to date) and runs, as root, the same workloads on three
# vaults mounted side by side: `on` (the normal binary), `off` (the audit log
# compiled out) and `powerloss` (the normal binary after `config set
# audit-durability power-loss`), interleaved. It prints opens per second and
# the small-file times, the ratios on/off (target <= 1.15) and powerloss/on,
# and the audit database's record count and bytes per record.
#
# The `view` comparison (issue 5) measures view-only mode: one non-root user
# (uid 4310) with `view` on one folder and `read` on another holding the same
# number of 4 KiB files, and the allow-listed test viewer
# (build/tests/integration/sr-test-viewer, installed root-owned and setgid to
# the viewer group) opening and reading every file of each folder: runs of
# each folder interleaved, and runs with the two folders' files interleaved
# file by file, timing each open. It prints opens per second, the time per
# open and the ratios view/read (target <= 1.10).
#
# usage: scripts/bench.sh [--only FS,FS,...] [--quick] [--runs N]
#   FS: strongroom, gocryptfs, securefs, bindfs, policy, audit, view (default: all seven)
#   --quick: small sizes and short fio runs, for checking that it works
#
# Environment (each overrides the default and --quick):
#   BENCH_SEQ_MB      sequential file size in MiB        (1024; quick 128)
#   BENCH_FILES       number of 4 KiB files               (10000; quick 1000)
#   BENCH_FIO_MB      fio file size in MiB                (256; quick 64)
#   BENCH_FIO_SECS    fio runtime per job in seconds      (15; quick 3)
#   BENCH_FIO_DIRECT  1 = fio with O_DIRECT               (0: buffered I/O)
#   BENCH_RUNS        runs per filesystem                 (3)
#   BENCH_POLICY_FILES  files in the policy comparison    (2000; quick 1000)
#   BENCH_POLICY_ROUNDS rounds of the policy comparison   (5; quick 3)
#   BENCH_AUDIT_FILES   files in the audit comparison     (2000; quick 1000)
#   BENCH_AUDIT_ROUNDS  rounds of the audit comparison    (7; quick 3)
#   BENCH_VIEW_FILES    files per folder in the view comparison (2000; quick 500)
#   BENCH_VIEW_ROUNDS   rounds of the view comparison     (11; quick 3)
#   BENCH_VIEW_PASSES   passes over the files per timed run (3; quick 1)
#   BENCH_DIR         parent of the benchmark's temp dir  (/var/tmp; not tmpfs)
#   BENCH_OUT         where results are saved             (build/bench)
#   STRONGROOM_BIN    strongroom binary                   (build/tools/strongroom)
#   STRONGROOM_NOAUDIT_BIN  audit compiled out (build-noaudit/tools/strongroom,
#                     configured and built by this script unless set)
#   STRONGROOM_TEST_VIEWER  the viewer for the view comparison
#                     (build/tests/integration/sr-test-viewer)
#
# Needs root (drop_caches). Everything it mounts is unmounted on exit, on
# error and on Ctrl-C.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
ALL_FS=(strongroom gocryptfs securefs bindfs)
ALL_TARGETS=("${ALL_FS[@]}" policy audit view)

die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench: %s\n' "$*" >&2; }
usage() { sed -n '/^# usage:/,/^# error and on Ctrl-C/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

# --- arguments ---------------------------------------------------------------
only=""
quick=0
runs_arg=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) [[ $# -ge 2 ]] || { usage; exit 2; }; only=$2; shift ;;
    --only=*) only=${1#--only=} ;;
    --quick) quick=1 ;;
    --runs) [[ $# -ge 2 ]] || { usage; exit 2; }; runs_arg=$2; shift ;;
    --runs=*) runs_arg=${1#--runs=} ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage; exit 2 ;;
  esac
  shift
done

FS_LIST=()
POLICY=0
AUDIT=0
VIEW=0
if [[ -z ${only} ]]; then
  FS_LIST=("${ALL_FS[@]}")
  POLICY=1
  AUDIT=1
  VIEW=1
else
  IFS=',' read -r -a wanted <<<"${only}"
  for w in "${wanted[@]}"; do
    ok=0
    for f in "${ALL_TARGETS[@]}"; do [[ ${w} == "${f}" ]] && ok=1; done
    [[ ${ok} -eq 1 ]] || { echo "bench: unknown name in --only: '${w}' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
    [[ ${w} == policy ]] && POLICY=1
    [[ ${w} == audit ]] && AUDIT=1
    [[ ${w} == view ]] && VIEW=1
  done
  for f in "${ALL_FS[@]}"; do          # keep the canonical order, drop duplicates
    for w in "${wanted[@]}"; do [[ ${w} == "${f}" ]] && { FS_LIST+=("${f}"); break; }; done
  done
fi
[[ ${#FS_LIST[@]} -gt 0 || ${POLICY} -eq 1 || ${AUDIT} -eq 1 || ${VIEW} -eq 1 ]] || { usage; exit 2; }

if [[ ${quick} -eq 1 ]]; then
  d_seq=128 d_files=1000 d_fio_mb=64 d_fio_secs=3 d_pfiles=1000 d_prounds=3 d_afiles=1000 d_arounds=3
  d_vfiles=500 d_vrounds=3 d_vpasses=1
else
  d_seq=1024 d_files=10000 d_fio_mb=256 d_fio_secs=15 d_pfiles=2000 d_prounds=5 d_afiles=2000 d_arounds=7
  d_vfiles=2000 d_vrounds=11 d_vpasses=3
fi
SEQ_MB=${BENCH_SEQ_MB:-${d_seq}}
NFILES=${BENCH_FILES:-${d_files}}
FIO_MB=${BENCH_FIO_MB:-${d_fio_mb}}
FIO_SECS=${BENCH_FIO_SECS:-${d_fio_secs}}
FIO_DIRECT=${BENCH_FIO_DIRECT:-0}
RUNS=${runs_arg:-${BENCH_RUNS:-3}}
PFILES=${BENCH_POLICY_FILES:-${d_pfiles}}
PROUNDS=${BENCH_POLICY_ROUNDS:-${d_prounds}}
AFILES=${BENCH_AUDIT_FILES:-${d_afiles}}
AROUNDS=${BENCH_AUDIT_ROUNDS:-${d_arounds}}
VFILES=${BENCH_VIEW_FILES:-${d_vfiles}}
VROUNDS=${BENCH_VIEW_ROUNDS:-${d_vrounds}}
VPASSES=${BENCH_VIEW_PASSES:-${d_vpasses}}
for v in SEQ_MB NFILES FIO_MB FIO_SECS RUNS PFILES PROUNDS AFILES AROUNDS VFILES VROUNDS VPASSES; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v} must be a positive integer (got '${!v}')"
done
[[ ${FIO_DIRECT} == 0 || ${FIO_DIRECT} == 1 ]] || die "BENCH_FIO_DIRECT must be 0 or 1"
[[ ${RUNS} -ge 3 ]] || log "warning: ${RUNS} run(s): fewer than 3, the spread means little"

# --- prerequisites -----------------------------------------------------------
[[ ${EUID} -eq 0 ]] || die "must run as root (drops the page cache, mounts FUSE as root)"
[[ -w /proc/sys/vm/drop_caches ]] || die "/proc/sys/vm/drop_caches is not writable: cold-cache figures impossible"
[[ -c /dev/fuse ]] || die "/dev/fuse is missing"

bash "${ROOT}/scripts/setup.sh" --bench

SR=""
NEEDS=("${FS_LIST[@]}")
[[ ${POLICY} -eq 1 || ${AUDIT} -eq 1 || ${VIEW} -eq 1 ]] && NEEDS+=(strongroom)
for fs in "${NEEDS[@]}"; do
  case "${fs}" in
    strongroom)
      SR=${STRONGROOM_BIN:-${ROOT}/build/tools/strongroom}
      if [[ ! -x ${SR} && -z ${STRONGROOM_BIN:-} ]]; then
        log "strongroom binary missing at ${SR}; building it with scripts/build.sh"
        bash "${ROOT}/scripts/build.sh" || die "scripts/build.sh failed; cannot benchmark strongroom (exclude it with --only gocryptfs,securefs,bindfs)"
      fi
      [[ -x ${SR} ]] || die "strongroom binary not found at ${SR}; build it with scripts/build.sh, or leave strongroom out with --only gocryptfs,securefs,bindfs"
      SR=$(realpath -- "${SR}")        # commands run as other uids start from /
      ;;
    *) command -v "${fs}" >/dev/null || die "${fs} is not installed (scripts/setup.sh should have installed it)" ;;
  esac
done
for c in fio python3 dd tar fusermount3 mountpoint setpriv xargs; do
  command -v "${c}" >/dev/null || die "${c} is not installed"
done

PARENT=${BENCH_DIR:-/var/tmp}
mkdir -p -- "${PARENT}"
fstype=$(stat -f -c %T -- "${PARENT}")
[[ ${fstype} != tmpfs && ${fstype} != ramfs ]] || die "${PARENT} is ${fstype}; set BENCH_DIR to a directory on a real disk"
need_mb=$(( SEQ_MB + FIO_MB + 3 * NFILES * 8 / 1024 + 3 * AFILES * 8 / 1024 + 512 ))
avail_mb=$(df -P -m -- "${PARENT}" | awk 'NR==2 {print $4}')
[[ ${avail_mb} -ge ${need_mb} ]] || die "${PARENT} has ${avail_mb} MiB free, the benchmark needs about ${need_mb} MiB"

# --- temp dir, cleanup --------------------------------------------------------
BR=$(mktemp -d "${PARENT}/strongroom-bench.XXXXXX")
chmod 0700 "${BR}"
RESULTS="${BR}/results.tsv"     # fs, workload, run, value
FAILURES="${BR}/failures.txt"
DAEMONS="${BR}/daemons.txt"     # every daemon pid seen, for the cleanup
LOGS="${BR}/logs"
mkdir -p "${LOGS}"
: > "${RESULTS}"; : > "${FAILURES}"; : > "${DAEMONS}"

mounts_under() {  # mountpoints under $1, octal escapes decoded
  local src mnt rest
  while read -r src mnt rest; do
    mnt=$(printf '%b' "${mnt}")
    [[ ${mnt} == "$1"/* ]] && echo "${mnt}"
  done < /proc/mounts
}

force_unmount() {  # $1 = mountpoint; strongroom's own umount first for its mounts
  local m=$1
  if [[ ( ${m} == "${BR}/strongroom/"* || ${m} == "${BR}/policy/"* || ${m} == "${BR}/audit/"* || ${m} == "${BR}/view/"* ) && -n ${SR} ]]; then
    timeout 60 "${SR}" umount "${m}" >>"${LOGS}/cleanup.log" 2>&1 && return 0
  fi
  fusermount3 -u -- "${m}" 2>>"${LOGS}/cleanup.log" && return 0
  sleep 1
  fusermount3 -u -- "${m}" 2>>"${LOGS}/cleanup.log" && return 0
  fusermount3 -u -z -- "${m}" 2>>"${LOGS}/cleanup.log" || umount -l -- "${m}" 2>/dev/null || true
}

# The sampler may have been started in a subshell: its pid is kept in a file.
stop_sampler() {
  local pid
  pid=$(cat "${BR}/sampler.pid" 2>/dev/null || true)
  if [[ -n ${pid} ]]; then
    kill "${pid}" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.05; done
    rm -f "${BR}/sampler.pid"
  fi
}

cleanup() {
  local rc=$? m pid left
  trap - EXIT INT TERM
  set +e
  stop_sampler
  while read -r m; do
    [[ -n ${m} ]] || continue
    log "unmounting ${m}"
    force_unmount "${m}"
  done < <(mounts_under "${BR}" | sort -r)
  # Daemons we started that are still alive after their unmount.
  for _ in $(seq 100); do
    left=0
    while read -r pid; do [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null && left=1; done < "${DAEMONS}"
    [[ ${left} -eq 0 ]] && break
    sleep 0.1
  done
  while read -r pid; do
    [[ -n ${pid} ]] && kill -0 "${pid}" 2>/dev/null || continue
    log "daemon pid ${pid} still running after unmount; killing it"
    kill -TERM "${pid}" 2>/dev/null; sleep 1; kill -KILL "${pid}" 2>/dev/null
  done < <(sort -u "${DAEMONS}")
  if [[ -n $(mounts_under "${BR}") ]]; then
    log "ERROR: still mounted under ${BR}:"; mounts_under "${BR}" >&2
    rc=1
  else
    rm -rf --one-file-system -- "${BR}"
  fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# --- the binary with the audit log compiled out (audit comparison) -------------
NOAUDIT=""
if [[ ${AUDIT} -eq 1 ]]; then
  command -v sqlite3 >/dev/null || die "sqlite3 is not installed (scripts/setup.sh should have installed it)"
  if [[ -n ${STRONGROOM_NOAUDIT_BIN:-} ]]; then
    NOAUDIT=${STRONGROOM_NOAUDIT_BIN}
  else
    NOAUDIT_DIR="${ROOT}/build-noaudit"
    NOAUDIT="${NOAUDIT_DIR}/tools/strongroom"
    # Configured once; ninja then rebuilds only what changed (nothing when up to date).
    if ! grep -qs '^STRONGROOM_BENCH_NO_AUDIT:BOOL=ON$' "${NOAUDIT_DIR}/CMakeCache.txt"; then
      log "configuring ${NOAUDIT_DIR} (-DSTRONGROOM_BENCH_NO_AUDIT=ON)"
      cmake -S "${ROOT}" -B "${NOAUDIT_DIR}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DSTRONGROOM_TESTING=OFF -DSTRONGROOM_BENCH_NO_AUDIT=ON >>"${LOGS}/build-noaudit.log" 2>&1 \
        || { tail -n 30 "${LOGS}/build-noaudit.log" >&2; die "cannot configure ${NOAUDIT_DIR}"; }
    fi
    log "building ${NOAUDIT} (audit log compiled out; reused when up to date)"
    ninja -C "${NOAUDIT_DIR}" strongroom >>"${LOGS}/build-noaudit.log" 2>&1 \
      || { tail -n 30 "${LOGS}/build-noaudit.log" >&2; die "cannot build ${NOAUDIT}"; }
  fi
  [[ -x ${NOAUDIT} ]] || die "no binary with the audit log compiled out at ${NOAUDIT}"
  NOAUDIT=$(realpath -- "${NOAUDIT}")
fi

# --- the test viewer (view comparison) ------------------------------------------
TVIEWER=""
if [[ ${VIEW} -eq 1 ]]; then
  TVIEWER=${STRONGROOM_TEST_VIEWER:-$(dirname -- "$(dirname -- "${SR}")")/tests/integration/sr-test-viewer}
  [[ -x ${TVIEWER} ]] || die "the test viewer is missing at ${TVIEWER}; build it with scripts/build.sh (or set STRONGROOM_TEST_VIEWER)"
fi

# --- secrets for the encrypted filesystems ------------------------------------
PASSFILE="${BR}/passphrase"
KEYFILE="${BR}/securefs.key"
( umask 077
  printf 'bench-%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" > "${PASSFILE}"
  head -c 32 /dev/urandom > "${KEYFILE}" )

# --- helpers -----------------------------------------------------------------
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

fuse_holders() {  # pids holding /dev/fuse open
  { find /proc/[0-9]*/fd -maxdepth 1 -lname /dev/fuse -printf '%h\n' 2>/dev/null || true; } \
    | cut -d/ -f3 | sort -u
}

# fs_init FS BACKING
fs_init() {
  case "$1" in
    strongroom) "${SR}" init --passfile "${PASSFILE}" --admin "${ADMIN_NAME}" --uid "${ADMIN_UID}" "$2" ;;
    gocryptfs)  mkdir -p "$2"; gocryptfs -init -q -passfile "${PASSFILE}" "$2" ;;
    securefs)   mkdir -p "$2"; securefs create --keyfile "${KEYFILE}" "$2" </dev/null ;;
    bindfs)     mkdir -p "$2" ;;
  esac
}

# A fresh Strongroom vault grants nobody anything: its first admin (running as
# their own uid) adds root and gives root `manage` on the whole vault, so that
# the workloads can run as root.
ADMIN_NAME=bench-admin
ADMIN_UID=4201
as_uid() {  # as_uid UID CMD...: runs CMD as that uid (and gid), no supplementary groups, from /
  local u=$1; shift
  ( cd / && setpriv --reuid "${u}" --regid "${u}" --clear-groups -- "$@" )
}
sr_bootstrap() {  # sr_bootstrap MNT
  as_uid "${ADMIN_UID}" "${SR}" user add root --uid 0 --mount "$1" \
    && as_uid "${ADMIN_UID}" "${SR}" grant "$1" root manage
}

# fs_mount FS BACKING MNT [EXTRA...]: mounts, waits until ready, sets DAEMON_PID.
# EXTRA: more arguments for strongroom's mount.
DAEMON_PID=""
fs_mount() {
  local fs=$1 back=$2 mnt=$3 before new p cand=()
  shift 3
  before=$(fuse_holders)
  case "${fs}" in
    strongroom) "${SR}" mount --passfile "${PASSFILE}" "$@" "${back}" "${mnt}" ;;
    gocryptfs)  gocryptfs -q -passfile "${PASSFILE}" "${back}" "${mnt}" ;;
    securefs)   securefs mount -b --keyfile "${KEYFILE}" "${back}" "${mnt}" </dev/null ;;
    bindfs)     bindfs "${back}" "${mnt}" ;;
  esac >>"${LOGS}/${fs}.log" 2>&1 || { tail -n 20 "${LOGS}/${fs}.log" >&2; return 1; }
  for _ in $(seq 300); do mountpoint -q -- "${mnt}" && break; sleep 0.1; done
  mountpoint -q -- "${mnt}" || { echo "${fs}: ${mnt} did not become a mountpoint" >&2; return 1; }
  new=$(comm -13 <(echo "${before}") <(fuse_holders))
  for p in ${new}; do
    tr '\0' ' ' < "/proc/${p}/cmdline" 2>/dev/null | grep -qF -- "${mnt}" && cand+=("${p}")
  done
  if [[ ${#cand[@]} -eq 0 ]]; then
    read -r -a cand <<<"$(echo ${new})"
  fi
  [[ ${#cand[@]} -eq 1 ]] || { echo "${fs}: cannot identify the daemon (candidates: ${new:-none})" >&2; return 1; }
  DAEMON_PID=${cand[0]}
  echo "${DAEMON_PID}" >> "${DAEMONS}"
  echo "${DAEMON_PID}" > "${BR}/current.pid"
}

# fs_umount FS MNT: unmounts and waits for the daemon to exit.
fs_umount() {
  local fs=$1 mnt=$2
  sample_hwm
  case "${fs}" in
    strongroom) "${SR}" umount "${mnt}" ;;
    *)          fusermount3 -u -- "${mnt}" ;;
  esac >>"${LOGS}/${fs}.log" 2>&1 || { tail -n 20 "${LOGS}/${fs}.log" >&2; return 1; }
  for _ in $(seq 300); do kill -0 "${DAEMON_PID}" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "${DAEMON_PID}" 2>/dev/null || { echo "${fs}: daemon ${DAEMON_PID} did not exit after unmount" >&2; return 1; }
  ! mountpoint -q -- "${mnt}" || { echo "${fs}: ${mnt} still mounted" >&2; return 1; }
}

fs_remount() {
  fs_umount "$1" "$3" || return 1
  fs_mount "$1" "$2" "$3" || return 1
}

# Peak VmRSS of the current daemon, sampled every 0.2 s while it serves.
start_sampler() {
  echo 0 > "${BR}/rss.max"
  (
    trap - ERR
    set +e
    trap 'exit 0' TERM
    max=0
    while :; do
      pid=$(cat "${BR}/current.pid" 2>/dev/null || true)
      if [[ -n ${pid} ]]; then
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/${pid}/status" 2>/dev/null || true)
        if [[ -n ${kb} && ${kb} -gt ${max} ]]; then max=${kb}; echo "${max}" > "${BR}/rss.max"; fi
      fi
      sleep 0.2
    done
  ) &
  echo "$!" > "${BR}/sampler.pid"
}

# VmHWM (peak RSS since start, KDF included) of the current daemon, kept as max.
sample_hwm() {
  local kb old
  kb=$(awk '/^VmHWM:/ {print $2}' "/proc/${DAEMON_PID}/status" 2>/dev/null || true)
  old=$(cat "${BR}/hwm.max" 2>/dev/null || echo 0)
  [[ -n ${kb} && ${kb} -gt ${old} ]] && echo "${kb}" > "${BR}/hwm.max"
  return 0
}

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "${RESULTS}"; }

dd_mbps() {  # MB/s (10^6 bytes) from dd's summary line on stderr in file $1
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s," || $i == "s") { printf "%.1f", $1 / $(i-1) / 1e6; exit } }' "$1"
}

fio_iops() {  # $1 = json file, $2 = read|write
  python3 - "$1" "$2" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    text = f.read()
j = json.loads(text[text.index('{'):])   # fio may print notes before the JSON
job = j["jobs"][0]
if job.get("error"):
    sys.exit("fio error %s" % job["error"])
print("%.0f" % job[sys.argv[2]]["iops"])
PY
}

run_fio() {  # $1 = randread|randwrite, $2 = file, $3 = output json
  fio --name="$1" --filename="$2" --size="${FIO_MB}M" --rw="$1" --bs=4k \
      --ioengine=psync --iodepth=1 --numjobs=1 --direct="${FIO_DIRECT}" \
      --time_based --runtime="${FIO_SECS}" --ramp_time=1 --fallocate=none \
      --randrepeat=1 --output-format=json --output="$3" >/dev/null
}

# --- one run of every workload on one filesystem ---------------------------------
bench_one() {
  local fs=$1 run=$2 base="${BR}/${fs}" back mnt t0 t1 v out="${BR}/out"
  back="${base}/backing"; mnt="${base}/mnt"
  rm -rf --one-file-system -- "${base}"
  mkdir -p "${mnt}" "${out}"
  rm -f "${BR}/hwm.max" "${BR}/current.pid"
  fs_init "${fs}" "${back}" >>"${LOGS}/${fs}.log" 2>&1 || { tail -n 20 "${LOGS}/${fs}.log" >&2; return 1; }
  fs_mount "${fs}" "${back}" "${mnt}"
  if [[ ${fs} == strongroom ]]; then
    sr_bootstrap "${mnt}" >>"${LOGS}/${fs}.log" 2>&1 || { tail -n 20 "${LOGS}/${fs}.log" >&2; return 1; }
  fi
  start_sampler

  # sequential write
  LC_ALL=C dd if=/dev/zero of="${mnt}/big" bs=1M count="${SEQ_MB}" conv=fsync 2> "${out}/dd"
  v=$(dd_mbps "${out}/dd"); [[ -n ${v} ]] || { cat "${out}/dd" >&2; return 1; }
  record "${fs}" seq_write "${run}" "${v}"; printf ' seq_write=%s' "${v}"

  # sequential read, cold
  fs_remount "${fs}" "${back}" "${mnt}"
  drop_caches
  LC_ALL=C dd if="${mnt}/big" of=/dev/null bs=1M 2> "${out}/dd"
  v=$(dd_mbps "${out}/dd"); [[ -n ${v} ]] || { cat "${out}/dd" >&2; return 1; }
  record "${fs}" seq_read "${run}" "${v}"; printf ' seq_read=%s' "${v}"
  rm -f -- "${mnt}/big"
  sync

  # random 4 KiB read and write, QD1
  dd if=/dev/zero of="${mnt}/fio.dat" bs=1M count="${FIO_MB}" conv=fsync status=none
  drop_caches
  run_fio randread "${mnt}/fio.dat" "${out}/fio-r.json"
  v=$(fio_iops "${out}/fio-r.json" read)
  record "${fs}" rand_read "${run}" "${v}"; printf ' rand_read=%s' "${v}"
  drop_caches
  run_fio randwrite "${mnt}/fio.dat" "${out}/fio-w.json"
  v=$(fio_iops "${out}/fio-w.json" write)
  record "${fs}" rand_write "${run}" "${v}"; printf ' rand_write=%s' "${v}"
  rm -f -- "${mnt}/fio.dat"
  sync

  # many small files: create, ls -lR cold, rm -rf
  drop_caches
  t0=${EPOCHREALTIME}
  tar -xf "${TARBALL}" -C "${mnt}"
  sync
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); record "${fs}" create "${run}" "${v}"; printf ' create=%s' "${v}"
  [[ $(find "${mnt}/files" -type f | wc -l) -eq ${NFILES} ]] || { echo "${fs}: wrong number of files after tar" >&2; return 1; }

  fs_remount "${fs}" "${back}" "${mnt}"
  drop_caches
  t0=${EPOCHREALTIME}
  ls -lR "${mnt}/files" > /dev/null
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); record "${fs}" ls "${run}" "${v}"; printf ' ls=%s' "${v}"

  t0=${EPOCHREALTIME}
  rm -rf -- "${mnt}/files"
  sync
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); record "${fs}" rm "${run}" "${v}"; printf ' rm=%s' "${v}"

  # daemon memory
  fs_umount "${fs}" "${mnt}"
  stop_sampler
  v=$(awk '{ printf "%.1f", $1 / 1024 }' "${BR}/rss.max")
  record "${fs}" rss "${run}" "${v}"; printf ' rss=%s' "${v}"
  v=$(awk '{ printf "%.1f", $1 / 1024 }' "${BR}/hwm.max" 2>/dev/null || echo 0)
  record "${fs}" hwm "${run}" "${v}"; printf ' hwm=%s\n' "${v}"
  rm -rf --one-file-system -- "${base}"
}

# --- the small-files tarball ------------------------------------------------------
# make_tarball FILE N: N random 4 KiB files, 100 per folder, under files/.
make_tarball() {
  python3 - "$1" "$2" <<'PY'
import io, os, sys, tarfile, time
path, n = sys.argv[1], int(sys.argv[2])
per_dir = 100
now = time.time()
with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
    def add_dir(name):
        ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = now
        tar.addfile(ti)
    add_dir("files")
    for i in range(n):
        if i % per_dir == 0:
            add_dir("files/d%04d" % (i // per_dir))
        ti = tarfile.TarInfo("files/d%04d/f%06d.dat" % (i // per_dir, i))
        ti.size = 4096; ti.mode = 0o644; ti.mtime = now
        tar.addfile(ti, io.BytesIO(os.urandom(4096)))
PY
}
TARBALL="${BR}/files.tar"
make_tarball "${TARBALL}" "${NFILES}"

# --- header ----------------------------------------------------------------------
version_of() {
  case "$1" in
    strongroom) echo "strongroom ($(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo '?'))" ;;
    gocryptfs)  gocryptfs -version 2>/dev/null | head -n 1 | cut -d';' -f1 ;;
    securefs)   echo "securefs $(dpkg-query -W -f='${Version}' securefs 2>/dev/null) (lite format 4, keyfile)" ;;
    bindfs)     bindfs --version 2>/dev/null | head -n 1 ;;
  esac
}

build_of() {  # how the binary $1 was configured, from the CMake cache next to it
  local cache
  cache="$(cd -- "$(dirname -- "$1")/.." && pwd)/CMakeCache.txt"
  [[ -f ${cache} ]] || { echo "build options unknown"; return 0; }
  awk -F= '/^CMAKE_BUILD_TYPE:/ { t = $2 } /^STRONGROOM_TESTING:/ { x = $2 } /^STRONGROOM_BENCH_NO_AUDIT:/ { a = $2 }
           END { printf "%s, TESTING=%s, NO_AUDIT=%s", (t == "" ? "RelWithDebInfo (default)" : t), (x == "" ? "ON" : x), (a == "" ? "OFF" : a) }' "${cache}"
}

HEADER="${BR}/header.txt"
{
  echo "Strongroom benchmark, $(date -Iseconds)"
  echo "host: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
  echo "backing: ${BR} (${fstype})"
  echo "sizes: seq ${SEQ_MB} MiB; fio ${FIO_MB} MiB file, ${FIO_SECS} s per job, direct=${FIO_DIRECT}; ${NFILES} files of 4 KiB; ${RUNS} interleaved runs"
  for fs in "${FS_LIST[@]}"; do echo "  ${fs}: $(version_of "${fs}")"; done
  if [[ ${POLICY} -eq 1 ]]; then
    echo "  policy: $(version_of strongroom); ${PFILES} files as a non-root user, ${PROUNDS} interleaved rounds"
  fi
  if [[ ${AUDIT} -eq 1 ]]; then
    echo "  audit: ${AFILES} files as root, ${AROUNDS} interleaved rounds; on/powerloss: ${SR} ($(build_of "${SR}")); off: ${NOAUDIT} ($(build_of "${NOAUDIT}"))"
  fi
  if [[ ${VIEW} -eq 1 ]]; then
    echo "  view: $(version_of strongroom) ($(build_of "${SR}")); ${VFILES} files per folder opened ${VPASSES} times per run by ${TVIEWER##*/} as a non-root user, ${VROUNDS} interleaved rounds"
  fi
} > "${HEADER}"
cat "${HEADER}"
echo

TABLE="${BR}/table.txt"
: > "${TABLE}"
if [[ ${#FS_LIST[@]} -gt 0 ]]; then
# --- the runs, interleaved ----------------------------------------------------------
n=${#FS_LIST[@]}
for (( run = 1; run <= RUNS; run++ )); do
  for (( k = 0; k < n; k++ )); do
    fs=${FS_LIST[$(( (k + run - 1) % n ))]}   # rotate the order between runs
    printf 'run %d/%d %-10s' "${run}" "${RUNS}" "${fs}"
    set +e
    (
      set -eE
      trap 'rc=$?; echo; echo "bench: ${fs}: failed (exit ${rc}) at line ${LINENO}: ${BASH_COMMAND}" >&2; trap - ERR' ERR
      bench_one "${fs}" "${run}"
    )
    rc=$?
    set -e
    if [[ ${rc} -ne 0 ]]; then
      [[ ${rc} -eq 130 || ${rc} -eq 143 ]] && exit "${rc}"
      echo
      log "ERROR: run ${run} of ${fs} failed (exit ${rc}); see the messages above"
      echo "${fs} run ${run} failed (exit ${rc})" >> "${FAILURES}"
      stop_sampler
      while read -r m; do [[ -n ${m} ]] && force_unmount "${m}"; done < <(mounts_under "${BR}/${fs}" | sort -r)
      [[ -z $(mounts_under "${BR}/${fs}") ]] || die "could not unmount ${fs} after its failure"
      rm -rf --one-file-system -- "${BR:?}/${fs}"
    fi
  done
done

# --- the table ---------------------------------------------------------------------
python3 - "${RESULTS}" "${FAILURES}" "${SEQ_MB}" "${NFILES}" "${FIO_MB}" "${FIO_DIRECT}" "${FS_LIST[@]}" > "${TABLE}" <<'PY'
import statistics, sys
results, failures, seq_mb, nfiles, fio_mb, fio_direct = sys.argv[1:7]
fs_list = sys.argv[7:]
direct = ", O_DIRECT" if fio_direct == "1" else ""
W = [  # key, title, higher is better
    ("seq_write", f"sequential write {seq_mb} MiB (dd bs=1M conv=fsync), MB/s", True),
    ("seq_read", f"sequential read {seq_mb} MiB, cold (remount + drop caches), MB/s", True),
    ("rand_read", f"random 4 KiB read, fio psync QD1{direct}, {fio_mb} MiB file, IOPS", True),
    ("rand_write", f"random 4 KiB write, fio psync QD1{direct}, {fio_mb} MiB file, IOPS", True),
    ("create", f"create {nfiles} x 4 KiB files (tar + sync), s", False),
    ("ls", f"ls -lR of them, cold (remount + drop caches), s", False),
    ("rm", f"rm -rf of them + sync, s", False),
    ("rss", "daemon memory while serving (peak VmRSS sampled every 0.2 s), MiB", False),
    ("hwm", "daemon peak memory since start, KDF included (VmHWM), MiB", False),
]
data = {}
for line in open(results):
    fs, w, run, v = line.rstrip("\n").split("\t")
    data.setdefault((fs, w), []).append(float(v))
failed = [l.strip() for l in open(failures) if l.strip()]

def fmt(x):
    if x is None: return "-"
    a = abs(x)
    if a >= 1000: return f"{x:,.0f}"
    if a >= 100: return f"{x:.0f}"
    if a >= 10: return f"{x:.1f}"
    return f"{x:.2f}"

def ratio(v, ref, higher):
    # > 1.00 means v is better than ref, whichever direction the metric has.
    if v is None or ref is None or v <= 0 or ref <= 0: return None
    return v / ref if higher else ref / v

peers = [p for p in ("gocryptfs", "securefs") if p in fs_list]
out = []
out.append("Ratios: > 1.00 means the row's filesystem is better than the reference")
out.append("(higher MB/s or IOPS, or lower seconds or MiB); best peer = the better of gocryptfs and securefs.")
out.append("")
summary = []
for key, title, higher in W:
    med = {fs: (statistics.median(data[(fs, key)]) if (fs, key) in data else None) for fs in fs_list}
    ref_g = med.get("gocryptfs")
    pv = [med[p] for p in peers if med.get(p) is not None]
    best = (max(pv) if higher else min(pv)) if pv else None
    out.append(f"{title}  [{'higher' if higher else 'lower'} is better]")
    out.append(f"  {'filesystem':<11} {'median':>9} {'min-max':>21} {'runs':>4}  {'vs gocryptfs':>12} {'vs best peer':>12}")
    for fs in fs_list:
        vals = data.get((fs, key), [])
        m = med[fs]
        spread = f"{fmt(min(vals))}-{fmt(max(vals))}" if vals else "-"
        rg, rb = ratio(m, ref_g, higher), ratio(m, best, higher)
        out.append(f"  {fs:<11} {fmt(m) if m is not None else 'FAILED':>9} {spread:>21} {len(vals):>4}  "
                   f"{(f'{rg:.2f}x' if rg is not None else '-'):>12} {(f'{rb:.2f}x' if rb is not None else '-'):>12}")
    out.append("")
    summary.append((title, higher, med, best))

out.append("Summary: medians" + ("; last column: best peer / bindfs (PERFORMANCE.md style)" if "bindfs" in fs_list and peers else ""))
hdr = f"  {'workload':<44}" + "".join(f" {fs:>11}" for fs in fs_list)
if "bindfs" in fs_list and peers: hdr += f" {'peer/bindfs':>12}"
out.append(hdr)
short = {"seq_write": "seq write, MB/s", "seq_read": "seq read cold, MB/s", "rand_read": "rand 4K read QD1, IOPS",
         "rand_write": "rand 4K write QD1, IOPS", "create": f"create {nfiles} files, s", "ls": "ls -lR cold, s",
         "rm": "rm -rf + sync, s", "rss": "daemon RSS serving, MiB", "hwm": "daemon VmHWM, MiB"}
for (key, _, higher), (title, _, med, best) in zip(W, summary):
    row = f"  {short[key]:<44}" + "".join(f" {fmt(med[fs]) if med[fs] is not None else 'FAILED':>11}" for fs in fs_list)
    if "bindfs" in fs_list and peers:
        r = ratio(best, med.get("bindfs"), higher)
        row += f" {(f'{r:.2f}' if r is not None else '-'):>12}"
    out.append(row)
if failed:
    out.append("")
    out.append("FAILED RUNS (their figures are missing above):")
    out += ["  " + f for f in failed]
print("\n".join(out))
PY
echo
cat "${TABLE}"
fi

# --- the policy comparison -------------------------------------------------------------
# Small-file and metadata workloads run on Strongroom as a non-root user (the
# kernel passes the caller's uid, so every lookup, getattr, open, create and
# unlink is decided for that user), on three vaults mounted side by side:
#   single  the user's one grant (write on the work folder) and root's `manage`
#   big     the same folders, plus 10 users, 3 teams with members and 200 grants
#           spread over 125 folders nested 4 levels deep, given by the admin and
#           by root to users and @teams, the user's own grant among them
#   cached  as single, mounted with --unsafe-entry-timeout 1 (benchmark only:
#           the kernel may cache names, so one user's lookups could answer
#           another's; the default, 0, looks every name up as the caller)
# The work folder is at the same depth in all three. Rounds are interleaved
# and their order rotated. Caches are dropped before each round's create only;
# the listing, the read and the delete run with the backing tree warm, so the
# daemon's own work (decisions included) dominates rather than the disk.
PTABLE="${BR}/policy-table.txt"
PRESULTS="${BR}/policy.tsv"     # config, workload, round, seconds
: > "${PTABLE}"; : > "${PRESULTS}"
PUSER_NAME=bench-user
PUSER_UID=4300
PWORK=org/d2/p3/w4              # the bench user's work folder (depth 4)


# The big policy's grants, one "BY PATH SUBJECT MODE" per line (BY: admin or
# root). 200 in all, the bench user's own write grant on the work folder
# included, with several others on that folder and on the folders above it.
policy_grants() {
  python3 - "${PWORK}" "${PUSER_NAME}" <<'PY'
import sys
work, me = sys.argv[1], sys.argv[2]
folders = ["org"]
for d in range(1, 5):
    folders.append(f"org/d{d}")
    for p in range(1, 6):
        folders.append(f"org/d{d}/p{p}")
        for w in range(1, 6):
            folders.append(f"org/d{d}/p{p}/w{w}")
subjects = [f"u{i:02d}" for i in range(1, 11)] + ["@t1", "@t2", "@t3"]
modes = ["read", "write", "view", "none", "read", "write", "manage"]
grants, seen = [], set()
def add(path, subject, mode):
    if (path, subject) in seen: return
    seen.add((path, subject)); grants.append((path, subject, mode))
add(work, me, "write")
for s, m in (("u01", "read"), ("u02", "write"), ("@t1", "read"), ("@t3", "none"), ("u07", "manage")):
    add(work, s, m)
add("org/d2", "@t2", "read")          # a team of the bench user, further up
add("org/d2/p3", "u03", "write")
add("org", "@t1", "view")
i = 0
while len(grants) < 200:
    add(folders[i % len(folders)], subjects[(5 * i) % len(subjects)], modes[i % len(modes)])
    i += 1
for n, (path, subject, mode) in enumerate(grants):
    print("admin" if n % 2 else "root", path, subject, mode)
PY
}

# policy_setup CONFIG: init, mount, bootstrap, folders and grants.
policy_setup() {
  local cfg=$1 base="${BR}/policy/$1" back mnt extra=() by path subject mode u t
  back="${base}/backing"; mnt="${base}/mnt"
  mkdir -p "${mnt}"; chmod 0755 "${base}"
  fs_init strongroom "${back}"
  [[ ${cfg} == cached ]] && extra=(--unsafe-entry-timeout 1)
  fs_mount strongroom "${back}" "${mnt}" "${extra[@]}"
  echo "${DAEMON_PID}" > "${base}/daemon.pid"
  sr_bootstrap "${mnt}"
  as_uid "${ADMIN_UID}" "${SR}" user add "${PUSER_NAME}" --uid "${PUSER_UID}" --mount "${mnt}"
  mkdir -p "${mnt}"/org/d{1..4}/p{1..5}/w{1..5}          # as root, who has manage on /
  if [[ ${cfg} == big ]]; then
    for u in $(seq 1 10); do
      as_uid "${ADMIN_UID}" "${SR}" user add "$(printf 'u%02d' "${u}")" --uid $(( 4309 + u )) --mount "${mnt}"
    done
    for t in 1 2 3; do as_uid "${ADMIN_UID}" "${SR}" team add "t${t}" --mount "${mnt}"; done
    for u in 01 02 03 04; do as_uid "${ADMIN_UID}" "${SR}" team member add t1 "u${u}" --mount "${mnt}"; done
    for u in 04 05 06 07; do as_uid "${ADMIN_UID}" "${SR}" team member add t2 "u${u}" --mount "${mnt}"; done
    as_uid "${ADMIN_UID}" "${SR}" team member add t2 "${PUSER_NAME}" --mount "${mnt}"
    for u in 08 09 10 01; do as_uid "${ADMIN_UID}" "${SR}" team member add t3 "u${u}" --mount "${mnt}"; done
    while read -r by path subject mode; do
      if [[ ${by} == admin ]]; then
        as_uid "${ADMIN_UID}" "${SR}" grant "${mnt}/${path}" "${subject}" "${mode}"
      else
        "${SR}" grant "${mnt}/${path}" "${subject}" "${mode}"
      fi
    done < <(policy_grants)
    [[ $(as_uid "${ADMIN_UID}" "${SR}" access --user "${PUSER_NAME}" --mount "${mnt}" --json \
          | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["grants"]))') -ge 2 ]]
  else
    "${SR}" grant "${mnt}/${PWORK}" "${PUSER_NAME}" write
    # The bench user sees the way to its folder and nothing beside it.
    [[ $(as_uid "${PUSER_UID}" ls "${mnt}/org") == d2 ]]
    [[ $(as_uid "${PUSER_UID}" ls "${mnt}/org/d2/p3") == w4 ]]
  fi
  as_uid "${PUSER_UID}" touch "${mnt}/${PWORK}/probe"
  as_uid "${PUSER_UID}" rm "${mnt}/${PWORK}/probe"
}

# policy_round CONFIG ROUND: the workloads, as the bench user, timed.
policy_round() {
  local cfg=$1 round=$2 w="${BR}/policy/$1/mnt/${PWORK}" t0 t1 v
  drop_caches
  t0=${EPOCHREALTIME}
  as_uid "${PUSER_UID}" tar -xf "${PTAR}" -C "${w}"
  sync
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); printf '%s\tcreate\t%s\t%s\n' "${cfg}" "${round}" "${v}" >> "${PRESULTS}"; printf ' create=%s' "${v}"
  [[ $(as_uid "${PUSER_UID}" find "${w}/files" -type f | wc -l) -eq ${PFILES} ]] \
    || { echo "policy ${cfg}: wrong number of files after tar" >&2; return 1; }

  t0=${EPOCHREALTIME}
  as_uid "${PUSER_UID}" ls -lR "${w}/files" > /dev/null
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); printf '%s\tls\t%s\t%s\n' "${cfg}" "${round}" "${v}" >> "${PRESULTS}"; printf ' ls=%s' "${v}"

  t0=${EPOCHREALTIME}
  as_uid "${PUSER_UID}" sh -c 'find "$1" -type f -print0 | xargs -0 cat > /dev/null' sh "${w}/files"
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); printf '%s\tread\t%s\t%s\n' "${cfg}" "${round}" "${v}" >> "${PRESULTS}"; printf ' read=%s' "${v}"

  t0=${EPOCHREALTIME}
  as_uid "${PUSER_UID}" rm -rf -- "${w}/files"
  sync
  t1=${EPOCHREALTIME}
  v=$(elapsed "${t0}" "${t1}"); printf '%s\trm\t%s\t%s\n' "${cfg}" "${round}" "${v}" >> "${PRESULTS}"; printf ' rm=%s\n' "${v}"
}

if [[ ${POLICY} -eq 1 ]]; then
  echo
  echo "policy comparison: ${PFILES} files of 4 KiB as uid ${PUSER_UID}, ${PROUNDS} interleaved rounds"
  chmod 0711 "${BR}"                 # the bench user must reach the mountpoints
  mkdir -p "${BR}/policy" "${BR}/ptar"; chmod 0755 "${BR}/policy" "${BR}/ptar"
  PTAR="${BR}/ptar/files.tar"
  make_tarball "${PTAR}" "${PFILES}"; chmod 0644 "${PTAR}"
  PCONFIGS=(single big cached)
  set +e
  (
    set -eE
    trap 'rc=$?; echo "bench: policy: failed (exit ${rc}) at line ${LINENO}: ${BASH_COMMAND}" >&2; trap - ERR' ERR
    for cfg in "${PCONFIGS[@]}"; do
      log "policy: setting up the '${cfg}' vault"
      policy_setup "${cfg}" >>"${LOGS}/policy-${cfg}.log" 2>&1
    done
    n=${#PCONFIGS[@]}
    for (( round = 1; round <= PROUNDS; round++ )); do
      for (( k = 0; k < n; k++ )); do
        cfg=${PCONFIGS[$(( (k + round - 1) % n ))]}
        printf 'policy round %d/%d %-7s' "${round}" "${PROUNDS}" "${cfg}"
        policy_round "${cfg}" "${round}"
      done
    done
    for cfg in "${PCONFIGS[@]}"; do
      DAEMON_PID=$(cat "${BR}/policy/${cfg}/daemon.pid")
      fs_umount strongroom "${BR}/policy/${cfg}/mnt"
    done
  )
  rc=$?
  set -e
  if [[ ${rc} -ne 0 ]]; then
    [[ ${rc} -eq 130 || ${rc} -eq 143 ]] && exit "${rc}"
    log "ERROR: the policy comparison failed (exit ${rc}); the end of its setup logs:"
    tail -n 15 "${LOGS}"/policy-*.log >&2 || true
    echo "policy comparison failed (exit ${rc})" >> "${FAILURES}"
    while read -r m; do [[ -n ${m} ]] && force_unmount "${m}"; done < <(mounts_under "${BR}/policy" | sort -r)
  fi

  python3 - "${PRESULTS}" "${PFILES}" "${PUSER_UID}" > "${PTABLE}" <<'PY'
import statistics, sys
results, nfiles, uid = sys.argv[1], sys.argv[2], sys.argv[3]
W = [("create", f"create {nfiles} x 4 KiB files (tar + sync)"),
     ("ls", "ls -lR of them (stat every file)"),
     ("read", "read them all back (find | xargs cat)"),
     ("rm", "rm -rf of them + sync")]
data = {}
for line in open(results):
    cfg, w, rnd, v = line.rstrip("\n").split("\t")
    data.setdefault((cfg, w), []).append(float(v))
def med(cfg, w):
    v = data.get((cfg, w))
    return statistics.median(v) if v else None
def spread(cfg, w):
    v = data.get((cfg, w))
    return f"{min(v):.2f}-{max(v):.2f}" if v else "-"
def cell(cfg, w):
    m = med(cfg, w)
    return f"{m:.3f} ({spread(cfg, w)})" if m is not None else "FAILED"
def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"
out = [f"Policy decisions and hidden names: seconds as uid {uid}, median (min-max); lower is better",
       "  single = the user's one grant; big = 10 users, 3 teams, 200 grants 4 levels deep;",
       "  cached = single mounted with --unsafe-entry-timeout 1 (names cached by the kernel; default 0)",
       "  big/single: cost of the big policy (target <= 1.10); single/cached: cost of never caching names",
       "",
       f"  {'workload':<44} {'single':>20} {'big':>20} {'cached':>20} {'big/single':>10} {'single/cached':>13}"]
tot = {c: 0.0 for c in ("single", "big", "cached")}
for key, title in W:
    s, b, c = med("single", key), med("big", key), med("cached", key)
    for cfg, m in (("single", s), ("big", b), ("cached", c)):
        if m is not None and tot[cfg] is not None: tot[cfg] += m
        else: tot[cfg] = None
    flag = "" if not (s and b) else ("  ok" if b / s <= 1.10 else "  over 10%")
    out.append(f"  {title:<44} {cell('single', key):>20} {cell('big', key):>20} {cell('cached', key):>20} "
               f"{ratio(b, s):>10} {ratio(s, c):>13}{flag}")
s, b, c = tot["single"], tot["big"], tot["cached"]
fmt = lambda x: f"{x:.3f}" if x is not None else "-"
out.append(f"  {'all four (sum of medians)':<44} {fmt(s):>20} {fmt(b):>20} {fmt(c):>20} {ratio(b, s):>10} {ratio(s, c):>13}")
print("\n".join(out))
PY
  echo
  cat "${PTABLE}"
fi

# --- the audit comparison ----------------------------------------------------------
# The cost of the audit log (issue 4), as root (who has `manage` on the whole
# vault), on three vaults mounted side by side:
#   on         the normal binary: every open, listing and change recorded, the
#              default durability (WAL, synchronous=NORMAL: survives a crash)
#   off        the same workloads with the audit log compiled out
#              (build-noaudit/, -DSTRONGROOM_BENCH_NO_AUDIT=ON: measuring only)
#   powerloss  the normal binary after `config set audit-durability power-loss`
#              (synchronous=FULL: every commit synced, survives a power cut)
# Each round: create N x 4 KiB files (tar + sync, caches dropped first), ls -lR
# of them, read them all (find | xargs cat), then open+read+close each of them
# again from a list made beforehand (xargs cat, no directory listing: opens/s),
# and rm -rf + sync; all but the create with the backing tree warm, so the
# daemon's work (the records included) dominates. Rounds are interleaved and
# their order rotated. After each round the vault's records written ahead are
# moved into its indexed database (an `audit --limit 1` query as the admin,
# timed and reported as "indexing"): the daemon does this on its own once the
# mount has been quiet for 250 ms, which between rounds would land in the
# next vault's timed create. After the rounds the vaults are unmounted, each audit
# database is checkpointed (sqlite3) and counted, and the `on` vault's log is
# verified with its initial key (`audit verify`), which must pass.
ATABLE="${BR}/audit-table.txt"
ARESULTS="${BR}/audit.tsv"      # config, workload, round, seconds
ASTATS="${BR}/audit-stats.tsv"  # config, records, bytes (db + wal), verify seconds or -
: > "${ATABLE}"; : > "${ARESULTS}"; : > "${ASTATS}"

# audit_setup CONFIG: init (keeping the initial audit key), mount with the
# config's binary, give root manage, set the durability.
audit_setup() {
  local cfg=$1 base="${BR}/audit/$1" back mnt bin=${SR}
  back="${base}/backing"; mnt="${base}/mnt"
  mkdir -p "${mnt}"
  [[ ${cfg} == off ]] && bin=${NOAUDIT}
  "${SR}" init --passfile "${PASSFILE}" --admin "${ADMIN_NAME}" --uid "${ADMIN_UID}" \
    --audit-key-out "${base}/audit.key" "${back}"
  SR=${bin} fs_mount strongroom "${back}" "${mnt}"
  echo "${DAEMON_PID}" > "${base}/daemon.pid"
  sr_bootstrap "${mnt}"
  if [[ ${cfg} == powerloss ]]; then
    as_uid "${ADMIN_UID}" "${SR}" config set audit-durability power-loss --mount "${mnt}"
    [[ $(as_uid "${ADMIN_UID}" "${SR}" config get audit-durability --mount "${mnt}") == *power-loss* ]]
  fi
  touch "${mnt}/probe"; rm "${mnt}/probe"
}

atime() {  # atime CONFIG WORKLOAD ROUND T0 T1: records the seconds and prints them
  local v
  v=$(elapsed "$4" "$5")
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${v}" >> "${ARESULTS}"
  printf ' %s=%s' "$2" "${v}"
}

# audit_round CONFIG ROUND: the workloads, as root, timed.
audit_round() {
  local cfg=$1 round=$2 m="${BR}/audit/$1/mnt" list="${BR}/audit/$1/list" t0 t1
  drop_caches
  t0=${EPOCHREALTIME}
  tar -xf "${ATAR}" -C "${m}"
  sync
  t1=${EPOCHREALTIME}
  atime "${cfg}" create "${round}" "${t0}" "${t1}"
  find "${m}/files" -type f -print0 > "${list}"
  [[ $(tr -cd '\0' < "${list}" | wc -c) -eq ${AFILES} ]] \
    || { echo "audit ${cfg}: wrong number of files after tar" >&2; return 1; }

  t0=${EPOCHREALTIME}
  ls -lR "${m}/files" > /dev/null
  t1=${EPOCHREALTIME}
  atime "${cfg}" ls "${round}" "${t0}" "${t1}"

  t0=${EPOCHREALTIME}
  find "${m}/files" -type f -print0 | xargs -0 cat > /dev/null
  t1=${EPOCHREALTIME}
  atime "${cfg}" read "${round}" "${t0}" "${t1}"

  t0=${EPOCHREALTIME}
  xargs -0 cat < "${list}" > /dev/null
  t1=${EPOCHREALTIME}
  atime "${cfg}" opens "${round}" "${t0}" "${t1}"

  t0=${EPOCHREALTIME}
  rm -rf -- "${m}/files"
  sync
  t1=${EPOCHREALTIME}
  atime "${cfg}" rm "${round}" "${t0}" "${t1}"

  # The indexing the round left for the daemon's idle time, done now: a
  # query moves everything first. Its time less that of a second query
  # (nothing left to move: the command's own cost) is the indexing's.
  if [[ ${cfg} != off ]]; then
    local t2
    t0=${EPOCHREALTIME}
    as_uid "${ADMIN_UID}" "${SR}" audit --limit 1 --mount "${m}" > /dev/null
    t1=${EPOCHREALTIME}
    as_uid "${ADMIN_UID}" "${SR}" audit --limit 1 --mount "${m}" > /dev/null
    t2=${EPOCHREALTIME}
    printf '%s\t%s\t%s\t%s\n' "${cfg}" index "${round}" \
      "$(python3 -c 'import sys; a, b, c = map(float, sys.argv[1:]); print(f"{max(0.0, (b - a) - (c - b)):.3f}")' \
        "${t0}" "${t1}" "${t2}")" >> "${ARESULTS}"
  fi
  echo
}

# audit_stats CONFIG: after the unmount: records, bytes per record, verify.
audit_stats() {
  local cfg=$1 base="${BR}/audit/$1" db out n bytes v="-" t0 t1
  db="${base}/backing/strongroom-audit.db"
  [[ -f ${db} ]] || { echo "audit ${cfg}: no audit database at ${db}" >&2; return 1; }
  out=$(sqlite3 "${db}" 'PRAGMA wal_checkpoint(TRUNCATE); SELECT count(*) FROM records')
  n=$(printf '%s\n' "${out}" | tail -n 1)
  [[ ${n} =~ ^[0-9]+$ ]] || { echo "audit ${cfg}: cannot count the records: ${out}" >&2; return 1; }
  bytes=$(( $(stat -c %s -- "${db}") + $(stat -c %s -- "${db}-wal" 2>/dev/null || echo 0) ))
  if [[ ${cfg} == on ]]; then
    t0=${EPOCHREALTIME}
    "${SR}" audit verify --key "${base}/audit.key" "${base}/backing" > "${base}/verify.out" 2>&1 \
      || { cat "${base}/verify.out" >&2; echo "audit ${cfg}: audit verify failed" >&2; return 1; }
    t1=${EPOCHREALTIME}
    v=$(elapsed "${t0}" "${t1}")
    printf 'audit %s: %s (%s s)\n' "${cfg}" "$(tail -n 1 "${base}/verify.out")" "${v}"
  fi
  printf '%s\t%s\t%s\t%s\n' "${cfg}" "${n}" "${bytes}" "${v}" >> "${ASTATS}"
}

if [[ ${AUDIT} -eq 1 ]]; then
  echo
  echo "audit comparison: ${AFILES} files of 4 KiB as root, ${AROUNDS} interleaved rounds (on, off, powerloss)"
  mkdir -p "${BR}/audit"
  ATAR="${BR}/audit/files.tar"
  make_tarball "${ATAR}" "${AFILES}"
  ACONFIGS=(on off powerloss)
  set +e
  (
    set -eE
    trap 'rc=$?; echo "bench: audit: failed (exit ${rc}) at line ${LINENO}: ${BASH_COMMAND}" >&2; trap - ERR' ERR
    for cfg in "${ACONFIGS[@]}"; do
      log "audit: setting up the '${cfg}' vault"
      audit_setup "${cfg}" >>"${LOGS}/audit-${cfg}.log" 2>&1
    done
    n=${#ACONFIGS[@]}
    for (( round = 1; round <= AROUNDS; round++ )); do
      for (( k = 0; k < n; k++ )); do
        cfg=${ACONFIGS[$(( (k + round - 1) % n ))]}
        printf 'audit round %d/%d %-9s' "${round}" "${AROUNDS}" "${cfg}"
        audit_round "${cfg}" "${round}"
      done
    done
    for cfg in "${ACONFIGS[@]}"; do
      DAEMON_PID=$(cat "${BR}/audit/${cfg}/daemon.pid")
      fs_umount strongroom "${BR}/audit/${cfg}/mnt"
    done
    for cfg in "${ACONFIGS[@]}"; do audit_stats "${cfg}"; done
  )
  rc=$?
  set -e
  if [[ ${rc} -ne 0 ]]; then
    [[ ${rc} -eq 130 || ${rc} -eq 143 ]] && exit "${rc}"
    log "ERROR: the audit comparison failed (exit ${rc}); the end of its setup logs:"
    tail -n 15 "${LOGS}"/audit-*.log >&2 || true
    echo "audit comparison failed (exit ${rc})" >> "${FAILURES}"
    while read -r m; do [[ -n ${m} ]] && force_unmount "${m}"; done < <(mounts_under "${BR}/audit" | sort -r)
  fi

  python3 - "${ARESULTS}" "${ASTATS}" "${AFILES}" > "${ATABLE}" <<'PY'
import statistics, sys
results, stats, nfiles = sys.argv[1], sys.argv[2], int(sys.argv[3])
W = [("opens", f"opens/s: open+read+close of {nfiles} files (xargs cat)", True),
     ("create", f"create {nfiles} x 4 KiB files (tar + sync), s", False),
     ("ls", "ls -lR of them, s", False),
     ("read", "read them all (find | xargs cat), s", False),
     ("rm", "rm -rf of them + sync, s", False)]
data, rounds = {}, {}
for line in open(results):
    cfg, w, rnd, v = line.rstrip("\n").split("\t")
    data.setdefault((cfg, w), []).append(float(v))
    rounds[(cfg, w, rnd)] = float(v)
def med(cfg, w):
    v = data.get((cfg, w))
    return statistics.median(v) if v else None
def shown(cfg, w, rate):
    # opens are shown as a rate (files per second), the rest as seconds
    v = data.get((cfg, w))
    if not v: return "FAILED"
    f = (lambda x: nfiles / x) if rate else (lambda x: x)
    vals = sorted(f(x) for x in v)
    fmt = (lambda x: f"{x:,.0f}") if rate else (lambda x: f"{x:.3f}")
    return f"{fmt(statistics.median(vals))} ({fmt(vals[0])}-{fmt(vals[-1])})"
def ratio(a, b, w):
    # time ratio a/b (> 1: a is slower), and its min-max over the rounds (paired by round)
    ma, mb = med(a, w), med(b, w)
    if not ma or not mb: return "-"
    per = [rounds[(a, w, r)] / rounds[(b, w, r)] for (c, ww, r) in rounds
           if c == a and ww == w and (b, w, r) in rounds and rounds[(b, w, r)] > 0]
    s = f"{ma / mb:.2f}"
    return s + (f" ({min(per):.2f}-{max(per):.2f})" if per else "")
out = ["Audit log cost: as root, median (min-max over the rounds)",
       "  on = audit log on, default durability (crash); off = audit log compiled out (benchmark build);",
       "  powerloss = on after `config set audit-durability power-loss` (synchronous=FULL)",
       "  on/off and powerloss/on are time ratios (for opens/s: off rate / on rate); > 1.00 = slower;",
       "  in brackets the min-max of the per-round ratios; target on/off <= 1.15",
       "",
       f"  {'workload':<48} {'on':>22} {'off':>22} {'powerloss':>22} {'on/off':>17} {'powerloss/on':>17}"]
tot = {}
for key, title, rate in W:
    for cfg in ("on", "off", "powerloss"):
        m = med(cfg, key)
        if key != "opens":
            tot[cfg] = (tot.get(cfg, 0.0) + m) if (m is not None and tot.get(cfg, 0.0) is not None) else None
    m_on, m_off = med("on", key), med("off", key)
    flag = "" if not (m_on and m_off) else ("  ok" if m_on / m_off <= 1.15 else "  over 15%")
    out.append(f"  {title:<48} {shown('on', key, rate):>22} {shown('off', key, rate):>22} {shown('powerloss', key, rate):>22} "
               f"{ratio('on', 'off', key):>17} {ratio('powerloss', 'on', key):>17}{flag}")
f = lambda x: f"{x:.3f}" if x is not None else "-"
r = lambda a, b: f"{a / b:.2f}" if a and b else "-"
t_on, t_off, t_pl = tot.get("on"), tot.get("off"), tot.get("powerloss")
flag = "" if not (t_on and t_off) else ("  ok" if t_on / t_off <= 1.15 else "  over 15%")
out.append(f"  {'create + ls + read + rm (sum of medians), s':<48} {f(t_on):>22} {f(t_off):>22} {f(t_pl):>22} "
           f"{r(t_on, t_off):>17} {r(t_pl, t_on):>17}{flag}")
idx = {cfg: med(cfg, "index") for cfg in ("on", "powerloss")}
stat_rows = [l.rstrip("\n").split("\t") for l in open(stats)]
nrec = {row[0]: int(row[1]) for row in stat_rows}
out.append("")
out.append("Indexing left for idle time, done after each round (records written ahead moved into the indexed")
out.append("database by an `audit --limit 1` query, less a second query's time; not part of the times above),")
out.append("median per round, wall time:")
for cfg in ("on", "powerloss"):
    if idx.get(cfg) is None: continue
    per_round = nrec.get(cfg, 0) / (len(data.get((cfg, "index"), [])) or 1)
    us = f", {idx[cfg] / per_round * 1e6:.1f} us per record ({per_round:,.0f} records per round)" if per_round >= 100 else ""
    out.append(f"  {cfg:<10} {idx[cfg]:.3f} s{us}")
if idx.get("on") is not None and t_on and t_off:
    # Where the mount is never idle the indexer runs every 10 s or 16,384
    # records alongside the calls: this is the whole cost then, at most.
    out.append(f"  create + ls + read + rm + indexing, on/off: {(t_on + idx['on']) / t_off:.2f} "
               "(no target: roughly the cost on a mount that is never idle)")
out.append("")
out.append("Audit database after the rounds (checkpointed: strongroom-audit.db + -wal)")
out.append(f"  {'vault':<10} {'records':>9} {'bytes':>12} {'bytes/record':>13} {'audit verify':>20}")
for cfg, n, b, v in stat_rows:
    n, b = int(n), int(b)
    per = f"{b / n:.0f}" if n >= 100 else "-"   # a near-empty database is mostly page overhead
    ver = "-" if v == "-" else f"passed, {v} s"
    out.append(f"  {cfg:<10} {n:>9,} {b:>12,} {per:>13} {ver:>20}")
print("\n".join(out))
PY
  echo
  cat "${ATABLE}"
fi

# --- the view comparison -----------------------------------------------------------
# The cost of view-only mode (issue 5). One vault, one non-root user
# (bench-viewer, uid 4310) with `view` on /view and `read` on /read, each
# holding the same number of 4 KiB files (100 per folder). The test viewer,
# installed root-owned and setgid to the vault's viewer group in a root-only
# directory and allow-listed, opens and reads every file of one folder
# (xargs, from a list made beforehand, so no listing is timed):
#   read  opens under `read`: decided by the grant alone
#   view  opens under `view`: the grant, then the viewer check (the request's
#         group, /proc/TID/exe's owner, TracerPid and real gid from
#         /proc/TID/status, the executable's ownership and mode, and its
#         SHA-256 from the cache keyed by device, inode, ctime and size)
# Same user, same program, same daemon, same file sizes and depths; rounds
# alternate and their order is rotated. One unmeasured pass of each first
# (the viewer's digest is computed once, then cached).
VTABLE="${BR}/view-table.txt"
VRESULTS="${BR}/view.tsv"       # config, workload, round, seconds
VOPENS="${BR}/view-opens.tsv"   # config, round, nanoseconds (one open each)
: > "${VTABLE}"; : > "${VRESULTS}"; : > "${VOPENS}"
VUSER_NAME=bench-viewer
VUSER_UID=4310

view_setup() {
  local base="${BR}/view" back mnt gid d i
  back="${base}/backing"; mnt="${base}/mnt"
  mkdir -p "${mnt}"; chmod 0755 "${base}"
  fs_init strongroom "${back}"
  fs_mount strongroom "${back}" "${mnt}"
  echo "${DAEMON_PID}" > "${base}/daemon.pid"
  sr_bootstrap "${mnt}"
  gid=$(getent group strongroom-viewers | cut -d: -f3)
  [[ -n ${gid} ]] || { echo "view: init did not make the group strongroom-viewers" >&2; return 1; }
  mkdir -p "${BR}/viewers"; chmod 0755 "${BR}/viewers"
  install -o root -g strongroom-viewers -m 2755 "${TVIEWER}" "${BR}/viewers/sr-test-viewer"
  as_uid "${ADMIN_UID}" "${SR}" user add "${VUSER_NAME}" --uid "${VUSER_UID}" --mount "${mnt}"
  for d in view read; do
    mkdir -p "${mnt}/${d}"
    tar -xf "${VTAR}" -C "${mnt}/${d}"
    [[ $(find "${mnt}/${d}/files" -type f | wc -l) -eq ${VFILES} ]] || { echo "view: wrong number of files in /${d}" >&2; return 1; }
    find "${mnt}/${d}/files" -type f -print0 | sort -z > "${base}/${d}.list"
  done
  # Both folders' files, alternating (view, read, read, view, ...).
  python3 - "${base}" <<'PY'
import sys
base = sys.argv[1]
view = open(base + "/view.list", "rb").read().split(b"\0")[:-1]
read = open(base + "/read.list", "rb").read().split(b"\0")[:-1]
mixed = []
for i, (v, r) in enumerate(zip(view, read)):
    mixed += [v, r] if i % 2 == 0 else [r, v]
open(base + "/mixed.list", "wb").write(b"\0".join(mixed) + b"\0")
PY
  as_uid "${ADMIN_UID}" "${SR}" grant "${mnt}/view" "${VUSER_NAME}" view
  as_uid "${ADMIN_UID}" "${SR}" grant "${mnt}/read" "${VUSER_NAME}" read
  as_uid "${ADMIN_UID}" "${SR}" viewer add "${BR}/viewers/sr-test-viewer" --mount "${mnt}"
  # The control: an ordinary program may not open a view file, the viewer may.
  ! as_uid "${VUSER_UID}" cat "${mnt}/view/files/d0000/f000000.dat" > /dev/null 2>&1 \
    || { echo "view: cat opened a view file" >&2; return 1; }
  as_uid "${VUSER_UID}" "${BR}/viewers/sr-test-viewer" -q "${mnt}/view/files/d0000/f000000.dat"
}

# view_pass CONFIG [PASSES]: the viewer opens and reads every file of
# /CONFIG, PASSES times (default 1).
view_pass() {
  local p
  for (( p = 0; p < ${2:-1}; p++ )); do
    as_uid "${VUSER_UID}" xargs -0 "${BR}/viewers/sr-test-viewer" -q < "${BR}/view/$1.list"
  done
}

# view_mixed ROUND: the two folders' files interleaved, each open timed by
# the viewer (nanoseconds for open, reads and close).
view_mixed() {
  as_uid "${VUSER_UID}" xargs -0 "${BR}/viewers/sr-test-viewer" --times < "${BR}/view/mixed.list" \
    | awk -v r="$1" '{ print (index($2, "/view/files/") ? "view" : "read") "\t" r "\t" $1 }' >> "${VOPENS}"
}

if [[ ${VIEW} -eq 1 ]]; then
  echo
  echo "view comparison: ${VFILES} files of 4 KiB per folder, opened by the allow-listed viewer as uid ${VUSER_UID}, ${VROUNDS} interleaved rounds"
  chmod 0711 "${BR}"                 # the bench user must reach the mountpoint and the viewer
  mkdir -p "${BR}/view"
  VTAR="${BR}/view/files.tar"
  make_tarball "${VTAR}" "${VFILES}"
  VCONFIGS=(read view)
  set +e
  (
    set -eE
    trap 'rc=$?; echo "bench: view: failed (exit ${rc}) at line ${LINENO}: ${BASH_COMMAND}" >&2; trap - ERR' ERR
    log "view: setting up the vault"
    view_setup >>"${LOGS}/view.log" 2>&1
    for cfg in "${VCONFIGS[@]}"; do view_pass "${cfg}"; done   # warm-up, not measured
    n=${#VCONFIGS[@]}
    for (( round = 1; round <= VROUNDS; round++ )); do
      printf 'view round %d/%d' "${round}" "${VROUNDS}"
      for (( k = 0; k < n; k++ )); do
        cfg=${VCONFIGS[$(( (k + round - 1) % n ))]}
        t0=${EPOCHREALTIME}
        view_pass "${cfg}" "${VPASSES}"
        t1=${EPOCHREALTIME}
        v=$(elapsed "${t0}" "${t1}")
        printf '%s\topens\t%s\t%s\n' "${cfg}" "${round}" "${v}" >> "${VRESULTS}"
        printf ' %s=%s' "${cfg}" "${v}"
      done
      view_mixed "${round}"
      printf ' interleaved: %s opens timed' "$(( 2 * VFILES ))"
      echo
    done
    DAEMON_PID=$(cat "${BR}/view/daemon.pid")
    fs_umount strongroom "${BR}/view/mnt"
  )
  rc=$?
  set -e
  if [[ ${rc} -ne 0 ]]; then
    [[ ${rc} -eq 130 || ${rc} -eq 143 ]] && exit "${rc}"
    log "ERROR: the view comparison failed (exit ${rc}); the end of its setup log:"
    tail -n 15 "${LOGS}/view.log" >&2 || true
    echo "view comparison failed (exit ${rc})" >> "${FAILURES}"
    while read -r m; do [[ -n ${m} ]] && force_unmount "${m}"; done < <(mounts_under "${BR}/view" | sort -r)
  fi

  python3 - "${VRESULTS}" "$(( VFILES * VPASSES ))" "${VUSER_UID}" "${VOPENS}" > "${VTABLE}" <<'PY'
import statistics, sys
results, nfiles, uid, opens = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data, rounds = {}, {}
for line in open(results):
    cfg, w, rnd, v = line.rstrip("\n").split("\t")
    data.setdefault(cfg, []).append(float(v))
    rounds[(cfg, rnd)] = float(v)
def cell(cfg):
    v = data.get(cfg)
    if not v: return "FAILED"
    rates = sorted(nfiles / x for x in v)
    return f"{statistics.median(rates):,.0f} ({rates[0]:,.0f}-{rates[-1]:,.0f})"
out = [f"View-only mode: opens by the allow-listed viewer as uid {uid}",
       "  read = files under `read`; view = the same number of files under `view` (viewer checked on every open)",
       "  runs: each round one run over each folder (xargs viewer -q), opens/s median (min-max over the rounds);",
       "    view/read = time ratio of the medians (> 1.00 = view is slower); in brackets the per-round ratios",
       "    (each view run against the read run next to it): median, min-max",
       "  per open: one run per round over both folders' files interleaved file by file, each open (open,",
       "    read, close) timed by the viewer, so that load on the machine falls on both alike; view/read =",
       "    ratio of the median times (and of the means; min-max of the per-round ratios of medians)",
       "  target: view/read <= 1.10",
       "",
       f"  {'workload':<44} {'read':>24} {'view':>24} {'view/read':>34}"]
r, v = data.get("read"), data.get("view")
ratio = "-"
flag = ""
if r and v:
    m = statistics.median(v) / statistics.median(r)
    per = sorted(rounds[("view", k[1])] / rounds[("read", k[1])] for k in rounds if k[0] == "read" and ("view", k[1]) in rounds)
    ratio = f"{m:.3f} ({statistics.median(per):.3f}, {per[0]:.2f}-{per[-1]:.2f})"
    flag = "  ok" if m <= 1.10 else "  over 10%"
out.append(f"  {f'runs of {nfiles} opens, opens/s':<44} {cell('read'):>24} {cell('view'):>24} {ratio:>34}{flag}")
# Each open timed by the viewer, the two folders' files interleaved file by
# file: load on the machine hits both alike.
per = {"read": {}, "view": {}}
for line in open(opens):
    cfg, rnd, ns = line.rstrip("\n").split("\t")
    per[cfg].setdefault(rnd, []).append(int(ns) / 1000.0)
allv = {c: [x for r in per[c].values() for x in r] for c in per}
if allv["read"] and allv["view"]:
    def us(c, f):
        return f(allv[c])
    rr = sorted(statistics.median(per["view"][k]) / statistics.median(per["read"][k]) for k in per["read"] if k in per["view"])
    m = us("view", statistics.median) / us("read", statistics.median)
    mean = us("view", statistics.mean) / us("read", statistics.mean)
    cellr = f"{us('read', statistics.median):.1f} us (mean {us('read', statistics.mean):.1f})"
    cellv = f"{us('view', statistics.median):.1f} us (mean {us('view', statistics.mean):.1f})"
    flag = "  ok" if m <= 1.10 else "  over 10%"
    out.append(f"  {'per open, interleaved file by file':<44} {cellr:>24} {cellv:>24} "
               f"{f'{m:.3f} (mean {mean:.3f}; {rr[0]:.2f}-{rr[-1]:.2f})':>34}{flag}")
    out.append(f"  ({len(allv['read'])} + {len(allv['view'])} opens timed by the viewer: open, reads of 4 KiB and close)")
print("\n".join(out))
PY
  echo
  cat "${VTABLE}"
fi

OUT=${BENCH_OUT:-${ROOT}/build/bench}
mkdir -p -- "${OUT}"
stamp=$(date +%Y%m%d-%H%M%S)
{ cat "${HEADER}"; echo; cat "${TABLE}"
  if [[ -s ${PTABLE} ]]; then echo; cat "${PTABLE}"; fi
  if [[ -s ${ATABLE} ]]; then echo; cat "${ATABLE}"; fi
  if [[ -s ${VTABLE} ]]; then echo; cat "${VTABLE}"; fi; } > "${OUT}/bench-${stamp}.txt"
cat -- "${RESULTS}" "${PRESULTS}" "${ARESULTS}" "${VRESULTS}" > "${OUT}/bench-${stamp}.tsv"
echo
echo "saved: ${OUT}/bench-${stamp}.txt and .tsv"

if [[ -s ${FAILURES} ]]; then
  log "ERROR: some runs failed:"; cat "${FAILURES}" >&2
  exit 1
fi
