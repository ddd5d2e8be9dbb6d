// The policy subcommands: argument checks, one request to the daemon, and
// the answer as a line, a table or JSON.
#include "tools/policy_cli.h"

#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "tools/cli_error.h"
#include "tools/control_client.h"
#include "tools/mounts.h"
#include "tools/policy_args.h"
#include "tools/policy_output.h"
#include "tools/terminal_text.h"
#include "tools/vault_path.h"

namespace strongroom::tools {

using nlohmann::json;

struct PolicyState {
  // Shared by every leaf subcommand: only one of them runs.
  bool json_output = false;
  std::string mount;

  // Arguments (each leaf uses the ones it registers).
  std::string name, team, user, path, subject, mode, level, uid, role, clearance, until, reason, id, key, value, program;
  bool all = false;

  std::vector<std::pair<CLI::App*, std::function<void()>>> leaves;
};

namespace {

using State = PolicyState;

// The mounts, the working directory and --mount, read once per command.
class Target {
 public:
  explicit Target(const std::string& mount_option)
      : entries_(ReadMountinfo()),
        cwd_(CurrentDirectory()),
        mount_option_(CanonicalMountOption(entries_, mount_option, cwd_)) {}

  std::string Mount() const { return ChooseMount(entries_, mount_option_, cwd_); }
  VaultTarget Path(const std::string& arg) const { return ResolveVaultPath(arg, mount_option_, entries_, cwd_); }

 private:
  std::vector<MountEntry> entries_;
  std::string cwd_;
  std::string mount_option_;
};

std::string E(const std::string& s) { return EscapeForTerminal(s); }

// Prints the result: JSON with --json, else what `human` makes of it.
void Print(const State& s, const json& result, const std::function<std::string(const json&)>& human) {
  if (s.json_output) {
    std::cout << result.dump(2, ' ', true, json::error_handler_t::replace) << "\n";
  } else {
    std::cout << human(result);
  }
  std::cout.flush();
}

// A string field of the result, else `fallback` (what was asked for).
std::string Echo(const json& result, const char* key, const std::string& fallback) {
  if (result.is_object()) {
    const auto it = result.find(key);
    if (it != result.end() && it->is_string()) return it->get<std::string>();
  }
  return fallback;
}

std::string UserLine(const char* verb, const json& user, const std::string& name) {
  return std::string(verb) + " user " + E(Echo(user, "name", name));
}

std::string RoleAndClearance(const json& user) {
  return "role " + E(FieldText(user, "role")) + ", clearance " + E(FieldText(user, "clearance"));
}

std::string RequestLine(const char* verb, const json& r) {
  return std::string(verb) + " request " + E(FieldText(r, "id")) + ": " + E(FieldText(r, "mode")) + " on " +
         E(FieldText(r, "path")) + " for " + E(FieldText(r, "user")) + "\n";
}

CLI::App* Leaf(State* s, CLI::App* parent, const std::string& name, const std::string& description,
               std::function<void()> run) {
  CLI::App* cmd = parent->add_subcommand(name, description);
  cmd->add_flag("--json", s->json_output, "Print the daemon's result as JSON");
  cmd->add_option("--mount", s->mount, "The mounted vault to act on (needed when several are mounted)")
      ->type_name("MOUNTPOINT");
  s->leaves.emplace_back(cmd, std::move(run));
  return cmd;
}

void RegisterUser(State* s, CLI::App* app) {
  CLI::App* user = app->add_subcommand("user", "Manage users (admins)");
  user->require_subcommand(1);

  auto* add = Leaf(s, user, "add", "Add a user for a Linux uid", [s] {
    json req = {{"cmd", "user.add"}, {"name", CheckUserName(s->name)}, {"uid", CheckUid(s->uid)}};
    if (!s->role.empty()) req["role"] = CheckRole(s->role);
    if (!s->clearance.empty()) req["clearance"] = CheckLevel(s->clearance, "clearance");
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [s](const json& u) {
      return UserLine("Added", u, s->name) + " (uid " + E(FieldText(u, "uid")) + ", " + RoleAndClearance(u) + ")\n";
    });
  });
  add->add_option("NAME", s->name, "User name")->required();
  add->add_option("--uid", s->uid, "The user's Linux uid")->type_name("N")->required();
  add->add_option("--role", s->role, "staff (default), admin or auditor")->type_name("ROLE");
  add->add_option("--clearance", s->clearance, "1 (default), 2 or 3")->type_name("LEVEL");

