// The audit subcommands. Each leaf registers its options on the shared
// AuditState and a function that runs it.
#include "tools/audit_cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ctime>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "acl/audit_log.h"
#include "acl/audit_verify.h"
#include "acl/store.h"
#include "crypto/audit_chain.h"
#include "crypto/secret.h"
#include "tools/cli_error.h"
#include "tools/control_client.h"
#include "tools/iso_date.h"
#include "tools/mounts.h"
#include "tools/terminal_text.h"
#include "tools/vault_files.h"
#include "tools/vault_path.h"

namespace strongroom::tools {

using nlohmann::json;

struct AuditState {
  // Shared by every leaf subcommand: only one of them runs.
  bool json_output = false;
  std::string vault;
  std::string db;  // --db: the audit database itself, instead of VAULT's

  // verify
  std::string key_file;
  std::string seal;
  std::vector<std::string> archives;

  // archive
  std::string dest;
  int64_t keep = 0;

  // query and export (through the daemon)
  std::string mount, user, path, since, until, op, format = "csv", out_file;
  bool denied = false;
  bool csv = false;
  int64_t limit = 100;

  std::vector<std::pair<CLI::App*, std::function<void()>>> leaves;
};

namespace {

using State = AuditState;

// A key file is 64 hex digits and a newline; anything much longer is not one.
constexpr size_t kMaxKeyFileSize = 4096;


std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// K_0 from a file holding its 64 hex digits (whitespace around allowed).
// The file's bytes are wiped once decoded.
crypto::SecretKey ReadAuditKey(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    Fail(err == ENOENT ? kNotFound : kUsage,
         "cannot read the audit key file " + EscapeForTerminal(path) + ": " + std::strerror(err));
  }
  std::string text(kMaxKeyFileSize + 1, '\0');
  size_t got = 0;
  int read_errno = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) read_errno = errno;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  crypto::SecretKey key(crypto::audit::kKeySize);
  const bool ok = read_errno == 0 && got <= kMaxKeyFileSize &&
                  crypto::HexDecode(TrimSpace(std::string_view(text.data(), got)), {key.data(), key.size()});
  crypto::Wipe(text.data(), text.size());
  if (read_errno != 0) {
    Fail(kUsage, "cannot read the audit key file " + EscapeForTerminal(path) + ": " + std::strerror(read_errno));
  }
  if (!ok) Fail(kUsage, "the audit key file must hold 64 hex digits");
  return key;
}

// --seal N:DIGEST, as the daemon logs it ("strongroom audit seal N:DIGEST").
acl::AuditSeal ParseSeal(const std::string& text) {
  static const std::string kUsageText = "--seal must be N:DIGEST (a record number and 64 hex digits)";
  const size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 20) Fail(kUsage, kUsageText);
  acl::AuditSeal seal;
  for (size_t i = 0; i < colon; ++i) {
    const char c = text[i];
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (c < '0' || c > '9' || seal.seq > (UINT64_MAX - digit) / 10) Fail(kUsage, kUsageText);
    seal.seq = seal.seq * 10 + digit;
  }
  if (seal.seq == 0) Fail(kUsage, "--seal names record 0: records are numbered from 1");
  if (!crypto::HexDecode(std::string_view(text).substr(colon + 1), seal.digest)) Fail(kUsage, kUsageText);
  return seal;
}

// The audit database named by --db, else VAULT's: in the vault, or where
// init --audit-db put it (the policy store's meta names it; reading it needs
// no passphrase).
std::string AuditDbPath(const State& s) {
  if (!s.db.empty()) return s.db;
  if (s.vault.empty()) Fail(kUsage, "give the VAULT directory or --db PATH");
  const VaultPaths paths = FindVault(s.vault);
  struct stat st;
  if (::lstat(paths.audit().c_str(), &st) == 0) return paths.audit();
  const crypto::VaultConfig config = LoadConfig(paths);
  Result<std::unique_ptr<acl::Store>> store = acl::OpenSqliteStore(paths.store(), config.vault_id());
  if (!store.ok()) {
    Fail(kIntegrity, "the audit database is not in the vault and the policy store, which says where it is, cannot be "
                     "read (" + store.status().message() + "); while the vault is mounted, give --db PATH");
  }
  if (Result<std::string> where = (*store)->GetMeta("audit_db"); where.ok() && !where->empty()) return *where;
  return paths.audit();
}

