#!/usr/bin/env bash
# Demo: installs, builds, creates a vault, mounts it, stores a few customer
# documents through the mount, reads them back, then shows that the vault on
# disk holds neither their contents nor their names. Cleans up on any exit.
#
# STRONGROOM_BIN=/path/to/strongroom uses that binary instead of building.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

if [[ $# -gt 0 ]]; then
  echo "usage: scripts/demo.sh   (no arguments; STRONGROOM_BIN=... to use a given binary)" >&2
  exit 2
fi

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
section() { printf '\n%s=== %s ===%s\n' "${B}" "$*" "${N}"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

if [[ -n ${STRONGROOM_BIN:-} ]]; then
  section "Using ${STRONGROOM_BIN} (STRONGROOM_BIN set, not building)"
  bash "${ROOT}/scripts/setup.sh"
  SR=${STRONGROOM_BIN}
else
  section "Install dependencies and build"
  bash "${ROOT}/scripts/build.sh"
  SR="${ROOT}/build/tools/strongroom"
fi
if [[ ! -x ${SR} ]]; then
  echo "demo: strongroom binary not found at ${SR}" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-demo.XXXXXX")
VAULT="${WORK}/vault"
MNT="${WORK}/mnt"
PASSFILE="${WORK}/passphrase"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if mountpoint -q -- "${MNT}" 2>/dev/null; then
    echo "demo: unmounting ${MNT}" >&2
    "${SR}" umount "${MNT}" 2>/dev/null || fusermount3 -u -- "${MNT}" 2>/dev/null \
      || fusermount3 -u -z -- "${MNT}" 2>/dev/null || true
  fi
  if mountpoint -q -- "${MNT}" 2>/dev/null; then
    echo "demo: ${MNT} is still mounted; leaving ${WORK} in place" >&2
  else
    rm -rf --one-file-system -- "${WORK}"
  fi
  if [[ ${rc} -ne 0 ]]; then
    echo "demo: FAILED (exit ${rc})" >&2
  fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "Create a vault"
mkdir -m 0700 -p "${MNT}"
( umask 077; printf '%s\n' "demo passphrase $(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" > "${PASSFILE}" )
chmod 0600 "${PASSFILE}"
run "${SR}" init --passfile "${PASSFILE}" "${VAULT}"

section "Mount it"
run "${SR}" mount --passfile "${PASSFILE}" "${VAULT}" "${MNT}"
mountpoint -- "${MNT}"

# Names and contents that must never appear in the vault on disk.
MARKERS=(
  CUSTOMER-ACME-CONTRACT
  CUSTOMER-GLOBEX-PASSPORT
  CUSTOMER-INITECH-STATEMENT
  DE89370400440532013000
  acme-corporation
  globex-industries
  master-services-agreement
  passport-scan-jane-doe
  bank-statements-2026
)

section "Store customer documents through the mount"
mkdir -p "${MNT}/clients/acme-corporation/contracts" \
         "${MNT}/clients/globex-industries/id-copies" \
         "${MNT}/clients/initech/bank-statements-2026"
cat > "${MNT}/clients/acme-corporation/contracts/master-services-agreement.txt" <<'DOC'
CUSTOMER-ACME-CONTRACT
Master Services Agreement between Strongroom Demo Ltd and ACME Corporation.
Term: 2026-01-01 to 2028-12-31. Fee: EUR 120,000 per year.
DOC
cat > "${MNT}/clients/globex-industries/id-copies/passport-scan-jane-doe.txt" <<'DOC'
CUSTOMER-GLOBEX-PASSPORT
Passport copy of Jane Doe, director of Globex Industries. No. X1234567.
DOC
cat > "${MNT}/clients/initech/bank-statements-2026/january.csv" <<'DOC'
date,description,amount,iban
2026-01-05,CUSTOMER-INITECH-STATEMENT opening balance,10000.00,DE89370400440532013000
2026-01-17,wire transfer,-2500.00,DE89370400440532013000
DOC
echo "wrote 3 documents in 6 folders"

section "List them through the mount"
run ls -lR "${MNT}"

section "Read them back through the mount"
while IFS= read -r -d '' f; do
  printf -- '--- %s\n' "${f#"${MNT}"/}"
  cat -- "${f}"
done < <(find "${MNT}" -type f -print0 | sort -z)

section "What is on disk: the backing tree ${VAULT}/tree"
run find "${VAULT}/tree" -printf '%M %8s  %P\n'
# The largest file in the tree: one of the documents, not a .dirid.
sample=$(find "${VAULT}/tree" -mindepth 2 -type f -printf '%s\t%p\n' | sort -rn | head -n 1 | cut -f2-)
if [[ -n ${sample} ]]; then
  section "First 96 bytes of one encrypted file (${sample#"${VAULT}"/})"
  od -A x -t x1z -N 96 -- "${sample}"
fi
section "Everything else in the vault"
run ls -la "${VAULT}"

scan_vault() {
  local found=0 m hits
  for m in "${MARKERS[@]}"; do
    # File contents (databases and their -wal/-shm included, read as text) ...
    hits=$(grep -r -a -l -F -- "${m}" "${VAULT}" 2>/dev/null || true)
    # ... and file and directory names.
    hits+=$(find "${VAULT}" -name "*${m}*" -printf ' name:%P' 2>/dev/null || true)
    if [[ -n ${hits} ]]; then
      printf '  %-28s FOUND: %s\n' "${m}" "$(echo "${hits}" | tr '\n' ' ')"
      found=1
    else
      printf '  %-28s absent\n' "${m}"
    fi
  done
  return "${found}"
}

section "Search the whole vault (names and contents of tree/, strongroom.conf, strongroom.db*) for the plaintext"
ls -1 "${VAULT}" | sed 's/^/  vault contains: /'
leak=0
scan_vault || leak=1

section "Unmount"
run "${SR}" umount "${MNT}"
if mountpoint -q -- "${MNT}"; then
  echo "demo: ${MNT} is still mounted after umount" >&2
  exit 1
fi

section "Search again after unmount (databases checkpointed)"
scan_vault || leak=1

if [[ ${leak} -ne 0 ]]; then
  echo "demo: FAILED: plaintext names or contents found in the vault" >&2
  exit 1
fi
section "Done: the documents were readable through the mount only; the vault holds none of their names or contents"