  auto* set = Leaf(s, user, "set", "Change a user's role or clearance", [s] {
    json req = {{"cmd", "user.set"}, {"name", CheckUserName(s->name)}};
    if (!s->role.empty()) req["role"] = CheckRole(s->role);
    if (!s->clearance.empty()) req["clearance"] = CheckLevel(s->clearance, "clearance");
    if (s->role.empty() && s->clearance.empty()) Fail(kUsage, "nothing to change: give --role and/or --clearance");
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result,
          [s](const json& u) { return UserLine("Updated", u, s->name) + ": " + RoleAndClearance(u) + "\n"; });
  });
  set->add_option("NAME", s->name, "User name")->required();
  set->add_option("--role", s->role, "staff, admin or auditor")->type_name("ROLE");
  set->add_option("--clearance", s->clearance, "1, 2 or 3")->type_name("LEVEL");

  auto* disable = Leaf(s, user, "disable", "Disable a user (access stops at once)", [s] {
    const json result =
        CallDaemon(Target(s->mount).Mount(), {{"cmd", "user.disable"}, {"name", CheckUserName(s->name)}});
    Print(*s, result, [s](const json& u) { return UserLine("Disabled", u, s->name) + "\n"; });
  });
  disable->add_option("NAME", s->name, "User name")->required();

  auto* enable = Leaf(s, user, "enable", "Enable a disabled user", [s] {
    const json result =
        CallDaemon(Target(s->mount).Mount(), {{"cmd", "user.enable"}, {"name", CheckUserName(s->name)}});
    Print(*s, result, [s](const json& u) { return UserLine("Enabled", u, s->name) + "\n"; });
  });
  enable->add_option("NAME", s->name, "User name")->required();

  Leaf(s, user, "list", "List users (admins, auditors)", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "user.list"}});
    Print(*s, result, RenderUserList);
  });
}

void RegisterTeam(State* s, CLI::App* app) {
  CLI::App* team = app->add_subcommand("team", "Manage teams (admins)");
  team->require_subcommand(1);

  auto* add = Leaf(s, team, "add", "Add a team", [s] {
    const std::string name = CheckTeamName(s->team);
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "team.add"}, {"name", name}});
    Print(*s, result, [&name](const json& t) { return "Added team " + E(Echo(t, "name", name)) + "\n"; });
  });
  add->add_option("NAME", s->team, "Team name (without @)")->required();

  CLI::App* member = team->add_subcommand("member", "Add or remove team members");
  member->require_subcommand(1);
  for (const bool adding : {true, false}) {
    auto* cmd = Leaf(s, member, adding ? "add" : "remove",
                     adding ? "Add a user to a team" : "Remove a user from a team", [s, adding] {
                       const std::string team_name = CheckTeamName(s->team);
                       const std::string user_name = CheckUserName(s->user);
                       const json req = {{"cmd", adding ? "team.member.add" : "team.member.remove"},
                                         {"team", team_name},
                                         {"user", user_name}};
                       const json result = CallDaemon(Target(s->mount).Mount(), req);
                       Print(*s, result, [&](const json& t) {
                         return std::string(adding ? "Added " : "Removed ") + E(user_name) +
                                (adding ? " to team " : " from team ") + E(Echo(t, "name", team_name)) + "\n";
                       });
                     });
    cmd->add_option("TEAM", s->team, "Team name")->required();
    cmd->add_option("USER", s->user, "User name")->required();
  }

  Leaf(s, team, "list", "List teams and their members (admins, auditors)", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "team.list"}});
    Print(*s, result, RenderTeamList);
  });
}