CLI::App* Leaf(State* s, CLI::App* parent, const std::string& name, const std::string& description,
               std::function<void()> run) {
  CLI::App* cmd = parent->add_subcommand(name, description);
  cmd->add_flag("--json", s->json_output, "Print the result as JSON");
  auto* vault = cmd->add_option("VAULT", s->vault, "Vault directory (its audit database is read)");
  auto* db = cmd->add_option("--db", s->db, "The audit database itself, instead of VAULT's")->type_name("PATH");
  vault->excludes(db);
  db->excludes(vault);
  s->leaves.emplace_back(cmd, std::move(run));
  return cmd;
}

void Verify(const State& s) {
  const std::string path = AuditDbPath(s);
  const crypto::SecretKey k0 = ReadAuditKey(s.key_file);
  std::optional<acl::AuditSeal> seal;
  if (!s.seal.empty()) seal = ParseSeal(s.seal);

  const Result<acl::AuditVerifyReport> result = acl::VerifyAuditLog(path, k0, seal, s.archives);
  if (!result.ok()) Fail(result.status());
  const acl::AuditVerifyReport& r = *result;
  if (s.json_output) {
    json out = {{"ok", r.ok},
                {"records", r.records},
                {"epochs", r.epochs},
                {"first_seq", r.first_seq},
                {"segments", r.segments},
                {"written_ahead", r.written_ahead}};
    out["problem"] = r.ok ? json(nullptr) : json(r.problem);
    out["first_bad_seq"] = r.ok ? json(nullptr) : json(r.first_bad_seq);
    std::cout << out.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  } else if (r.ok) {
    std::cout << "audit log verified: " << r.records << " records in " << r.epochs << " epochs";
    if (r.segments > 0) std::cout << ", " << r.segments << " sealed segments";
    if (r.written_ahead > 0) std::cout << " (" << r.written_ahead << " of them in the write-ahead file)";
    std::cout << "\n";
    if (r.first_seq > 1) {
      std::cout << "from record " << r.first_seq << " on: records 1 to " << r.first_seq - 1
                << " are in archived segments not given here (add --archive DIR to check them and the join)\n";
    }
  }
  std::cout.flush();
  if (!r.ok) Fail(kIntegrity, "audit log verification failed: " + r.problem);
  // For `strongroom status` (best effort: verify itself needs no write access).
  acl::AuditVerifiedMark mark;
  mark.time = static_cast<int64_t>(::time(nullptr));
  mark.records = r.records;
  mark.uid = ::getuid();
  (void)acl::WriteAuditVerifiedMark(path, mark);
}

void RegisterVerify(State* s, CLI::App* audit) {
  auto* verify = Leaf(s, audit, "verify",
                      "Check the audit log's MAC chain with the auditors' initial key: reports the first record "
                      "edited, deleted, inserted or reordered",
                      [s] { Verify(*s); });
  verify->add_option("--key", s->key_file, "File holding the initial audit key (64 hex digits) shown at init")
      ->type_name("FILE")
      ->required();
  verify->add_option("--seal", s->seal, "A seal from the daemon's log, to detect a truncated tail")
      ->type_name("N:DIGEST");
  verify->add_option("--archive", s->archives, "A directory of archived segments (audit archive DEST); repeatable")
      ->type_name("DIR")
      ->allow_extra_args(false);
}

