// AuditCommands: the `strongroom audit ...` subcommands for auditors, which
// read the audit database directly (no daemon, no passphrase). Registers
// them on the CLI11 app and runs the one that was parsed: `verify` checks
// the MAC chain from the auditors' initial key. Owns the parsed option
// values; not thread-safe (one per process).
#pragma once

#include <memory>
#include <string>

#include "acl/audit_verify.h"
#include "crypto/secret.h"

namespace CLI {
class App;
}

namespace strongroom::tools {

struct AuditState;  // the option values, defined in audit_cli.cc

// For other commands that read the audit log offline (destroy certificate
// --verify --audit-key). Each throws CliError.
// The audit database: `db` when given, else VAULT's (in the vault, or where
// init --audit-db put it).
std::string AuditDatabasePath(const std::string& vault, const std::string& db);
// The auditors' initial key K_0 from a file of 64 hex digits.
crypto::SecretKey ReadAuditKeyFile(const std::string& path);
// --seal N:DIGEST.
acl::AuditSeal ParseAuditSeal(const std::string& text);

class AuditCommands {
 public:
  explicit AuditCommands(CLI::App* app);
  ~AuditCommands();
  AuditCommands(const AuditCommands&) = delete;
  AuditCommands& operator=(const AuditCommands&) = delete;

  // Runs the parsed audit subcommand; false when none was given. Throws
  // CliError.
  bool Run();

 private:
  std::unique_ptr<AuditState> state_;
  CLI::App* query_ = nullptr;  // `strongroom audit` itself: a query
};

}  // namespace strongroom::tools