void RegisterGrants(State* s, CLI::App* app) {
  auto* label = Leaf(s, app, "label", "Set a folder's level: 1 general, 2 sensitive, 3 core (admins)", [s] {
    const int level = CheckLevel(s->level, "level");
    const VaultTarget t = Target(s->mount).Path(s->path);
    const json result = CallDaemon(t.mountpoint, {{"cmd", "label"}, {"path", t.vault_path}, {"level", level}});
    Print(*s, result, [&](const json& r) {
      return "Labelled " + E(Echo(r, "path", t.vault_path)) + " level " + E(FieldText(r, "level")) + "\n";
    });
  });
  label->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  label->add_option("LEVEL", s->level, "1, 2 or 3")->required();

  auto* grant = Leaf(s, app, "grant", "Grant a user or @team a mode on a folder or file (admins, leads)", [s] {
    const std::string subject = CheckSubject(s->subject);
    const std::string mode = CheckMode(s->mode);
    std::optional<int64_t> until;
    if (!s->until.empty()) until = CheckUntil(s->until);
    const VaultTarget t = Target(s->mount).Path(s->path);
    json req = {{"cmd", "grant"}, {"path", t.vault_path}, {"subject", subject}, {"mode", mode}};
    if (until) req["until"] = *until;
    const json result = CallDaemon(t.mountpoint, req);
    Print(*s, result, [&](const json& g) {
      std::string line = "Granted " + E(Echo(g, "mode", mode)) + " on " + E(Echo(g, "path", t.vault_path)) + " to " +
                         E(Echo(g, "subject", subject));
      json shown_until = until ? json(*until) : json();
      if (g.is_object() && g.contains("until")) shown_until = g["until"];
      if (!shown_until.is_null()) line += " until " + E(TimeText(shown_until));
      return line + "\n";
    });
  });
  grant->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  grant->add_option("SUBJECT", s->subject, "A user name, or @TEAM")->required();
  grant->add_option("MODE", s->mode, "none, view, read, write or manage")->required();
  grant
      ->add_option("--until", s->until,
                   "Last moment the grant holds: YYYY-MM-DD (end of that day), YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]")
      ->type_name("DATE");

  auto* revoke = Leaf(s, app, "revoke", "Remove a user's or @team's grant on a folder or file (admins, leads)", [s] {
    const std::string subject = CheckSubject(s->subject);
    const VaultTarget t = Target(s->mount).Path(s->path);
    const json result = CallDaemon(t.mountpoint, {{"cmd", "revoke"}, {"path", t.vault_path}, {"subject", subject}});
    Print(*s, result, [&](const json& r) {
      return "Revoked the grant to " + E(Echo(r, "subject", subject)) + " on " + E(Echo(r, "path", t.vault_path)) +
             "\n";
    });
  });
  revoke->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  revoke->add_option("SUBJECT", s->subject, "A user name, or @TEAM")->required();

  auto* access = Leaf(s, app, "access", "Show who may do what on a path, or a user's grants", [s] {
    if (s->path.empty() == s->user.empty()) Fail(kUsage, "access takes either PATH or --user NAME");
    if (!s->user.empty()) {
      const json result =
          CallDaemon(Target(s->mount).Mount(), {{"cmd", "access.user"}, {"name", CheckUserName(s->user)}});
      Print(*s, result, RenderUserAccess);
      return;
    }
    const VaultTarget t = Target(s->mount).Path(s->path);
    const json result = CallDaemon(t.mountpoint, {{"cmd", "access"}, {"path", t.vault_path}});
    Print(*s, result, RenderAccess);
  });
  auto* access_path = access->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH");
  auto* access_user =
      access->add_option("--user", s->user, "Show the grants that apply to this user instead")->type_name("NAME");
  access_path->excludes(access_user);
}

void RegisterRequests(State* s, CLI::App* app) {
  auto* request = Leaf(s, app, "request", "Ask for access to a folder or file", [s] {
    const std::string mode = CheckMode(s->mode);
    if (mode == "none") Fail(kUsage, "request a mode that gives access: view, read, write or manage");
    const std::string reason = CheckReason(s->reason);
    const VaultTarget t = Target(s->mount).Path(s->path);
    const json result =
        CallDaemon(t.mountpoint, {{"cmd", "request"}, {"path", t.vault_path}, {"mode", mode}, {"reason", reason}});
    Print(*s, result, [&](const json& r) {
      return "Requested " + E(Echo(r, "mode", mode)) + " on " + E(Echo(r, "path", t.vault_path)) + " (request " +
             E(FieldText(r, "id")) + ", " + E(FieldText(r, "state")) + ")\n";
    });
  });
  request->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  request->add_option("MODE", s->mode, "view, read, write or manage")->required();
  request->add_option("--reason", s->reason, "Why (shown to whoever decides)")->type_name("TEXT")->required();

  auto* requests = Leaf(s, app, "requests", "List access requests you may decide (leads, admins)", [s] {
    json req = {{"cmd", "requests"}};
    if (s->all) req["all"] = true;
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [s](const json& r) { return RenderRequests(r, s->all); });
  });
  requests->add_flag("--all", s->all, "Include decided requests");

  auto* approve = Leaf(s, app, "approve", "Approve an access request (grants the mode asked for)", [s] {
    json req = {{"cmd", "approve"}, {"id", CheckRequestId(s->id)}};
    if (!s->reason.empty()) req["reason"] = CheckReason(s->reason);
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [](const json& r) { return RequestLine("Approved", r); });
  });
  approve->add_option("ID", s->id, "Request id (see: strongroom requests)")->required();
  approve->add_option("--reason", s->reason, "A note kept with the decision")->type_name("TEXT");

  auto* deny = Leaf(s, app, "deny", "Deny an access request", [s] {
    const int64_t id = CheckRequestId(s->id);
    const std::string reason = CheckReason(s->reason);
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "deny"}, {"id", id}, {"reason", reason}});
    Print(*s, result, [](const json& r) { return RequestLine("Denied", r); });
  });
  deny->add_option("ID", s->id, "Request id (see: strongroom requests)")->required();
  deny->add_option("--reason", s->reason, "Why (shown to the requester)")->required();
}

