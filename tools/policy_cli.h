// PolicyCommands: the strongroom subcommands that talk to a mounted vault's
// daemon over its control socket (whoami, user, team, label, grant, revoke,
// access, request, requests, approve, deny). Registers them on the CLI11 app
// and runs the one that was parsed. Owns the parsed option values; not
// thread-safe (one per process).
#pragma once

#include <memory>

namespace CLI {
class App;
}

namespace strongroom::tools {

struct PolicyState;  // the option values, defined in policy_cli.cc

class PolicyCommands {
 public:
  explicit PolicyCommands(CLI::App* app);
  ~PolicyCommands();
  PolicyCommands(const PolicyCommands&) = delete;
  PolicyCommands& operator=(const PolicyCommands&) = delete;

  // Runs the parsed policy subcommand; false when none was given. Throws
  // CliError.
  bool Run();

 private:
  std::unique_ptr<PolicyState> state_;
};

}  // namespace strongroom::tools