// Copies `from` to `to` (which must not exist) and syncs it.
void CopyFileDurably(const std::string& from, const std::string& to) {
  Status st = acl::CopyFileSynced(from, to);
  if (!st.ok()) {
    Fail(st.code() == Status::Code::kExists ? kConflict : kInternal,
         "cannot copy " + EscapeForTerminal(from) + " to " + EscapeForTerminal(to) + ": " + st.message());
  }
}

// Moves sealed segments (all but the newest --keep) to DEST: renamed when
// DEST is on the same filesystem, else copied, synced, and only then
// removed. Recorded in the log when the vault is mounted.
void Archive(const State& s) {
  const std::string db_path = AuditDbPath(s);
  struct stat st;
  if (::stat(s.dest.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    Fail(kNotFound, "the archive directory " + EscapeForTerminal(s.dest) + " does not exist");
  }
  if (s.keep < 0) Fail(kUsage, "--keep must be 0 or more");
  std::vector<acl::AuditSegment> segments = acl::ListAuditSegments(db_path);
  const size_t keep = std::min(segments.size(), static_cast<size_t>(s.keep));
  segments.resize(segments.size() - keep);
  if (segments.empty()) {
    std::cout << "No sealed segments to archive (the live database rotates at its size limit: strongroom config "
                 "set audit-segment-size).\n";
    return;
  }
  for (const acl::AuditSegment& seg : segments) {
    const std::string name = std::filesystem::path(seg.path).filename().string();
    const std::string to = (std::filesystem::path(s.dest) / name).string();
    if (::lstat(to.c_str(), &st) == 0) Fail(kConflict, EscapeForTerminal(to) + " already exists");
    if (::rename(seg.path.c_str(), to.c_str()) != 0) {
      if (errno != EXDEV) Fail(kInternal, "cannot move " + EscapeForTerminal(seg.path) + ": " + std::strerror(errno));
      const std::string tmp = to + ".part";
      ::unlink(tmp.c_str());
      CopyFileDurably(seg.path, tmp);
      if (::rename(tmp.c_str(), to.c_str()) != 0) Fail(kInternal, "cannot name " + EscapeForTerminal(to));
      SyncDir(s.dest);
      if (::unlink(seg.path.c_str()) != 0) Fail(kInternal, "cannot remove " + EscapeForTerminal(seg.path));
    }
    SyncDir(s.dest);
    SyncDir(std::filesystem::path(db_path).parent_path().string());
    std::cout << "archived " << EscapeForTerminal(name) << " (records " << seg.first << " to " << seg.last << ")\n";
  }
  const std::string what = "moved " + std::to_string(segments.size()) + " sealed segments (records " +
                           std::to_string(segments.front().first) + " to " + std::to_string(segments.back().last) +
                           ") to " + s.dest;
  // The mounted vault records it.
  if (!s.vault.empty()) {
    if (const std::optional<MountEntry> m = MountOfVault(FindVault(s.vault).dir)) {
      (void)CallDaemon(m->mountpoint, json{{"cmd", "audit.record"}, {"op", "audit.archive"}, {"reason", what}});
    }
  }
  std::cout << "Archived " << segments.size() << " segments to " << EscapeForTerminal(s.dest)
            << ". Keep them: verify with strongroom audit verify --key FILE --archive DIR VAULT\n";
}

void RegisterArchive(State* s, CLI::App* audit) {
  auto* archive = Leaf(s, audit, "archive",
                       "Move sealed audit segments out of the vault (e.g. to offline storage); they stay verifiable "
                       "with audit verify --archive DIR",
                       [s] { Archive(*s); });
  archive->add_option("DEST", s->dest, "The directory to move them to")->required();
  archive->add_option("--keep", s->keep, "Keep the newest N sealed segments in place (default 0)")->type_name("N");
}

// The daemon's audit.query request from the filters.
json QueryRequest(const State& s, int64_t limit) {
  json req = {{"cmd", "audit.query"}, {"limit", limit}, {"denied", s.denied}};
  if (!s.user.empty()) req["user"] = s.user;
  if (!s.op.empty()) req["op"] = s.op;
  if (!s.since.empty()) {
    auto t = ParseIsoDate(s.since);
    if (!t) Fail(kUsage, "invalid date for --since: " + s.since);
    // A date alone means its start for --since (ParseIsoDate gives the end).
    const bool date_only = s.since.size() == 10;
    req["since_us"] = (*t - (date_only ? 86399 : 0)) * 1000000;
  }
  if (!s.until.empty()) {
    auto t = ParseIsoDate(s.until);
    if (!t) Fail(kUsage, "invalid date for --until: " + s.until);
    req["until_us"] = *t * 1000000 + 999999;
  }
  return req;
}

// Which mount, and the vault path of --path.
std::string QueryMount(const State& s, json* req) {
  const std::vector<MountEntry> entries = ReadMountinfo();
  const std::string cwd = CurrentDirectory();
  const std::string mount_option = CanonicalMountOption(entries, s.mount, cwd);
  if (!s.path.empty()) {
    const VaultTarget t = ResolveVaultPath(s.path, mount_option, entries, cwd);
    (*req)["path"] = t.vault_path;
    return t.mountpoint;
  }
  return ChooseMount(entries, mount_option, cwd);
}

std::string UtcTime(int64_t time_us) {
  const time_t secs = static_cast<time_t>(time_us / 1000000);
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(time_us % 1000000));
  return buf;
}

