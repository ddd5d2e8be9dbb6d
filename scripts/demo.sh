#!/usr/bin/env bash
# Demo: installs, builds, creates a vault with its first admin and mounts it.
# The admin adds root, a lead, two staff members and a team, and gives the lead
# `manage` on a client folder; the lead grants one staff member write and the
# other read; each user (run as their own uid with setpriv) sees and does only
# what their grants allow; a staff member asks for more access and the lead
# approves it. A staff member with `view` on ID copies reads them in the
# allow-listed viewer, while cat, cp and a copy of the viewer are refused and
# recorded. An auditor queries the audit log. The lead puts contracts under a
# retention hold and asks for the destruction of old notes, which two
# auditors witness; the certificate is printed and verified. Then it shows that the vault
# on disk holds neither the documents' contents nor their names (audit log
# included), unmounts, and verifies the audit log's chain with the auditors'
# initial key, which `init` wrote to a file. Cleans up on any exit and exits
# non-zero when anything does not behave as shown.
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
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

# The demo's people. They need no account in /etc/passwd: the vault knows
# them by uid, and setpriv runs commands as that uid.
ADMIN=dora ADMIN_UID=4301      # admin: users, teams, who leads what
LEAD=lena LEAD_UID=4302        # lead of /clients/acme
WRITER=sam WRITER_UID=4303     # staff
READER=rita READER_UID=4304    # staff
AUDITOR=alex AUDITOR_UID=4305  # auditor: reads the audit log, keeps its initial key
VIEWER=vera VIEWER_UID=4306    # staff with view-only access to ID copies
AUDITOR2=ava AUDITOR2_UID=4307 # auditor: the second witness of a destruction
uid_of() {
  case "$1" in
    "${ADMIN}") echo "${ADMIN_UID}" ;;
    "${LEAD}") echo "${LEAD_UID}" ;;
    "${WRITER}") echo "${WRITER_UID}" ;;
    "${READER}") echo "${READER_UID}" ;;
    "${AUDITOR}") echo "${AUDITOR_UID}" ;;
    "${VIEWER}") echo "${VIEWER_UID}" ;;
    "${AUDITOR2}") echo "${AUDITOR2_UID}" ;;
    root) echo 0 ;;
    *) fail "unknown demo user $1" ;;
  esac
}
# as NAME CMD...: shows CMD and runs it as that user (uid and gid, no groups).
as() {
  local who=$1 u
  u=$(uid_of "$1"); shift
  printf '%s[%s, uid %s]$%s' "${B}" "${who}" "${u}" "${N}"
  if [[ $# -eq 3 && $1 == sh && $2 == -c ]]; then printf ' %s\n' "$3"; else printf ' %q' "$@"; printf '\n'; fi
  if [[ ${u} -eq 0 ]]; then
    (cd / && "$@")
  else
    (cd / && setpriv --reuid "${u}" --regid "${u}" --clear-groups -- "$@")
  fi
}
# refused TEXT NAME CMD...: runs CMD as NAME; it must fail with TEXT in its output.
refused() {
  local want=$1 out rc
  shift
  set +e
  out=$(as "$@" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "${out}"
  [[ ${rc} -ne 0 ]] || fail "expected a refusal (${want}) but it succeeded: $*"
  [[ ${out} == *"${want}"* ]] || fail "expected \"${want}\" from: $*"
  printf '  -> refused, as it should be (%s)\n' "${want}"
}
# sees NAME DIR EXPECTED...: NAME lists DIR and must see exactly EXPECTED.
sees() {
  local who=$1 dir=$2 got
  shift 2
  as "${who}" ls -1 "${dir}"
  got=$(cd / && setpriv --reuid "$(uid_of "${who}")" --regid "$(uid_of "${who}")" --clear-groups -- ls -1 "${dir}" | tr '\n' ' ')
  [[ ${got} == "$* " ]] || fail "${who} should see '$*' in ${dir}, sees '${got}'"
}

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
# The minimal document viewer the test suite builds (no export, no printing;
# it shows the text only on a terminal), allow-listed for view-only files.
TEST_VIEWER=${STRONGROOM_TEST_VIEWER:-$(dirname -- "$(dirname -- "${SR}")")/tests/integration/sr-test-viewer}
if [[ ! -x ${TEST_VIEWER} ]]; then
  echo "demo: the test viewer was not found at ${TEST_VIEWER} (scripts/build.sh builds it; or set STRONGROOM_TEST_VIEWER)" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/strongroom-demo.XXXXXX")
VAULT="${WORK}/vault"
MNT="${WORK}/mnt"
PASSFILE="${WORK}/passphrase"
# The auditors' initial audit key: in real life it leaves the server at once
# (docs/auditing.md); here it stays in the demo's temp dir, outside the vault.
AUDIT_KEY="${WORK}/auditors/audit-initial-key"

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

section "Create a vault; its first admin is ${ADMIN} (uid ${ADMIN_UID})"
# Other users must reach the mountpoint; the vault itself stays mode 0700.
chmod 0711 "${WORK}"
mkdir -m 0755 -p "${MNT}"
( umask 077; printf '%s\n' "demo passphrase $(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" > "${PASSFILE}" )
chmod 0600 "${PASSFILE}"
mkdir -m 0700 -p "${WORK}/auditors"
run "${SR}" init --passfile "${PASSFILE}" --admin "${ADMIN}" --uid "${ADMIN_UID}" \
  --audit-key-out "${AUDIT_KEY}" "${VAULT}"
[[ -s ${AUDIT_KEY} ]] || fail "init did not write the auditors' key to ${AUDIT_KEY}"

section "Mount it"
run "${SR}" mount --passfile "${PASSFILE}" "${VAULT}" "${MNT}"
mountpoint -- "${MNT}"

section "A fresh vault grants nobody anything, root included"
refused "Permission denied" root ls "${MNT}"

section "The admin adds the users and a team, and gives root manage on the whole vault"
as "${ADMIN}" "${SR}" whoami --mount "${MNT}"
as "${ADMIN}" "${SR}" user add root --uid 0 --mount "${MNT}"
as "${ADMIN}" "${SR}" grant "${MNT}" root manage
as "${ADMIN}" "${SR}" user add "${LEAD}" --mount "${MNT}" --uid "${LEAD_UID}"
as "${ADMIN}" "${SR}" user add "${WRITER}" --mount "${MNT}" --uid "${WRITER_UID}"
as "${ADMIN}" "${SR}" user add "${READER}" --mount "${MNT}" --uid "${READER_UID}"
as "${ADMIN}" "${SR}" user add "${AUDITOR}" --mount "${MNT}" --uid "${AUDITOR_UID}" --role auditor
as "${ADMIN}" "${SR}" user add "${VIEWER}" --mount "${MNT}" --uid "${VIEWER_UID}"
as "${ADMIN}" "${SR}" user add "${AUDITOR2}" --mount "${MNT}" --uid "${AUDITOR2_UID}" --role auditor
as "${ADMIN}" "${SR}" team add acme-team --mount "${MNT}"
as "${ADMIN}" "${SR}" team member add acme-team "${WRITER}" --mount "${MNT}"
as "${ADMIN}" "${SR}" team member add acme-team "${READER}" --mount "${MNT}"
as "${ADMIN}" "${SR}" user list --mount "${MNT}"
as "${ADMIN}" "${SR}" team list --mount "${MNT}"
echo "Separation of duties: nobody grants to themselves."
refused "strongroom:" "${ADMIN}" "${SR}" grant "${MNT}" "${ADMIN}" read

# Names and contents that must never appear in the vault on disk.
MARKERS=(
  CUSTOMER-ACME-CONTRACT
  CUSTOMER-ACME-MEETING-NOTE
  CUSTOMER-ACME-OLD-MINUTES
  CUSTOMER-GLOBEX-PASSPORT
  CUSTOMER-INITECH-STATEMENT
  DE89370400440532013000
  globex-industries
  master-services-agreement
  passport-scan-jane-doe
  bank-statements-2026
  meeting-2026-02-03
)

section "Root stores customer documents through the mount"
mkdir -p "${MNT}/clients/acme/contracts" \
         "${MNT}/clients/acme/notes" \
         "${MNT}/clients/globex-industries/id-copies" \
         "${MNT}/clients/initech/bank-statements-2026"
cat > "${MNT}/clients/acme/contracts/master-services-agreement.txt" <<'DOC'
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
echo "wrote 3 documents in 7 folders"
run ls -lR "${MNT}"

section "The admin sees every folder, but no file, without a grant from someone else"
as "${ADMIN}" ls "${MNT}/clients"
as "${ADMIN}" ls "${MNT}/clients/acme/contracts"
refused "No such file or directory" "${ADMIN}" cat "${MNT}/clients/acme/contracts/master-services-agreement.txt"

section "The admin makes ${LEAD} the lead of /clients/acme"
as "${ADMIN}" "${SR}" grant "${MNT}/clients/acme" "${LEAD}" manage
as "${LEAD}" "${SR}" whoami --mount "${MNT}"

section "The lead gives ${WRITER} write and ${READER} read on /clients/acme"
as "${LEAD}" "${SR}" grant "${MNT}/clients/acme" "${WRITER}" write
as "${LEAD}" "${SR}" grant "${MNT}/clients/acme" "${READER}" read --until 2099-12-31
as "${LEAD}" "${SR}" grant "${MNT}/clients/acme/contracts" @acme-team read
echo "A lead grants only inside what they lead:"
refused "strongroom:" "${LEAD}" "${SR}" grant "${MNT}/clients/initech" "${WRITER}" read
as "${LEAD}" "${SR}" access "${MNT}/clients/acme"

section "${WRITER} (write): sees the way to acme and nothing beside it, reads and writes there"
sees "${WRITER}" "${MNT}" clients
sees "${WRITER}" "${MNT}/clients" acme
as "${WRITER}" ls -l "${MNT}/clients/acme"
as "${WRITER}" cat "${MNT}/clients/acme/contracts/master-services-agreement.txt"
as "${WRITER}" sh -c "printf 'CUSTOMER-ACME-MEETING-NOTE\nKick-off with ACME on 2026-02-03.\n' > '${MNT}/clients/acme/notes/meeting-2026-02-03.txt'"
as "${WRITER}" cat "${MNT}/clients/acme/notes/meeting-2026-02-03.txt"
echo "A folder without a grant is not there at all for ${WRITER}:"
refused "No such file or directory" "${WRITER}" ls "${MNT}/clients/globex-industries"
refused "No such file or directory" "${WRITER}" cat "${MNT}/clients/globex-industries/id-copies/passport-scan-jane-doe.txt"

section "${READER} (read): reads, but may not write"
sees "${READER}" "${MNT}/clients" acme
as "${READER}" cat "${MNT}/clients/acme/notes/meeting-2026-02-03.txt"
refused "Permission denied" "${READER}" sh -c "echo 'edited' >> '${MNT}/clients/acme/notes/meeting-2026-02-03.txt'"
refused "Permission denied" "${READER}" touch "${MNT}/clients/acme/notes/new.txt"
refused "No such file or directory" "${READER}" ls "${MNT}/clients/initech"
echo "What ${READER} may see of the grants (staff see only their own entry):"
as "${READER}" "${SR}" access "${MNT}/clients/acme"

section "${READER} asks for write; the lead approves; it takes effect at once"
req_out=$(as "${READER}" "${SR}" request "${MNT}/clients/acme/notes" write --reason "taking the minutes of the ACME meetings")
printf '%s\n' "${req_out}"
req_id=$(printf '%s\n' "${req_out}" | sed -n 's/.*(request \([0-9][0-9]*\),.*/\1/p' | tail -n 1)
[[ -n ${req_id} ]] || fail "no request id in: ${req_out}"
echo "Nobody approves their own request:"
refused "strongroom:" "${READER}" "${SR}" approve --mount "${MNT}" "${req_id}"
as "${LEAD}" "${SR}" requests --mount "${MNT}"
as "${LEAD}" "${SR}" approve --mount "${MNT}" "${req_id}" --reason "ok until the project ends"
as "${READER}" sh -c "echo 'Minutes: contract renewal agreed.' >> '${MNT}/clients/acme/notes/meeting-2026-02-03.txt'"
as "${READER}" cat "${MNT}/clients/acme/notes/meeting-2026-02-03.txt"
as "${LEAD}" "${SR}" access "${MNT}/clients/acme/notes"

section "The lead revokes ${WRITER}'s grant; it takes effect at once"
as "${LEAD}" "${SR}" revoke "${MNT}/clients/acme" "${WRITER}"
echo "${WRITER} keeps only the team's read on contracts: acme is now just the way there."
sees "${WRITER}" "${MNT}/clients/acme" contracts
refused "No such file or directory" "${WRITER}" cat "${MNT}/clients/acme/notes/meeting-2026-02-03.txt"
refused "Permission denied" "${WRITER}" touch "${MNT}/clients/acme/contracts/draft.txt"
as "${WRITER}" "${SR}" access --user "${WRITER}" --mount "${MNT}"

section "View-only: ${VIEWER} may look at ID copies in an allow-listed viewer, and copy nothing"
echo "Root installs a minimal viewer root-owned, setgid to the vault's viewer group, in a directory only root writes:"
mkdir -m 0755 "${WORK}/viewers"
run install -o root -g strongroom-viewers -m 2755 "${TEST_VIEWER}" "${WORK}/viewers/docview"
run ls -l "${WORK}/viewers/docview"
echo "The admin allow-lists it (the daemon checks the program and records its SHA-256):"
as "${ADMIN}" "${SR}" viewer add "${WORK}/viewers/docview" --mount "${MNT}"
as "${ADMIN}" "${SR}" viewer list --mount "${MNT}"
echo "A shell (or any interpreter, copying tool or file server) is never a viewer:"
install -o root -g strongroom-viewers -m 2755 /bin/bash "${WORK}/viewers/bash"
refused "strongroom:" "${ADMIN}" "${SR}" viewer add "${WORK}/viewers/bash" --mount "${MNT}"
rm -f "${WORK}/viewers/bash"
as "${ADMIN}" "${SR}" grant "${MNT}/clients/globex-industries/id-copies" "${VIEWER}" view
PASSPORT="${MNT}/clients/globex-industries/id-copies/passport-scan-jane-doe.txt"
echo "${VIEWER} sees the file and opens it in the viewer:"
as "${VIEWER}" ls -l "${MNT}/clients/globex-industries/id-copies"
as "${VIEWER}" "${WORK}/viewers/docview" "${PASSPORT}"
echo "Any other program is refused, and so is a copy of the viewer without its setgid bit:"
refused "Permission denied" "${VIEWER}" cat "${PASSPORT}"
refused "Permission denied" "${VIEWER}" cp "${PASSPORT}" /tmp/stolen-passport.txt
[[ ! -e /tmp/stolen-passport.txt ]] || fail "cp made a copy of a view-only file"
install -m 0755 "${TEST_VIEWER}" "${WORK}/viewer-copy"
refused "Permission denied" "${VIEWER}" "${WORK}/viewer-copy" "${PASSPORT}"
rm -f "${WORK}/viewer-copy"
echo "Nor may ${VIEWER} change, rename or move it:"
refused "Permission denied" "${VIEWER}" sh -c "echo x >> '${PASSPORT}'"
refused "Permission denied" "${VIEWER}" mv "${PASSPORT}" "${MNT}/clients/globex-industries/id-copies/renamed.txt"
echo "Every refusal is in the audit log, naming the program:"
as "${AUDITOR}" "${SR}" audit --mount "${MNT}" --path "${PASSPORT}" --denied --limit 6
copy_json=$(cd / && setpriv --reuid "${AUDITOR_UID}" --regid "${AUDITOR_UID}" --clear-groups -- \
  "${SR}" audit --mount "${MNT}" --path "${PASSPORT}" --denied --json --limit 100)
[[ ${copy_json} == *"copy refused"* && ${copy_json} == *"/cp"* ]] || fail "the audit log does not show the refused cp"

section "The auditor ${AUDITOR} reads the audit log (every open, change and refusal is recorded)"
echo "The last changes to the policy:"
as "${AUDITOR}" "${SR}" audit --mount "${MNT}" --op policy.revoke --limit 3
echo "What ${WRITER} did in /clients/acme:"
as "${AUDITOR}" "${SR}" audit --mount "${MNT}" --user "${WRITER}" --path "${MNT}/clients/acme" --limit 5
echo "Refused calls:"
as "${AUDITOR}" "${SR}" audit --mount "${MNT}" --denied --limit 5
denied_json=$(cd / && setpriv --reuid "${AUDITOR_UID}" --regid "${AUDITOR_UID}" --clear-groups -- \
  "${SR}" audit --mount "${MNT}" --denied --json --limit 100)
[[ ${denied_json} == *"${READER}"* ]] || fail "the audit log does not show ${READER}'s refused write"
echo "Staff do not read the audit log:"
refused "strongroom:" "${WRITER}" "${SR}" audit --mount "${MNT}" --limit 1

section "Retention: ${LEAD} puts the acme contracts under a hold; nobody deletes or changes them until then"
HOLD_UNTIL=$(date -d '+2 years' +%Y-%m-%d)
as "${LEAD}" "${SR}" retain "${MNT}/clients/acme/contracts" --until "${HOLD_UNTIL}"
refused "Permission denied" root rm "${MNT}/clients/acme/contracts/master-services-agreement.txt"
refused "Permission denied" root sh -c "echo changed > '${MNT}/clients/acme/contracts/master-services-agreement.txt'"
echo "Lifting it before its date needs a witness:"
refused "needs a witness" "${LEAD}" "${SR}" release "${MNT}/clients/acme/contracts"
echo "Nor can it be destroyed while held:"
refused "retention hold" "${LEAD}" "${SR}" destroy request "${MNT}/clients/acme/contracts" --reason "tidy up"

section "Witnessed destruction: ${LEAD} asks for old notes to be destroyed; two auditors witness it"
as "${ADMIN}" "${SR}" config set witnesses 2 --mount "${MNT}"
mkdir -p "${MNT}/clients/acme/notes/2014"
printf 'CUSTOMER-ACME-OLD-MINUTES\nBoard minutes of 2014.\n' > "${MNT}/clients/acme/notes/2014/minutes.txt"
head -c 200000 /dev/urandom > "${MNT}/clients/acme/notes/2014/scan.pdf"
request_json=$(cd / && setpriv --reuid "${LEAD_UID}" --regid "${LEAD_UID}" --clear-groups -- \
  "${SR}" destroy request "${MNT}/clients/acme/notes/2014" --reason "10-year retention ended (policy 4.2)" --json)
DESTROY_ID=$(printf '%s' "${request_json}" | sed -n 's/^  "id": \([0-9]*\),$/\1/p')
[[ -n ${DESTROY_ID} ]] || fail "destroy request printed no id"
echo "${LEAD} requested destruction ${DESTROY_ID} of /clients/acme/notes/2014; its files are frozen now:"
refused "Permission denied" root sh -c "echo more >> '${MNT}/clients/acme/notes/2014/minutes.txt'"
refused "Permission denied" root mv "${MNT}/clients/acme/notes/2014" "${MNT}/clients/acme/notes/kept"
echo "Staff cannot ask, and nobody witnesses their own request:"
refused "strongroom:" "${WRITER}" "${SR}" destroy request "${MNT}/clients/acme/notes" --reason "mine" --mount "${MNT}"
refused "their own request" "${LEAD}" "${SR}" destroy approve "${DESTROY_ID}" --mount "${MNT}"
as "${AUDITOR}" "${SR}" destroy list --mount "${MNT}"
as "${AUDITOR}" "${SR}" destroy show "${DESTROY_ID}" --mount "${MNT}"
as "${AUDITOR}" "${SR}" destroy approve "${DESTROY_ID}" --mount "${MNT}"
as "${AUDITOR2}" "${SR}" destroy approve "${DESTROY_ID}" --mount "${MNT}"
[[ ! -e ${MNT}/clients/acme/notes/2014 ]] || fail "the destroyed folder is still there"

section "The certificate of destruction ${DESTROY_ID}"
as "${LEAD}" "${SR}" destroy certificate "${DESTROY_ID}" --mount "${MNT}"
CERT_FILE="${WORK}/auditors/certificate-${DESTROY_ID}.json"
(cd / && setpriv --reuid "${AUDITOR_UID}" --regid "${AUDITOR_UID}" --clear-groups -- \
  "${SR}" destroy certificate "${DESTROY_ID}" --json --mount "${MNT}") > "${CERT_FILE}"
echo "The auditor keeps it (${CERT_FILE}) and checks it on the mounted vault:"
as "${AUDITOR}" "${SR}" destroy certificate "${DESTROY_ID}" --verify --mount "${MNT}"

section "Root lists everything through the mount"
run ls -lR "${MNT}"

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

section "Operations: what is mounted, a backup while mounted (changes paused, reads go on), a check through the daemon"
run "${SR}" status
run "${SR}" backup "${VAULT}" "${WORK}/backup-1"
as "${ADMIN}" "${SR}" fsck "${MNT}"

section "Search the whole vault (names and contents of tree/, strongroom.conf, strongroom.db*, strongroom-audit.db*) for the plaintext"
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

section "Key slots: a second way in (a key file for the safe), then a rekey of every key; the backup still opens with the old ones"
run "${SR}" keyslot add "${VAULT}" --passfile "${PASSFILE}" --new-key-file "${WORK}/vault.key" --label "key file in the safe"
run "${SR}" keyslot list "${VAULT}"
run "${SR}" rekey "${VAULT}" --passfile "${PASSFILE}" --key-file "${WORK}/vault.key"
run "${SR}" fsck "${VAULT}" --passfile "${PASSFILE}"
echo "The backup taken before the key file was added does not know it:"
if "${SR}" fsck "${WORK}/backup-1" --key-file "${WORK}/vault.key" 2>/dev/null; then
  fail "the backup opened with a key file added after it"
fi
run "${SR}" fsck "${WORK}/backup-1" --passfile "${PASSFILE}"

section "The auditor verifies the audit log's chain with the initial key from init (no passphrase needed)"
# Run here as root, who can read the vault; an auditor would rather copy the
# audit database off the server and verify it there with the offline key.
printf '$ %q audit verify --key %q %q\n' "${SR}" "${AUDIT_KEY}" "${VAULT}"
verify_out=$("${SR}" audit verify --key "${AUDIT_KEY}" "${VAULT}" 2>&1) \
  || { printf '%s\n' "${verify_out}"; fail "audit verify failed on an intact log"; }
printf '%s\n' "${verify_out}"
[[ ${verify_out} == *"audit log verified: "* ]] || fail "unexpected output from audit verify"

section "The auditor checks the destruction certificate offline, with the same key"
run "${SR}" destroy certificate "${DESTROY_ID}" --verify --file "${CERT_FILE}" --audit-key "${AUDIT_KEY}" --vault "${VAULT}"
sed 's/"size": 200000/"size": 1/' "${CERT_FILE}" > "${WORK}/auditors/forged.json"
echo "A certificate changed afterwards (one size edited) does not verify:"
if "${SR}" destroy certificate "${DESTROY_ID}" --verify --file "${WORK}/auditors/forged.json" \
     --audit-key "${AUDIT_KEY}" --vault "${VAULT}"; then
  fail "a forged certificate verified"
fi
section "Done: each user saw and did only what their grants allowed (the view-only user only through the allow-listed viewer); records were held and destroyed only as witnessed; every step is in a verified audit log; the vault holds none of the names or contents"