// A program named on the command line, as an absolute path (relative to
// the working directory); the daemon resolves symlinks and checks it.
std::string ProgramPath(const std::string& arg) {
  if (arg.empty()) Fail(kUsage, "the program is empty");
  if (arg.find('\0') != std::string::npos) Fail(kUsage, "the program's path contains a NUL byte");
  if (arg[0] == '/') return arg;
  std::string cwd = CurrentDirectory();
  return cwd == "/" ? "/" + arg : cwd + "/" + arg;
}

void RegisterViewers(State* s, CLI::App* app) {
  CLI::App* viewer = app->add_subcommand("viewer", "The viewer programs allowed to open `view` files (admins)");
  viewer->require_subcommand(1);

  auto* add = Leaf(s, viewer, "add", "Allow-list a viewer program (root-owned, in a root-only directory, setgid to "
                                     "the viewer group); re-add it after it changes", [s] {
    json req = {{"cmd", "viewer.add"}, {"program", ProgramPath(s->program)}};
    if (!s->name.empty()) req["name"] = s->name;
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [](const json& v) {
      const json replaced = v.is_object() ? v.value("replaced", json(false)) : json(false);
      std::string line = std::string(replaced.is_boolean() && replaced.get<bool>() ? "Updated" : "Added") +
                         " viewer " + E(FieldText(v, "name")) + ": " + E(FieldText(v, "path")) + " (sha256 " +
                         E(FieldText(v, "sha256")) + ")\n";
      if (v.is_object() && v.contains("group") && v["group"].is_object()) {
        line += "Viewer group: " + E(FieldText(v["group"], "name")) + " (gid " + E(FieldText(v["group"], "gid")) + ")\n";
      }
      return line;
    });
  });
  add->add_option("PROGRAM", s->program, "The viewer's executable")->required();
  add->add_option("--name", s->name, "What to call it (default: its file name)")->type_name("LABEL");

  Leaf(s, viewer, "list", "List the allow-listed viewers and the viewer group", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "viewer.list"}});
    Print(*s, result, RenderViewerList);
  });

  auto* remove = Leaf(s, viewer, "remove", "Take a viewer off the allow-list (its opens stop at once)", [s] {
    // A path (with a slash) is sent absolute; anything else is a name.
    const std::string which = s->program.find('/') != std::string::npos ? ProgramPath(s->program) : s->program;
    if (which.empty()) Fail(kUsage, "give the viewer's program or name");
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "viewer.remove"}, {"program", which}});
    Print(*s, result, [](const json& v) {
      return "Removed viewer " + E(FieldText(v, "name")) + ": " + E(FieldText(v, "path")) + "\n";
    });
  });
  remove->add_option("PROGRAM", s->program, "The viewer's program or name")->required();
}

}  // namespace

PolicyCommands::PolicyCommands(CLI::App* app) : state_(std::make_unique<PolicyState>()) {
  State* s = state_.get();
  Leaf(s, app, "whoami", "Show who you are in a mounted vault", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "whoami"}});
    Print(*s, result, RenderWhoami);
  });
  RegisterUser(s, app);
  RegisterTeam(s, app);
  RegisterGrants(s, app);
  RegisterRequests(s, app);
  RegisterViewers(s, app);

  CLI::App* config = app->add_subcommand("config", "Vault settings (admins)");
  config->require_subcommand(1);
  auto* set = Leaf(s, config, "set", "Change a setting: audit-durability crash|power-loss, audit-segment-size SIZE (e.g. 256M)", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "config.set"}, {"key", s->key}, {"value", s->value}});
    Print(*s, result, [](const json& r) { return "Set " + E(FieldText(r, "key")) + " to " + E(FieldText(r, "value")) + "\n"; });
  });
  set->add_option("KEY", s->key, "The setting")->required();
  set->add_option("VALUE", s->value, "Its new value")->required();
  auto* get = Leaf(s, config, "get", "Show a setting", [s] {
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "config.get"}, {"key", s->key}});
    Print(*s, result, [](const json& r) { return E(FieldText(r, "key")) + " = " + E(FieldText(r, "value")) + "\n"; });
  });
  get->add_option("KEY", s->key, "The setting")->required();
}

PolicyCommands::~PolicyCommands() = default;

bool PolicyCommands::Run() {
  for (auto& [cmd, run] : state_->leaves) {
    if (cmd->parsed()) {
      run();
      return true;
    }
  }
  return false;
}

}  // namespace strongroom::tools
