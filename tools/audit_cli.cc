// The audit subcommands. Each leaf registers its options on the shared
// AuditState and a function that runs it.
#include "tools/audit_cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "acl/audit_verify.h"
#include "crypto/audit_chain.h"
#include "crypto/secret.h"
#include "tools/cli_error.h"
#include "tools/terminal_text.h"

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

  std::vector<std::pair<CLI::App*, std::function<void()>>> leaves;
};

namespace {

using State = AuditState;

// The file name of the audit database inside a vault (docs/audit.md).
constexpr char kAuditDbName[] = "strongroom-audit.db";
// A key file is 64 hex digits and a newline; anything much longer is not one.
constexpr size_t kMaxKeyFileSize = 4096;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly out.size() bytes of hex; false on any other input.
bool DecodeHex(std::string_view hex, std::span<uint8_t> out) {
  if (hex.size() != 2 * out.size()) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

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
                  DecodeHex(TrimSpace(std::string_view(text.data(), got)), {key.data(), key.size()});
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
  if (!DecodeHex(std::string_view(text).substr(colon + 1), seal.digest)) Fail(kUsage, kUsageText);
  return seal;
}

// The audit database named by --db, else the one in VAULT.
std::string AuditDbPath(const State& s) {
  if (!s.db.empty()) return s.db;
  if (s.vault.empty()) Fail(kUsage, "give the VAULT directory or --db PATH");
  std::string path = s.vault;
  if (path.back() != '/') path += '/';
  return path + kAuditDbName;
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

  const Result<acl::AuditVerifyReport> result = acl::VerifyAuditLog(path, k0, seal);
  if (!result.ok()) Fail(result.status());
  const acl::AuditVerifyReport& r = *result;
  if (s.json_output) {
    json out = {{"ok", r.ok}, {"records", r.records}, {"epochs", r.epochs}};
    out["problem"] = r.ok ? json(nullptr) : json(r.problem);
    out["first_bad_seq"] = r.ok ? json(nullptr) : json(r.first_bad_seq);
    std::cout << out.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  } else if (r.ok) {
    std::cout << "audit log verified: " << r.records << " records in " << r.epochs << " epochs\n";
  }
  std::cout.flush();
  if (!r.ok) Fail(kIntegrity, "audit log verification failed: " + r.problem);
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
}

}  // namespace

AuditCommands::AuditCommands(CLI::App* app) : state_(std::make_unique<AuditState>()) {
  CLI::App* audit = app->add_subcommand("audit", "Verify the audit log (auditors)");
  audit->require_subcommand(1);
  RegisterVerify(state_.get(), audit);
}

AuditCommands::~AuditCommands() = default;

bool AuditCommands::Run() {
  for (auto& [cmd, run] : state_->leaves) {
    if (cmd->parsed()) {
      run();
      return true;
    }
  }
  return false;
}

}  // namespace strongroom::tools
