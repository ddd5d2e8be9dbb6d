// AuditCommands: the `strongroom audit ...` subcommands for auditors, which
// read the audit database directly (no daemon, no passphrase). Registers
// them on the CLI11 app and runs the one that was parsed: `verify` checks
// the MAC chain from the auditors' initial key. Owns the parsed option
// values; not thread-safe (one per process).
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace strongroom::tools {

struct AuditState;  // the option values, defined in audit_cli.cc

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