std::string ResultText(const json& r) {
  const int err = r.value("result", 0);
  if (err == 0) return "ok";
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

// A CSV cell: quoted, quotes doubled; a cell a spreadsheet would read as a
// formula (= + - @, and tab or CR first) gets a leading apostrophe.
std::string CsvCell(const std::string& v) {
  std::string cell = v;
  if (!cell.empty() && (cell[0] == '=' || cell[0] == '+' || cell[0] == '-' || cell[0] == '@' || cell[0] == '\t' ||
                        cell[0] == '\r')) {
    cell.insert(cell.begin(), '\'');
  }
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

const char* const kColumns[] = {"seq", "time", "user", "uid", "pid", "exe", "op", "path", "path2", "access",
                                "result", "count", "reason"};

std::vector<std::string> Row(const json& r) {
  return {std::to_string(r.value("seq", 0)), UtcTime(r.value("time_us", int64_t{0})), r.value("user", ""),
          std::to_string(r.value("uid", 0)), std::to_string(r.value("pid", 0)), r.value("exe", ""),
          r.value("op", ""), r.value("path", ""), r.value("path2", ""), r.value("access", ""), ResultText(r),
          std::to_string(r.value("count", 1)), r.value("reason", "")};
}

void WriteCsv(std::ostream& out, const json& records) {
  std::string line;
  for (const char* c : kColumns) line += std::string(line.empty() ? "" : ",") + c;
  out << line << "\n";
  for (const json& r : records) {
    line.clear();
    for (const std::string& cell : Row(r)) line += (line.empty() ? "" : ",") + CsvCell(cell);
    out << line << "\n";
  }
}

void WriteJsonLines(std::ostream& out, const json& records) {
  for (const json& r : records) out << r.dump(-1, ' ', true, json::error_handler_t::replace) << "\n";
}

void Query(const State& s) {
  json req = QueryRequest(s, s.limit);
  const std::string mount = QueryMount(s, &req);
  const json result = CallDaemon(mount, req);
  const json& records = result.at("records");
  if (s.json_output) {
    std::cout << result.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  } else if (s.csv) {
    WriteCsv(std::cout, records);
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const json& r : records) {
      std::vector<std::string> row = Row(r);
      std::string path = row[7] + (row[8].empty() ? "" : " -> " + row[8]);
      rows.push_back({row[0], row[1], row[2].empty() ? "uid " + row[3] : row[2], row[6], path, row[9], row[10],
                      row[11], row[5], row[12]});
    }
    std::cout << FormatTable({"SEQ", "TIME (UTC)", "USER", "OP", "PATH", "ACCESS", "RESULT", "COUNT", "PROGRAM", "REASON"},
                             rows);
    if (records.empty()) std::cout << "No records match.\n";
  }
  std::cout.flush();
}

void Export(const State& s) {
  if (s.format != "csv" && s.format != "jsonl") Fail(kUsage, "--format is csv or jsonl");
  json req = QueryRequest(s, s.limit);
  const std::string mount = QueryMount(s, &req);
  const json result = CallDaemon(mount, req);
  const int fd = ::open(s.out_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    Fail(ExitCodeForErrno(err, kInternal), "cannot create " + EscapeForTerminal(s.out_file) + ": " + std::strerror(err));
  }
  ::close(fd);
  std::ofstream out(s.out_file, std::ios::trunc);
  if (s.format == "csv") {
    WriteCsv(out, result.at("records"));
  } else {
    WriteJsonLines(out, result.at("records"));
  }
  out.close();
  if (!out) Fail(kInternal, "cannot write " + s.out_file);
  std::cout << "Exported " << result.at("records").size() << " records to " << EscapeForTerminal(s.out_file) << "\n";
}

void AddFilters(State* s, CLI::App* cmd) {
  cmd->add_option("--user", s->user, "Records of this user")->type_name("NAME");
  cmd->add_option("--path", s->path, "Records of this folder or file and everything below it")->type_name("PREFIX");
  cmd->add_option("--since", s->since, "From this time (ISO 8601, server time zone unless an offset is given)")
      ->type_name("T");
  cmd->add_option("--until", s->until, "Up to this time (ISO 8601)")->type_name("T");
  cmd->add_option("--op", s->op, "Only this operation (open, create, unlink, rename, policy.grant, ...)")
      ->type_name("OP");
  cmd->add_flag("--denied", s->denied, "Only refused calls");
  cmd->add_option("--mount", s->mount, "The mounted vault to ask (needed when several are mounted)")
      ->type_name("MOUNTPOINT");
}

}  // namespace

