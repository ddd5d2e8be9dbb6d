// The policy subcommands: argument checks, one request to the daemon, and
// the answer as a line, a table or JSON.
#include "tools/policy_cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "acl/audit_find.h"
#include "acl/audit_verify.h"
#include "acl/certificate.h"
#include "tools/audit_cli.h"
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
  // retain, release, destroy
  std::vector<std::string> paths, archives;
  std::string file, audit_key, vault, audit_db, seal;
  bool verify = false;

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

// After the last witness approved a destruction: shows its progress (on
// stderr, for requests that take a while) until it is done, and returns
// the request as it ended.
json WaitForDestruction(const State& s, const std::string& mount, int64_t id, json request) {
  const auto start = std::chrono::steady_clock::now();
  const bool tty = ::isatty(2) != 0;
  std::string last_phase;
  int64_t last_tenth = -1;
  bool shown = false;
  while (Echo(request, "state", "") == "executing") {
    const json& p = request.is_object() && request.contains("progress") ? request["progress"] : json();
    if (p.is_object()) {
      if (p.contains("error") && p["error"].is_string() && !p["error"].get<std::string>().empty()) {
        if (shown && tty) std::cerr << "\n";
        Fail(kInternal, "destruction request " + std::to_string(id) + " stopped: " + E(p["error"].get<std::string>()) +
                            " (its files stay frozen; the next mount finishes it)");
      }
      const std::string phase = Echo(p, "phase", "");
      const int64_t done = p.value("done", int64_t{0}), total = p.value("total", int64_t{0});
      const bool large = total >= 50 || std::chrono::steady_clock::now() - start > std::chrono::seconds(1);
      if (large && !s.json_output) {
        const int64_t tenth = total > 0 ? done * 10 / total : 0;
        if (tty) {
          std::cerr << "\rdestroying (request " << id << "): " << E(phase) << " " << done << "/" << total << "      "
                    << std::flush;
          shown = true;
        } else if (phase != last_phase || tenth != last_tenth) {
          std::cerr << "destroying (request " << id << "): " << E(phase) << " " << done << "/" << total << "\n";
        }
        last_phase = phase;
        last_tenth = tenth;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    request = CallDaemon(mount, {{"cmd", "destroy.show"}, {"id", id}});
  }
  if (shown && tty) std::cerr << "\n";
  return request;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(kNotFound, "cannot read " + E(path));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (64u << 20)) Fail(kUsage, E(path) + " is too large to be a certificate");
  return text.str();
}

json ReadCertificateFile(const std::string& path) {
  json j = json::parse(ReadSmallFile(path), nullptr, false);
  if (!j.is_object() || !j.contains("certificate") || !j["certificate"].is_object()) {
    Fail(kUsage, E(path) + " does not hold a certificate as printed by: strongroom destroy certificate ID --json");
  }
  return j;
}

// Offline: the certificate's digest must be sealed in a record of an audit
// log that verifies from the auditors' initial key. Needs no daemon and no
// vault key, so it cannot check the MAC (the vault's key), only that this
// exact certificate was recorded when it was issued.
void VerifyCertificateOffline(const State& s, int64_t id) {
  if (s.file.empty()) Fail(kUsage, "--audit-key needs --file CERT (the certificate as printed by --json)");
  if (s.vault.empty() == s.audit_db.empty()) Fail(kUsage, "--audit-key needs --vault VAULT or --audit-db PATH");
  const json cert = ReadCertificateFile(s.file);
  const json& body = cert["certificate"];
  if (!body.contains("request") || body["request"] != id) {
    Fail(kIntegrity, "the certificate in " + E(s.file) + " is not the one of request " + std::to_string(id));
  }
  std::string canonical;
  try {
    canonical = acl::CanonicalCertificate(body);
  } catch (const json::exception&) {
    Fail(kIntegrity, "the certificate holds text that is not UTF-8");
  }
  const std::string digest = acl::CertificateDigestHex(canonical);
  const std::string db = AuditDatabasePath(s.vault, s.audit_db);
  const crypto::SecretKey k0 = ReadAuditKeyFile(s.audit_key);
  std::optional<acl::AuditSeal> seal;
  if (!s.seal.empty()) seal = ParseAuditSeal(s.seal);
  // Found first, verified second: a record found must lie in the chain
  // that then verified.
  Result<std::vector<uint64_t>> seqs = acl::FindAuditRecordsByOp(db, acl::CertificateAuditOp(digest), s.archives);
  if (!seqs.ok()) Fail(seqs.status());
  Result<acl::AuditVerifyReport> report = acl::VerifyAuditLog(db, k0, seal, s.archives);
  if (!report.ok()) Fail(report.status());
  if (!report->ok) Fail(kIntegrity, "the audit log does not verify, so it proves nothing: " + report->problem);
  const uint64_t first = report->first_seq, last = report->first_seq + report->records - 1;
  std::optional<uint64_t> found;
  for (uint64_t seq : *seqs) {
    if (seq >= first && seq <= last) found = seq;
  }
  if (!found) {
    Fail(kIntegrity, "certificate of request " + std::to_string(id) + " does not verify: its digest " + digest +
                         " is sealed in no record of the audit log (the certificate was changed, or the record is in "
                         "an archived segment not given with --archive)");
  }
  if (s.json_output) {
    std::cout << json{{"id", id}, {"ok", true}, {"digest", digest}, {"audit_seq", *found}, {"records", report->records}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "Certificate of request " << id << " verified with the auditors' key: its digest " << digest
            << " is sealed in audit record " << *found << " of an audit log that verified (" << report->records
            << " records" << (seal ? ", up to the seal given" : "") << ").\n"
            << "(Its MAC needs the vault's key: check it on the mounted vault with destroy certificate ID --verify.)\n";
}

void RegisterDestruction(State* s, CLI::App* app) {
  auto* retain = Leaf(s, app, "retain", "Put a folder or file under a retention hold until a date (admins, leads)", [s] {
    const int64_t until = CheckUntil(s->until);
    const VaultTarget t = Target(s->mount).Path(s->path);
    const json result = CallDaemon(t.mountpoint, {{"cmd", "retain"}, {"path", t.vault_path}, {"until", until}});
    Print(*s, result, [&](const json& r) {
      return "Retained " + E(Echo(r, "path", t.vault_path)) + " until " + E(TimeText(r.value("until", json(until)))) +
             ": no ordinary delete, overwrite, truncation or move until then\n";
    });
  });
  retain->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  retain->add_option("--until", s->until, "Last moment the hold holds: YYYY-MM-DD (end of that day) or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]")
      ->type_name("DATE")
      ->required();

  auto* release = Leaf(s, app, "release", "Lift a retention hold (after its date; earlier only with a witness)", [s] {
    const VaultTarget t = Target(s->mount).Path(s->path);
    json req = {{"cmd", "release"}, {"path", t.vault_path}};
    if (!s->reason.empty()) req["reason"] = CheckReason(s->reason);
    const json result = CallDaemon(t.mountpoint, req);
    Print(*s, result, [&](const json& r) {
      if (r.value("released", false)) return "Released the hold on " + E(Echo(r, "path", t.vault_path)) + "\n";
      return "Requested the early release of the hold on " + E(t.vault_path) + " (until " +
             E(TimeText(r.value("hold_until", json()))) + "): request " + E(FieldText(r, "id")) + ", needs " +
             E(FieldText(r, "witnesses_needed")) + " witness(es): an auditor runs strongroom destroy approve " +
             E(FieldText(r, "id")) + "\n";
    });
  });
  release->add_option("PATH", s->path, "A path under the mountpoint, or vault:/PATH")->required();
  release->add_option("--reason", s->reason, "Before the hold's date: why (asks the auditors to witness it)")
      ->type_name("TEXT");

  CLI::App* destroy = app->add_subcommand("destroy", "Witnessed destruction: request, witness, certificate");
  destroy->require_subcommand(1);

  auto* request = Leaf(s, destroy, "request", "Ask for the destruction of paths (admins, leads of every path); freezes them", [s] {
    const std::string reason = CheckReason(s->reason);
    const Target target(s->mount);
    std::string mount;
    json paths = json::array();
    for (const std::string& p : s->paths) {
      const VaultTarget t = target.Path(p);
      if (!mount.empty() && t.mountpoint != mount) Fail(kUsage, "all paths must be in the same mounted vault");
      mount = t.mountpoint;
      paths.push_back(t.vault_path);
    }
    const json result = CallDaemon(mount, {{"cmd", "destroy.request"}, {"paths", paths}, {"reason", reason}});
    Print(*s, result, [](const json& r) {
      return "Requested destruction " + E(FieldText(r, "id")) + " of " + E(FieldText(r, "paths")) + " (" +
             E(FieldText(r, "files")) + " files and symlinks, " + E(FieldText(r, "folders")) +
             " folders, now frozen); needs " + E(FieldText(r, "witnesses_needed")) +
             " witness(es): an auditor runs strongroom destroy approve " + E(FieldText(r, "id")) + "\n";
    });
  });
  request->add_option("PATH", s->paths, "Paths under the mountpoint, or vault:/PATH")->required();
  request->add_option("--reason", s->reason, "Why (shown to the witnesses, kept in the certificate)")
      ->type_name("TEXT")
      ->required();

  auto* list = Leaf(s, destroy, "list", "List open destruction and early-release requests (yours; auditors, admins: all)", [s] {
    json req = {{"cmd", "destroy.list"}};
    if (s->all) req["all"] = true;
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [s](const json& r) { return RenderDestructions(r, s->all); });
  });
  list->add_flag("--all", s->all, "Include finished, rejected and cancelled requests");

  auto* show = Leaf(s, destroy, "show", "Show a request: its paths, state, witnesses and progress", [s] {
    const json result =
        CallDaemon(Target(s->mount).Mount(), {{"cmd", "destroy.show"}, {"id", CheckRequestId(s->id)}});
    Print(*s, result, RenderDestruction);
  });
  show->add_option("ID", s->id, "Request id (see: strongroom destroy list)")->required();

  auto* cancel = Leaf(s, destroy, "cancel", "Cancel your own pending request (unfreezes its files)", [s] {
    json req = {{"cmd", "destroy.cancel"}, {"id", CheckRequestId(s->id)}};
    if (!s->reason.empty()) req["reason"] = CheckReason(s->reason);
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [](const json& r) { return "Cancelled request " + E(FieldText(r, "id")) + "\n"; });
  });
  cancel->add_option("ID", s->id, "Request id")->required();
  cancel->add_option("--reason", s->reason, "A note kept with the request")->type_name("TEXT");

  auto* approve = Leaf(s, destroy, "approve", "Witness a request (auditors; never the requester)", [s] {
    const int64_t id = CheckRequestId(s->id);
    const std::string mount = Target(s->mount).Mount();
    json result = CallDaemon(mount, {{"cmd", "destroy.approve"}, {"id", id}});
    result = WaitForDestruction(*s, mount, id, result);
    Print(*s, result, [id](const json& r) {
      const std::string state = Echo(r, "state", "");
      const size_t have = r.contains("witnesses") && r["witnesses"].is_array() ? r["witnesses"].size() : 0;
      if (state == "pending") {
        return "Witnessed request " + std::to_string(id) + " (" + std::to_string(have) + " of " +
               E(FieldText(r, "witnesses_needed")) + " witnesses)\n";
      }
      if (Echo(r, "kind", "") == "release") {
        return "Witnessed request " + std::to_string(id) + ": released the hold on " + E(FieldText(r, "paths")) + "\n";
      }
      return "Witnessed request " + std::to_string(id) + ": destroyed " + E(FieldText(r, "files")) +
             " files and symlinks and " + E(FieldText(r, "folders")) +
             " folders. Certificate: strongroom destroy certificate " + std::to_string(id) + "\n";
    });
  });
  approve->add_option("ID", s->id, "Request id (see: strongroom destroy list)")->required();

  auto* reject = Leaf(s, destroy, "reject", "Reject a request (auditors; never the requester)", [s] {
    const int64_t id = CheckRequestId(s->id);
    const std::string reason = CheckReason(s->reason);
    const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "destroy.reject"}, {"id", id}, {"reason", reason}});
    Print(*s, result, [id](const json&) { return "Rejected request " + std::to_string(id) + "\n"; });
  });
  reject->add_option("ID", s->id, "Request id")->required();
  reject->add_option("--reason", s->reason, "Why (kept with the request)")->type_name("TEXT")->required();

  auto* cert = Leaf(s, destroy, "certificate", "Print a destruction's certificate, or --verify one", [s] {
    const int64_t id = CheckRequestId(s->id);
    if (!s->verify) {
      if (!s->file.empty() || !s->audit_key.empty()) Fail(kUsage, "--file and --audit-key go with --verify");
      const json result = CallDaemon(Target(s->mount).Mount(), {{"cmd", "destroy.certificate"}, {"id", id}});
      Print(*s, result, RenderCertificate);
      return;
    }
    if (!s->audit_key.empty()) {
      VerifyCertificateOffline(*s, id);
      return;
    }
    if (!s->vault.empty() || !s->audit_db.empty() || !s->archives.empty() || !s->seal.empty()) {
      Fail(kUsage, "--vault, --audit-db, --archive and --seal go with --audit-key");
    }
    json req = {{"cmd", "destroy.verify"}, {"id", id}};
    if (!s->file.empty()) req["certificate"] = ReadCertificateFile(s->file);
    const json result = CallDaemon(Target(s->mount).Mount(), req);
    Print(*s, result, [id](const json& r) {
      return "Certificate of request " + std::to_string(id) +
             " verified: its MAC matches the vault's certificate key, it is the certificate the vault issued, and "
             "its digest " + E(FieldText(r, "digest")) + " is sealed in audit record " + E(FieldText(r, "audit_seq")) +
             "\n";
    });
  });
  cert->add_option("ID", s->id, "Request id")->required();
  cert->add_flag("--verify", s->verify,
                 "Check it: on the mounted vault (MAC, issued by the vault, digest in the audit log), or offline "
                 "with --audit-key");
  cert->add_option("--file", s->file, "With --verify: check this certificate (as printed by --json) instead of the "
                                      "stored one")
      ->type_name("CERT");
  cert->add_option("--audit-key", s->audit_key,
                   "With --verify --file: check offline, from the auditors' initial audit key, that the certificate's "
                   "digest is sealed in an audit log that verifies")
      ->type_name("FILE");
  cert->add_option("--vault", s->vault, "With --audit-key: the vault directory (its audit database)")->type_name("VAULT");
  cert->add_option("--audit-db", s->audit_db, "With --audit-key: the audit database itself")->type_name("PATH");
  cert->add_option("--archive", s->archives, "With --audit-key: a directory of archived audit segments; repeatable")
      ->type_name("DIR")
      ->allow_extra_args(false);
  cert->add_option("--seal", s->seal, "With --audit-key: a seal from the daemon's log (detects a truncated tail)")
      ->type_name("N:DIGEST");
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
  RegisterDestruction(s, app);

  CLI::App* config = app->add_subcommand("config", "Vault settings (admins)");
  config->require_subcommand(1);
  auto* set = Leaf(s, config, "set", "Change a setting: audit-durability crash|power-loss, audit-segment-size SIZE (e.g. 256M), witnesses N", [s] {
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