std::string AuditDatabasePath(const std::string& vault, const std::string& db) {
  AuditState s;
  s.vault = vault;
  s.db = db;
  return AuditDbPath(s);
}

crypto::SecretKey ReadAuditKeyFile(const std::string& path) { return ReadAuditKey(path); }

acl::AuditSeal ParseAuditSeal(const std::string& text) { return ParseSeal(text); }

AuditCommands::AuditCommands(CLI::App* app) : state_(std::make_unique<AuditState>()) {
  State* s = state_.get();
  CLI::App* audit = app->add_subcommand(
      "audit", "Query the audit log (auditors, admins; leads for their folders), export it, verify it");
  audit->require_subcommand(0, 1);
  AddFilters(s, audit);
  audit->add_option("--limit", s->limit, "At most N records, newest first (default 100)")->type_name("N");
  audit->add_flag("--json", s->json_output, "Print the records as JSON");
  audit->add_flag("--csv", s->csv, "Print the records as CSV");
  query_ = audit;
  RegisterVerify(s, audit);
  RegisterArchive(s, audit);
  auto* exp = audit->add_subcommand("export", "Write matching records to FILE as CSV or JSON Lines");
  exp->add_option("FILE", s->out_file, "The file to create")->required();
  exp->add_option("--format", s->format, "csv (default) or jsonl")->type_name("FORMAT");
  exp->add_option("--limit", s->limit, "At most N records, newest first")->type_name("N")->default_val(1000000);
  AddFilters(s, exp);
  s->leaves.emplace_back(exp, [s] { Export(*s); });
}

AuditCommands::~AuditCommands() = default;

bool AuditCommands::Run() {
  for (auto& [cmd, run] : state_->leaves) {
    if (cmd->parsed()) {
      run();
      return true;
    }
  }
  if (query_ != nullptr && query_->parsed()) {
    Query(*state_);
    return true;
  }
  return false;
}

}  // namespace strongroom::tools
