// The policy commands end to end: the real `strongroom` CLI talking to a
// mounted vault's daemon over its control socket, run as several uids.
// Who may do what (docs/control-protocol.md, PRODUCT.md "Identity, grants
// and decisions"), separation of duties, hiding, --json, hostile names,
// choosing the vault, refusing a fake socket, and a damaged or locked policy
// database at mount.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <algorithm>
#include <cctype>
#include <climits>
#include <grp.h>
#include <random>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

using namespace exit_code;

// The cast. The admin (sr-admin, uid 4200) comes from the fixture.
const Identity kAdminId = MountedVault::Admin();
const Identity kRootId = MountedVault::Root();
constexpr Identity kLead{5001, 5001};     // "lead": manage on /proj, member of @crew
constexpr Identity kStaff{5002, 5002};    // "staff": read on /proj/sub (given by the lead)
constexpr Identity kStaff2{5003, 5003};   // "staff2": member of @crew
constexpr Identity kAuditor{5004, 5004};  // "auditor"
constexpr Identity kStranger{5099, 5099}; // no user

std::string Line(const std::vector<std::string>& args) {
  std::string s = "strongroom";
  for (const auto& a : args) s += " " + a;
  return s;
}

// `strongroom ARGS --mount MNT` as `who`, success or not.
CommandResult Cli(const MountedVault& v, const Identity& who, std::vector<std::string> args) {
  args.push_back("--mount");
  args.push_back(v.mnt());
  return RunStrongroomAs(who, args, 30s);
}

json ParseJson(const std::string& out) {
  json j = json::parse(out, nullptr, false);
  INFO("output: " << out);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// Runs a command that must succeed with --json and returns the parsed result.
json CliJson(const MountedVault& v, const Identity& who, std::vector<std::string> args) {
  args.push_back("--json");
  auto r = Cli(v, who, args);
  INFO("as uid " << who.uid << ": " << Line(args) << "\nexit " << r.exit_code << "\nstdout: " << r.out
                 << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
  return ParseJson(r.out);
}

// A failure: the exit code, one line "strongroom: ..." on stderr without a
// raw escape character, nothing on stdout.
void ExpectError(const CommandResult& r, int code, const std::string& what) {
  INFO(what << "\nexit " << r.exit_code << " (expected " << code << ")\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == code);
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  CHECK(err.find('\x1b') == std::string::npos);
  CHECK(r.out.empty());
}

void ExpectCliError(const MountedVault& v, const Identity& who, const std::vector<std::string>& args, int code) {
  ExpectError(Cli(v, who, args), code, "as uid " + std::to_string(who.uid) + ": " + Line(args));
}

void ExpectOk(const CommandResult& r, const std::string& what) {
  INFO(what << "\nexit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == kOk);
}

bool HasKeys(const json& j, const std::vector<std::string>& keys) {
  if (!j.is_object()) return false;
  for (const auto& k : keys) {
    if (!j.contains(k)) {
      UNSCOPED_INFO("missing field \"" << k << "\" in " << j.dump());
      return false;
    }
  }
  return true;
}

const std::vector<std::string> kUserFields = {"name", "uid", "role", "clearance", "enabled", "teams", "created_at",
                                              "created_by"};
const std::vector<std::string> kGrantFields = {"path", "subject", "mode", "until", "granted_by", "granted_at"};
const std::vector<std::string> kRequestFields = {"id",         "path",       "user",       "mode",
                                                 "reason",     "state",      "created_at", "decided_by",
                                                 "decided_at", "decision_reason"};

std::set<std::string> EffectiveUsers(const json& access) {
  std::set<std::string> users;
  for (const auto& e : access.at("effective")) users.insert(e.at("user").get<std::string>());
  return users;
}

const json* EffectiveFor(const json& access, const std::string& user) {
  for (const auto& e : access.at("effective")) {
    if (e.at("user") == user) return &e;
  }
  return nullptr;
}

// Users lead, staff, staff2, auditor; team @crew = {lead, staff2};
// folders /proj/sub (doc.txt, pub.txt), /other (x.txt); lead manages /proj
// (given by the admin) and gives staff read on /proj/sub.
void Setup(MountedVault& v) {
  v.Policy(kAdminId, {"user", "add", "lead", "--uid", "5001"});
  v.Policy(kAdminId, {"user", "add", "staff", "--uid", "5002"});
  v.Policy(kAdminId, {"user", "add", "staff2", "--uid", "5003"});
  v.Policy(kAdminId, {"user", "add", "auditor", "--uid", "5004", "--role", "auditor"});
  v.Policy(kAdminId, {"team", "add", "crew"});
  v.Policy(kAdminId, {"team", "member", "add", "crew", "lead"});
  v.Policy(kAdminId, {"team", "member", "add", "crew", "staff2"});
  REQUIRE_SYS(mkdir(v.Path("proj").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("proj/sub").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("other").c_str(), 0755));
  WriteOrDie(v.Path("proj/sub/doc.txt"), "secret");
  WriteOrDie(v.Path("proj/sub/pub.txt"), "public");
  WriteOrDie(v.Path("other/x.txt"), "x");
  v.Policy(kAdminId, {"grant", v.Path("proj"), "lead", "manage"});
  v.Policy(kLead, {"grant", v.Path("proj/sub"), "staff", "read"});
}

// Reads `path` as `who`: 0 when the content is `want`, else errno (or -1).
int ReadAs(const Identity& who, const std::string& path, const std::string& want) {
  return RunAs(who.uid, who.gid, [&] {
    auto r = ReadFile(path);
    if (r.err != 0) return r.err;
    return r.data == want ? 0 : 200;
  });
}

// ---------------------------------------------------------------------------

TEST_CASE("every command's --help exits 0 and describes it", "[policy-cli]") {
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"init"},
      {"passwd"},
      {"mount"},
      {"umount"},
      {"whoami"},
      {"user"},
      {"user", "add"},
      {"user", "set"},
      {"user", "disable"},
      {"user", "enable"},
      {"user", "list"},
      {"team"},
      {"team", "add"},
      {"team", "member"},
      {"team", "member", "add"},
      {"team", "member", "remove"},
      {"team", "list"},
      {"label"},
      {"grant"},
      {"revoke"},
      {"access"},
      {"request"},
      {"requests"},
      {"approve"},
      {"deny"},
  };
  for (auto args : commands) {
    args.push_back("--help");
    auto r = RunStrongroom(args, 20s);
    INFO(Line(args) << "\nexit " << r.exit_code << "\nstdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == kOk);
    CHECK(r.out.find("Usage") != std::string::npos);
    if (args.size() > 1) CHECK(r.out.find(args[args.size() - 2]) != std::string::npos);
    // Policy leaf commands document --json and --mount.
    static const std::set<std::string> leaves = {"whoami", "add",     "set",     "disable", "enable", "list",
                                                 "remove", "label",   "grant",   "revoke",  "access", "request",
                                                 "requests", "approve", "deny"};
    if (args.size() > 1 && leaves.count(args[args.size() - 2])) {
      CHECK(r.out.find("--json") != std::string::npos);
      CHECK(r.out.find("--mount") != std::string::npos);
    }
  }
}

TEST_CASE("init --admin records the first admin, init without --admin is a usage error", "[policy-cli]") {
  MountedVault v;
  const json me = CliJson(v, kAdminId, {"whoami"});
  CHECK(HasKeys(me, kUserFields));
  CHECK(HasKeys(me, {"mountpoint", "leads"}));
  CHECK(me["name"] == kAdminName);
  CHECK(me["uid"] == kAdminUid);
  CHECK(me["role"] == "admin");
  CHECK(me["enabled"] == true);
  CHECK(me["created_by"].is_null());
  CHECK(me["mountpoint"] == v.mnt());
  // The table form says so too.
  auto table = Cli(v, kAdminId, {"whoami"});
  ExpectOk(table, "whoami");
  CHECK(table.out.find("admin") != std::string::npos);
  CHECK(table.out.find(kAdminName) != std::string::npos);

  TempDir dir;
  const std::string pass = dir.path() + "/pass";
  REQUIRE(WriteFile(pass, "a passphrase of some length\n", 0600) == 0);
  const std::string vault = dir.path() + "/vault";
  auto r = RunStrongroom({"init", "--passfile", pass, "--scrypt-logn", "10", vault}, 30s);
  ExpectError(r, kUsage, "init without --admin");
  CHECK(r.err.find("--admin") != std::string::npos);
  struct stat st {};
  bool left_something = stat((vault + "/strongroom.db").c_str(), &st) == 0;
  CHECK_FALSE(left_something);
}

TEST_CASE("json output (--json) parses and has the documented fields", "[policy-cli]") {
  MountedVault v;
  Setup(v);

  const json added = CliJson(v, kAdminId, {"user", "add", "newbie", "--uid", "5010", "--clearance", "2"});
  CHECK(HasKeys(added, kUserFields));
  CHECK(added["name"] == "newbie");
  CHECK(added["uid"] == 5010);
  CHECK(added["role"] == "staff");
  CHECK(added["clearance"] == 2);
  CHECK(added["created_by"] == kAdminName);

  const json set = CliJson(v, kAdminId, {"user", "set", "newbie", "--role", "auditor"});
  CHECK(HasKeys(set, kUserFields));
  CHECK(set["role"] == "auditor");
  const json disabled = CliJson(v, kAdminId, {"user", "disable", "newbie"});
  CHECK(disabled["enabled"] == false);
  const json enabled = CliJson(v, kAdminId, {"user", "enable", "newbie"});
  CHECK(enabled["enabled"] == true);

  const json users = CliJson(v, kAdminId, {"user", "list"});
  REQUIRE(users["users"].is_array());
  CHECK(users["users"].size() == 7);  // sr-admin, root, lead, staff, staff2, auditor, newbie
  for (const auto& u : users["users"]) CHECK(HasKeys(u, kUserFields));

  const json team = CliJson(v, kAdminId, {"team", "add", "ops"});
  CHECK(HasKeys(team, {"name", "members"}));
  CHECK(team["name"] == "ops");
  const json member = CliJson(v, kAdminId, {"team", "member", "add", "ops", "newbie"});
  CHECK(member["members"] == json::array({"newbie"}));
  const json removed = CliJson(v, kAdminId, {"team", "member", "remove", "ops", "newbie"});
  CHECK(removed["members"] == json::array());
  const json teams = CliJson(v, kAdminId, {"team", "list"});
  REQUIRE(teams["teams"].is_array());
  CHECK(teams["teams"].size() == 2);

  const json label = CliJson(v, kAdminId, {"label", v.Path("other"), "2"});
  CHECK(HasKeys(label, {"path", "level"}));
  CHECK(label["path"] == "/other");
  CHECK(label["level"] == 2);

  const json grant = CliJson(v, kAdminId, {"grant", "vault:/other", "@ops", "read", "--until", "2099-12-31"});
  CHECK(HasKeys(grant, kGrantFields));
  CHECK(grant["path"] == "/other");
  CHECK(grant["subject"] == "@ops");
  CHECK(grant["mode"] == "read");
  CHECK(grant["until"].is_number_integer());
  CHECK(grant["granted_by"] == kAdminName);

  const json access = CliJson(v, kAdminId, {"access", v.Path("other/x.txt")});
  CHECK(HasKeys(access, {"path", "level", "grants", "effective"}));
  CHECK(access["path"] == "/other/x.txt");
  CHECK(access["level"] == 2);
  bool found_inherited = false;
  for (const auto& g : access["grants"]) {
    CHECK(HasKeys(g, kGrantFields));
    CHECK(g.contains("inherited"));
    if (g["subject"] == "@ops") found_inherited = g["inherited"] == true && g["path"] == "/other";
  }
  CHECK(found_inherited);
  for (const auto& e : access["effective"]) CHECK(HasKeys(e, {"user", "mode", "reason"}));

  const json mine = CliJson(v, kStaff, {"access", "--user", "staff"});
  CHECK(HasKeys(mine, {"user", "grants"}));
  REQUIRE(mine["grants"].size() == 1);
  CHECK(HasKeys(mine["grants"][0], kGrantFields));
  CHECK(mine["grants"][0]["path"] == "/proj/sub");

  const json req = CliJson(v, kStaff2, {"request", "vault:/", "read", "--reason", "need it"});
  CHECK(HasKeys(req, kRequestFields));
  CHECK(req["state"] == "pending");
  CHECK(req["user"] == "staff2");
  CHECK(req["path"] == "/");
  CHECK(req["reason"] == "need it");
  const json reqs = CliJson(v, kAdminId, {"requests"});
  REQUIRE(reqs["requests"].is_array());
  REQUIRE(reqs["requests"].size() == 1);
  CHECK(HasKeys(reqs["requests"][0], kRequestFields));
  const std::string id = std::to_string(req["id"].get<int64_t>());
  const json denied = CliJson(v, kAdminId, {"deny", id, "--reason", "too broad"});
  CHECK(HasKeys(denied, kRequestFields));
  CHECK(denied["state"] == "denied");
  CHECK(denied["decided_by"] == kAdminName);
  CHECK(denied["decision_reason"] == "too broad");
  CHECK(denied["decided_at"].is_number_integer());
  const json all = CliJson(v, kAdminId, {"requests", "--all"});
  CHECK(all["requests"].size() == 1);
  CHECK(CliJson(v, kAdminId, {"requests"})["requests"].empty());

  const json revoked = CliJson(v, kAdminId, {"revoke", "vault:/other", "@ops"});
  CHECK(HasKeys(revoked, {"path", "subject"}));
  CHECK(revoked["path"] == "/other");
  CHECK(revoked["subject"] == "@ops");
  ExpectCliError(v, kAdminId, {"revoke", "vault:/other", "@ops"}, kNotFound);
}

TEST_CASE("staff are refused admin commands with exit 4, unknown uids are refused", "[policy-cli]") {
  MountedVault v;
  Setup(v);
  // Staff can reach the socket (whoami works) ...
  const json me = CliJson(v, kStaff, {"whoami"});
  CHECK(me["role"] == "staff");
  CHECK(me["leads"].empty());
  // ... but may not administer.
  const std::vector<std::vector<std::string>> refused = {
      {"user", "add", "mallory", "--uid", "6666"},
      {"user", "add", "mallory", "--uid", "6666", "--role", "admin"},
      {"user", "set", "staff2", "--clearance", "3"},
      {"user", "set", "staff", "--role", "admin"},
      {"user", "disable", "staff2"},
      {"user", "enable", "staff2"},
      {"user", "list"},
      {"team", "add", "mine"},
      {"team", "member", "add", "crew", "staff"},
      {"team", "member", "remove", "crew", "staff2"},
      {"team", "list"},
      {"label", v.Path("proj/sub"), "1"},
      {"label", v.Path("proj/sub"), "3"},
      {"grant", v.Path("proj/sub"), "staff2", "read"},  // visible to staff (read), not managed
      {"grant", v.mnt(), "staff2", "read"},              // the root: always visible
      {"revoke", v.Path("proj/sub"), "staff"},
      {"access", "--user", "staff2"},
  };
  for (const auto& args : refused) ExpectCliError(v, kStaff, args, kRefused);
  // Nothing changed.
  const json users = CliJson(v, kAdminId, {"user", "list"});
  CHECK(users["users"].size() == 6);
  for (const auto& u : users["users"]) {
    if (u["name"] == "staff") CHECK(u["role"] == "staff");
    if (u["name"] == "staff2") CHECK(u["enabled"] == true);
  }
  CHECK(CliJson(v, kAdminId, {"access", v.Path("proj/sub")})["level"] == 1);

  // Auditors list but do not change.
  CHECK(CliJson(v, kAuditor, {"user", "list"})["users"].size() == 6);
  CHECK(CliJson(v, kAuditor, {"team", "list"})["teams"].size() == 1);
  ExpectCliError(v, kAuditor, {"user", "add", "mallory", "--uid", "6666"}, kRefused);
  ExpectCliError(v, kAuditor, {"grant", v.Path("proj"), "staff2", "read"}, kRefused);

  // A uid that is no user: refused, whatever it asks.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"whoami"}, {"access", "vault:/"}, {"request", "vault:/", "read", "--reason", "r"}, {"requests"}}) {
    ExpectCliError(v, kStranger, args, kRefused);
  }
  auto r = Cli(v, kStranger, {"whoami"});
  CHECK(r.err.find("not a Strongroom user") != std::string::npos);

  // A disabled user too.
  v.Policy(kAdminId, {"user", "disable", "staff2"});
  ExpectCliError(v, kStaff2, {"whoami"}, kRefused);
}

TEST_CASE("a lead grants inside their folder and is refused outside it", "[policy-cli]") {
  MountedVault v;
  Setup(v);
  const json me = CliJson(v, kLead, {"whoami"});
  CHECK(me["leads"] == json::array({"/proj"}));

  // Inside /proj: works and echoes the resolved vault path.
  auto r = Cli(v, kLead, {"grant", v.Path("proj/sub"), "staff2", "view"});
  ExpectOk(r, "lead grants on /proj/sub");
  CHECK(r.out.find("/proj/sub") != std::string::npos);
  CHECK(r.out.find(v.mnt()) == std::string::npos);  // the vault path, not the filesystem path
  r = Cli(v, kLead, {"grant", v.Path("proj/./sub/../sub/doc.txt"), "staff2", "read"});
  ExpectOk(r, "lead grants on a file via a non-normal path");
  CHECK(r.out.find("/proj/sub/doc.txt") != std::string::npos);
  r = Cli(v, kLead, {"revoke", "vault:/proj/sub/doc.txt", "staff2"});
  ExpectOk(r, "lead revokes inside /proj");
  CHECK(r.out.find("/proj/sub/doc.txt") != std::string::npos);
  // The grant works on the mount.
  CHECK(ReadAs(kStaff, v.Path("proj/sub/doc.txt"), "secret") == 0);

  // Outside: the root is visible to everyone -> refused; /other is hidden
  // from the lead -> not found, exactly like a missing path.
  ExpectCliError(v, kLead, {"grant", v.mnt(), "staff2", "read"}, kRefused);
  ExpectCliError(v, kLead, {"grant", "vault:/", "staff2", "read"}, kRefused);
  auto hidden = Cli(v, kLead, {"grant", "vault:/other", "staff2", "read"});
  ExpectError(hidden, kNotFound, "lead grants on hidden /other");
  auto missing = Cli(v, kLead, {"grant", "vault:/nothere", "staff2", "read"});
  ExpectError(missing, kNotFound, "lead grants on missing /nothere");
  {
    std::string h = hidden.err, m = missing.err;
    h.replace(h.find("/other"), 6, "/X");
    m.replace(m.find("/nothere"), 8, "/X");
    CHECK(h == m);
  }
  ExpectCliError(v, kLead, {"revoke", "vault:/other", "staff2"}, kNotFound);
  ExpectCliError(v, kLead, {"label", "vault:/proj", "2"}, kRefused);  // labels are admins' only
  // Once /other is visible to the lead (read), still refused (not managed).
  v.Policy(kAdminId, {"grant", "vault:/other", "lead", "read"});
  ExpectCliError(v, kLead, {"grant", "vault:/other", "staff2", "read"}, kRefused);
  ExpectCliError(v, kLead, {"grant", "vault:/other/x.txt", "staff2", "read"}, kRefused);
  // Nothing was granted outside.
  CHECK(ReadAs(kStaff2, v.Path("other/x.txt"), "x") == ENOENT);
}

TEST_CASE("separation of duties: no self-grants, no self-approval, requests and decisions", "[policy-cli]") {
  MountedVault v;
  Setup(v);

  SECTION("self-grants and self-membership are refused") {
    ExpectCliError(v, kLead, {"grant", "vault:/proj/sub", "lead", "write"}, kRefused);
    ExpectCliError(v, kLead, {"grant", "vault:/proj/sub", "@crew", "write"}, kRefused);  // lead is in @crew
    ExpectCliError(v, kAdminId, {"grant", "vault:/proj", kAdminName, "read"}, kRefused);
    ExpectCliError(v, kRootId, {"grant", "vault:/proj", "root", "read"}, kRefused);
    ExpectCliError(v, kAdminId, {"team", "member", "add", "crew", kAdminName}, kRefused);
    ExpectCliError(v, kAdminId, {"user", "set", kAdminName, "--clearance", "1"}, kRefused);
    ExpectCliError(v, kAdminId, {"user", "disable", kAdminName}, kRefused);
    // Another admin may add the admin to a team, and then the admin may not
    // grant to that team.
    v.Policy(kAdminId, {"user", "add", "admin2", "--uid", "5020", "--role", "admin"});
    v.Policy({5020, 5020}, {"team", "member", "add", "crew", kAdminName});
    ExpectCliError(v, kAdminId, {"grant", "vault:/proj", "@crew", "read"}, kRefused);
    // A lead may grant @crew only if not in it: admin2 (not in crew) may.
    v.Policy({5020, 5020}, {"grant", "vault:/proj", "@crew", "read"});
  }

  SECTION("request, approve, read; own requests cannot be decided") {
    // staff2 sees /proj/sub only as the way to pub.txt.
    v.Policy(kLead, {"grant", "vault:/proj/sub/pub.txt", "staff2", "read"});
    CHECK(ReadAs(kStaff2, v.Path("proj/sub/pub.txt"), "public") == 0);
    CHECK(ReadAs(kStaff2, v.Path("proj/sub/doc.txt"), "secret") == ENOENT);

    const json req = CliJson(v, kStaff2, {"request", v.Path("proj/sub"), "read", "--reason", "quarterly report"});
    CHECK(req["path"] == "/proj/sub");
    CHECK(req["state"] == "pending");
    const std::string id = std::to_string(req["id"].get<int64_t>());

    // The requester cannot decide it, nor can other staff.
    ExpectCliError(v, kStaff2, {"approve", id}, kRefused);
    ExpectCliError(v, kStaff2, {"deny", id, "--reason", "nah"}, kRefused);
    {
      auto r = Cli(v, kStaff, {"approve", id});
      INFO("staff approves another's request: exit " << r.exit_code << " " << r.err);
      CHECK((r.exit_code == kRefused || r.exit_code == kNotFound));
    }
    // The lead sees it and approves it.
    const json listed = CliJson(v, kLead, {"requests"});
    REQUIRE(listed["requests"].size() == 1);
    CHECK(listed["requests"][0]["user"] == "staff2");
    const json approved = CliJson(v, kLead, {"approve", id});
    CHECK(approved["state"] == "approved");
    CHECK(approved["decided_by"] == "lead");
    // The grant works on the mount.
    CHECK(ReadAs(kStaff2, v.Path("proj/sub/doc.txt"), "secret") == 0);
    // And it is a grant from the lead.
    const json acc = CliJson(v, kStaff2, {"access", "--user", "staff2"});
    bool found = false;
    for (const auto& g : acc["grants"]) {
      if (g["path"] == "/proj/sub" && g["mode"] == "read" && g["granted_by"] == "lead") found = true;
    }
    CHECK(found);
    // Decided: approving again is a conflict.
    ExpectCliError(v, kLead, {"approve", id}, kConflict);

    // Own requests: a lead's and an admin's.
    const json lead_req = CliJson(v, kLead, {"request", "vault:/proj/sub", "write", "--reason", "me"});
    ExpectCliError(v, kLead, {"approve", std::to_string(lead_req["id"].get<int64_t>())}, kRefused);
    const json admin_req = CliJson(v, kAdminId, {"request", "vault:/proj/sub/doc.txt", "read", "--reason", "audit"});
    const std::string admin_id = std::to_string(admin_req["id"].get<int64_t>());
    ExpectCliError(v, kAdminId, {"approve", admin_id}, kRefused);
    ExpectCliError(v, kAdminId, {"deny", admin_id, "--reason", "self"}, kRefused);
    // The admin still reads no content (only a grant from someone else would
    // do); admins see folder names, not file names.
    CHECK(ReadAs(kAdminId, v.Path("proj/sub/doc.txt"), "secret") == ENOENT);
    // The lead may approve the admin's request (a grant from someone else).
    CliJson(v, kLead, {"approve", admin_id});
    CHECK(ReadAs(kAdminId, v.Path("proj/sub/doc.txt"), "secret") == 0);
  }

  SECTION("deny with a reason; requests are listed to the leads of their folders only") {
    // staff sees /other as the way to x.txt (view, from the admin).
    v.Policy(kAdminId, {"grant", "vault:/other/x.txt", "staff", "view"});
    const json on_proj = CliJson(v, kStaff, {"request", "vault:/proj/sub", "write", "--reason", "edit"});
    const json on_other = CliJson(v, kStaff, {"request", "vault:/other", "read", "--reason", "browse"});
    const json by_staff2 = CliJson(v, kStaff2, {"request", "vault:/", "view", "--reason", "look"});

    auto ids = [](const json& list) {
      std::set<int64_t> out;
      for (const auto& r : list["requests"]) out.insert(r["id"].get<int64_t>());
      return out;
    };
    const int64_t p = on_proj["id"], o = on_other["id"], s2 = by_staff2["id"];
    CHECK(ids(CliJson(v, kLead, {"requests"})) == std::set<int64_t>{p});
    CHECK(ids(CliJson(v, kAdminId, {"requests"})) == std::set<int64_t>{p, o, s2});
    CHECK(ids(CliJson(v, kStaff, {"requests"})) == std::set<int64_t>{p, o});  // their own
    CHECK(ids(CliJson(v, kStaff2, {"requests"})) == std::set<int64_t>{s2});
    // The lead cannot decide the request on /other.
    {
      auto r = Cli(v, kLead, {"approve", std::to_string(o)});
      INFO("lead approves a request outside their folder: exit " << r.exit_code << " " << r.err);
      CHECK((r.exit_code == kRefused || r.exit_code == kNotFound));
    }

    // Deny needs a reason; with one it is recorded.
    {
      auto r = Cli(v, kLead, {"deny", std::to_string(p)});
      ExpectError(r, kUsage, "deny without --reason");
    }
    const json denied = CliJson(v, kLead, {"deny", std::to_string(p), "--reason", "read-only project"});
    CHECK(denied["state"] == "denied");
    CHECK(denied["decision_reason"] == "read-only project");
    CHECK(denied["decided_by"] == "lead");
    // The requester sees the decision and its reason.
    bool seen = false;
    const json staff_all = CliJson(v, kStaff, {"requests", "--all"});
    for (const auto& r : staff_all["requests"]) {
      if (r["id"] == p) seen = r["state"] == "denied" && r["decision_reason"] == "read-only project";
    }
    CHECK(seen);
    // Still no write for staff.
    CHECK(RunAs(kStaff.uid, kStaff.gid, [&] { return WriteFile(v.Path("proj/sub/new.txt"), "x"); }) == EACCES);
    // Denied: not pending any more.
    CHECK(ids(CliJson(v, kLead, {"requests"})).empty());
  }
}

TEST_CASE("access PATH: who sees which entries, inherited grants, access --user", "[policy-cli]") {
  MountedVault v;
  Setup(v);
  v.Policy(kAdminId, {"grant", "vault:/proj", "@crew", "read"});  // the admin is not in @crew
  const std::string doc = v.Path("proj/sub/doc.txt");
  const std::set<std::string> everyone = {kAdminName, "root", "lead", "staff", "staff2", "auditor"};

  // Admins and auditors see everyone and every grant on the chain.
  for (const Identity& who : {kAdminId, kAuditor}) {
    const json a = CliJson(v, who, {"access", doc});
    INFO("as uid " << who.uid << ": " << a.dump());
    CHECK(a["path"] == "/proj/sub/doc.txt");
    CHECK(EffectiveUsers(a) == everyone);
    CHECK(a["grants"].size() == 4);  // staff on /proj/sub; lead, @crew on /proj; root on /
  }
  // A lead sees their subtree: the grants from their own folder down, and
  // the users who have access there, with the reasons.
  const json lead_view = CliJson(v, kLead, {"access", doc});
  CHECK(EffectiveUsers(lead_view) == std::set<std::string>{"lead", "root", "staff", "staff2"});
  CHECK(lead_view["grants"].size() == 3);  // staff on /proj/sub; lead, @crew on /proj
  std::vector<std::string> order;
  for (const auto& g : lead_view["grants"]) {
    order.push_back(g["path"].get<std::string>());
    CHECK(g["inherited"] == true);  // nothing on doc.txt itself
  }
  CHECK(order.front() == "/proj/sub");  // nearest first
  CHECK(order.back() == "/proj");
  {
    const json* e = EffectiveFor(lead_view, "staff");
    REQUIRE(e != nullptr);
    CHECK((*e)["mode"] == "read");
    CHECK((*e)["reason"] == "grant to staff on /proj/sub");
    e = EffectiveFor(lead_view, "lead");
    REQUIRE(e != nullptr);
    CHECK((*e)["mode"] == "manage");
    CHECK((*e)["reason"] == "grant to lead on /proj");
    e = EffectiveFor(lead_view, "staff2");
    REQUIRE(e != nullptr);
    CHECK((*e)["mode"] == "read");
    CHECK((*e)["reason"] == "grant to @crew on /proj");
    CHECK(EffectiveFor(lead_view, kAdminName) == nullptr);  // no access there: not listed
  }
  // The table shows where each grant is inherited from.
  auto table = Cli(v, kLead, {"access", doc});
  ExpectOk(table, "access as the lead (table)");
  CHECK(table.out.find("inherited") != std::string::npos);
  CHECK(table.out.find("grant to staff on /proj/sub") != std::string::npos);
  CHECK(table.out.find("grant to lead on /proj") != std::string::npos);
  // Outside their subtree a lead is staff: the root shows only their entry.
  const json lead_root = CliJson(v, kLead, {"access", "vault:/"});
  CHECK(EffectiveUsers(lead_root) == std::set<std::string>{"lead"});
  ExpectCliError(v, kLead, {"access", "vault:/other"}, kNotFound);

  // Staff see only themselves and the grants that apply to them.
  const json staff_view = CliJson(v, kStaff, {"access", doc});
  CHECK(EffectiveUsers(staff_view) == std::set<std::string>{"staff"});
  REQUIRE(staff_view["grants"].size() == 1);
  CHECK(staff_view["grants"][0]["subject"] == "staff");
  CHECK(staff_view["grants"][0]["path"] == "/proj/sub");
  CHECK(staff_view["grants"][0]["inherited"] == true);
  const json staff2_view = CliJson(v, kStaff2, {"access", doc});
  CHECK(EffectiveUsers(staff2_view) == std::set<std::string>{"staff2"});
  REQUIRE(staff2_view["grants"].size() == 1);
  CHECK(staff2_view["grants"][0]["subject"] == "@crew");
  CHECK(EffectiveFor(staff2_view, "staff2")->at("reason") == "grant to @crew on /proj");
  auto staff_table = Cli(v, kStaff, {"access", doc});
  ExpectOk(staff_table, "access as staff (table)");
  // (The lead appears only as the giver of staff's grant.)
  CHECK(staff_table.out.find("staff2") == std::string::npos);
  CHECK(staff_table.out.find("auditor") == std::string::npos);
  CHECK(staff_table.out.find("@crew") == std::string::npos);
  CHECK(staff_table.out.find("manage") == std::string::npos);

  // access --user: self, admins, auditors; not other staff, not a lead.
  CHECK(CliJson(v, kStaff, {"access", "--user", "staff"})["user"] == "staff");
  CHECK(CliJson(v, kAdminId, {"access", "--user", "staff"})["grants"].size() == 1);
  CHECK(CliJson(v, kAuditor, {"access", "--user", "staff2"})["grants"].size() == 1);
  ExpectCliError(v, kStaff2, {"access", "--user", "staff"}, kRefused);
  ExpectCliError(v, kLead, {"access", "--user", "staff"}, kRefused);
  ExpectCliError(v, kStaff, {"access", "--user", kAdminName}, kRefused);
  ExpectCliError(v, kAdminId, {"access", "--user", "nobody-here"}, kNotFound);
  ExpectCliError(v, kAdminId, {"access", "--user", "staff", doc}, kUsage);
  ExpectCliError(v, kAdminId, {"access"}, kUsage);
}

TEST_CASE("a hidden path answers exactly like a missing one", "[policy-cli]") {
  MountedVault v;
  Setup(v);
  // staff sees /proj/sub (read) but not /other.
  struct Pair {
    std::string hidden, missing;
  };
  const std::vector<Pair> pairs = {
      {"vault:/other", "vault:/nothere"},
      {"vault:/other/x.txt", "vault:/other/nothere.txt"},
      {v.Path("other"), v.Path("nothere")},
      {v.Path("other/x.txt"), v.Path("proj/sub/nothere.txt")},
  };
  auto same_shape = [](std::string err, const std::string& path) {
    const size_t at = err.find(path);
    if (at != std::string::npos) err.replace(at, path.size(), "<PATH>");
    return err;
  };
  for (const auto& p : pairs) {
    auto vault_path = [&](const std::string& arg) {
      return arg.rfind("vault:", 0) == 0 ? arg.substr(6) : arg.substr(v.mnt().size());
    };
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"request", "@", "read", "--reason", "please"},
          std::vector<std::string>{"access", "@"}}) {
      auto with = [&](const std::string& path) {
        std::vector<std::string> args = cmd;
        for (auto& a : args) {
          if (a == "@") a = path;
        }
        return args;
      };
      auto h = Cli(v, kStaff, with(p.hidden));
      auto m = Cli(v, kStaff, with(p.missing));
      ExpectError(h, kNotFound, "hidden: " + Line(with(p.hidden)));
      ExpectError(m, kNotFound, "missing: " + Line(with(p.missing)));
      INFO("hidden: " << h.err << "missing: " << m.err);
      CHECK(same_shape(h.err, vault_path(p.hidden)) == same_shape(m.err, vault_path(p.missing)));
    }
  }
  // No request was recorded.
  CHECK(CliJson(v, kAdminId, {"requests", "--all"})["requests"].empty());
}

TEST_CASE("with nothing mounted, commands exit 6 with a clear message", "[policy-cli]") {
  MountedVault v(MountedVault::Options{.mount = false});
  // --mount naming a directory where nothing is mounted.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"whoami"}, {"user", "list"}, {"access", "vault:/"},
        {"grant", "vault:/x", "staff", "read"}, {"request", "vault:/x", "read", "--reason", "r"}}) {
    auto r = Cli(v, kRootId, args);
    ExpectError(r, kNotMounted, Line(args) + " --mount " + v.mnt());
    CHECK(r.err.find("mounted") != std::string::npos);
  }
  // And in a mount namespace where no vault at all is mounted (other tests
  // may have vaults mounted meanwhile).
  const std::string script =
      "for m in $(grep ' - fuse\\.strongroom ' /proc/self/mountinfo | cut -d' ' -f5); do umount -l \"$m\" || exit 90; "
      "done; grep -q ' - fuse\\.strongroom ' /proc/self/mountinfo && exit 91; exec \"$@\"";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"whoami"}, {"access", "vault:/"}, {"grant", v.Path("x"), "staff", "read"},
        {"requests", "--json"}}) {
    std::vector<std::string> argv = {"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script,
                                     "sh",               StrongroomBin()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, 30s);
    ExpectError(r, kNotMounted, "(no vault mounted) " + Line(args));
    CHECK(r.err.find("no strongroom vault is mounted") != std::string::npos);
  }
}

TEST_CASE("choosing among two mounted vaults with --mount and path arguments", "[policy-cli]") {
  MountedVault a;
  MountedVault b;
  REQUIRE_SYS(mkdir(a.Path("only-a").c_str(), 0755));
  REQUIRE_SYS(mkdir(b.Path("only-b").c_str(), 0755));

  CHECK(CliJson(a, kRootId, {"whoami"})["mountpoint"] == a.mnt());
  CHECK(CliJson(b, kRootId, {"whoami"})["mountpoint"] == b.mnt());
  // --mount relative to the working directory.
  {
    auto r = RunStrongroom({"whoami", "--json", "--mount", "mnt"}, 30s, b.root());
    ExpectOk(r, "whoami --mount mnt (relative)");
    CHECK(ParseJson(r.out)["mountpoint"] == b.mnt());
  }
  // Ambiguous without --mount.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"whoami"}, {"access", "vault:/only-a"}, {"requests"}}) {
    auto r = RunStrongroom(args, 30s);
    ExpectError(r, kUsage, Line(args) + " (two vaults mounted, no --mount)");
    CHECK(r.err.find("--mount") != std::string::npos);
  }
  // A path under a mountpoint chooses that vault.
  for (MountedVault* v : {&a, &b}) {
    const std::string dir = v == &a ? "only-a" : "only-b";
    auto r = RunStrongroom({"access", "--json", v->Path(dir)}, 30s);
    ExpectOk(r, "access " + v->Path(dir));
    CHECK(ParseJson(r.out)["path"] == "/" + dir);
    // Also relative to the working directory inside the mount.
    r = RunStrongroom({"access", "--json", dir}, 30s, v->mnt());
    ExpectOk(r, "access " + dir + " from " + v->mnt());
    CHECK(ParseJson(r.out)["path"] == "/" + dir);
    // The grant goes to that vault.
    r = RunStrongroom({"grant", v->Path(dir), kAdminName, "read"}, 30s);
    ExpectOk(r, "grant on " + v->Path(dir));
    CHECK(r.out.find("/" + dir) != std::string::npos);
  }
  // vault:/ paths follow --mount.
  ExpectCliError(a, kRootId, {"access", "vault:/only-b"}, kNotFound);
  ExpectCliError(b, kRootId, {"access", "vault:/only-a"}, kNotFound);
  // A path in one vault with --mount naming the other.
  ExpectCliError(a, kRootId, {"access", b.Path("only-b")}, kUsage);
}

// The control socket of the daemon serving `mountpoint`
// (/run/strongroom/<first 16 hex of sha256(mountpoint)>.sock).
std::string SocketPathFor(const std::string& mountpoint) {
  char real[PATH_MAX];
  REQUIRE(realpath(mountpoint.c_str(), real) != nullptr);
  auto r = RunCommand({"/bin/sh", "-c", "printf %s \"$1\" | sha256sum", "sh", real}, 10s);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.size() >= 16);
  return "/run/strongroom/" + r.out.substr(0, 16) + ".sock";
}

// A fake daemon: a child that binds `path` as root (optionally chowning the
// socket file to nobody), becomes uid/gid 65534, listens, and counts the
// connections and bytes it receives until told to stop.
class FakeDaemon {
 public:
  FakeDaemon(const std::string& path, bool chown_file) {
    int ready[2], stop[2], result[2];
    REQUIRE_SYS(pipe2(ready, O_CLOEXEC));
    REQUIRE_SYS(pipe2(stop, O_CLOEXEC));
    REQUIRE_SYS(pipe2(result, O_CLOEXEC));
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      close(ready[0]);
      close(stop[1]);
      close(result[0]);
      int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) _exit(10);
      if (chmod(path.c_str(), 0666) != 0) _exit(11);
      if (chown_file && chown(path.c_str(), 65534, 65534) != 0) _exit(12);
      if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
          setresuid(65534, 65534, 65534) != 0) {
        _exit(13);
      }
      if (listen(fd, 8) != 0) _exit(14);
      if (write(ready[1], "r", 1) != 1) _exit(15);
      long conns = 0, bytes = 0;
      for (;;) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {stop[0], POLLIN, 0}};
        if (poll(fds, 2, 30000) <= 0 || (fds[1].revents != 0)) break;
        if (fds[0].revents & POLLIN) {
          int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
          if (c < 0) continue;
          ++conns;
          timeval tv{2, 0};
          setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          char buf[4096];
          for (;;) {
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            bytes += n;
          }
          close(c);
        }
      }
      const std::string out = std::to_string(conns) + " " + std::to_string(bytes);
      if (write(result[1], out.data(), out.size()) < 0) _exit(16);
      _exit(0);
    }
    close(ready[1]);
    close(stop[0]);
    close(result[1]);
    stop_ = stop[1];
    result_ = result[0];
    pollfd p{ready[0], POLLIN, 0};
    char c = 0;
    const bool ok = poll(&p, 1, 10000) == 1 && read(ready[0], &c, 1) == 1 && c == 'r';
    close(ready[0]);
    if (!ok) {
      Finish();
      FAIL("the fake daemon did not start (child exit " << status_ << ")");
    }
  }
  ~FakeDaemon() { Finish(); }

  // Stops the child; returns "connections bytes".
  std::string Finish() {
    if (pid_ <= 0) return result_text_;
    if (stop_ >= 0) {
      close(stop_);
      stop_ = -1;
    }
    char buf[64];
    ssize_t n;
    while ((n = read(result_, buf, sizeof buf)) > 0) result_text_.append(buf, static_cast<size_t>(n));
    close(result_);
    int st = 0;
    waitpid(pid_, &st, 0);
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return result_text_;
  }

 private:
  pid_t pid_ = -1;
  int stop_ = -1;
  int result_ = -1;
  int status_ = -1;
  std::string result_text_;
};

// Moves the daemon's socket aside for the test and puts it back afterwards.
class SocketAside {
 public:
  explicit SocketAside(std::string path) : path_(std::move(path)), saved_(path_ + ".test-aside") {
    REQUIRE_SYS(rename(path_.c_str(), saved_.c_str()));
  }
  ~SocketAside() {
    unlink(path_.c_str());
    rename(saved_.c_str(), path_.c_str());
  }

 private:
  std::string path_, saved_;
};

TEST_CASE("the CLI refuses a control socket not served by root and sends it nothing", "[policy-cli]") {
  MountedVault v;
  const std::string path = SocketPathFor(v.mnt());
  {
    struct stat st = StatOrDie(path);
    REQUIRE(S_ISSOCK(st.st_mode));
    REQUIRE(st.st_uid == 0);
  }
  {
    SocketAside aside(path);
    for (const bool chown_file : {true, false}) {
      INFO((chown_file ? "socket file owned by nobody, served by nobody"
                       : "socket file owned by root, served by a process of nobody's"));
      FakeDaemon fake(path, chown_file);
      {
        struct stat st = StatOrDie(path);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK(st.st_uid == (chown_file ? 65534u : 0u));
      }
      auto r = RunStrongroomAs(kAdminId, {"user", "add", "mallory", "--uid", "6666", "--mount", v.mnt()}, 30s);
      auto r2 = RunStrongroom({"whoami", "--mount", v.mnt()}, 30s);
      const std::string got = fake.Finish();
      INFO("fake daemon saw (connections bytes): " << got);
      ExpectError(r, kRefused, "user add via a fake socket");
      ExpectError(r2, kRefused, "whoami via a fake socket");
      CHECK(r2.err.find("root") != std::string::npos);
      REQUIRE(got.find(' ') != std::string::npos);
      const long conns = std::stol(got.substr(0, got.find(' ')));
      const long bytes = std::stol(got.substr(got.find(' ') + 1));
      CHECK(bytes == 0);
      if (chown_file) CHECK(conns == 0);  // refused from the file's owner, before connecting
      REQUIRE_SYS(unlink(path.c_str()));
    }
  }
  // The daemon's socket is back: commands work, and no user was added.
  const json users = CliJson(v, kAdminId, {"user", "list"});
  for (const auto& u : users["users"]) CHECK(u["name"] != "mallory");
  v.Unmount();
}

// Escaped the way tables show names (tools/terminal_text.cc).
struct NameCase {
  std::string name;
  std::string shown;
};

bool HasRawControls(const std::string& s) {
  return s.find('\x1b') != std::string::npos || s.find("\xc2\x9b") != std::string::npos ||
         s.find("\xe2\x80\xae") != std::string::npos || s.find('\t') != std::string::npos ||
         s.find('\r') != std::string::npos;
}

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST_CASE("hostile user, team and folder names", "[policy-cli]") {
  MountedVault v;
  Setup(v);

  SECTION("user and team names") {
    const std::vector<NameCase> ok_users = {
        {"o'brien \"the\" quote", "o'brien \"the\" quote"},
        {std::string(64, 'n'), std::string(64, 'n')},
        {"c1\xc2\x9b" "31mred", "c1\\xc2\\x9b31mred"},
        {"rlo\xe2\x80\xae" "txt.exe", "rlo\\xe2\\x80\\xaetxt.exe"},
        {"; rm -rf / #", "; rm -rf / #"},
    };
    uid_t uid = 7000;
    for (const auto& n : ok_users) {
      const json u = CliJson(v, kAdminId, {"user", "add", n.name, "--uid", std::to_string(uid++)});
      CHECK(u["name"] == n.name);
    }
    const std::vector<std::string> bad_users = {
        std::string(65, 'n'), "@lead2", "esc\x1b[31mred", "new\nline", "bell\x07", "", "bad\xff",
    };
    for (const auto& n : bad_users) ExpectCliError(v, kAdminId, {"user", "add", n, "--uid", std::to_string(uid++)}, kUsage);

    // The table escapes; one line per user; --json round-trips.
    auto table = Cli(v, kAdminId, {"user", "list"});
    ExpectOk(table, "user list");
    CHECK_FALSE(HasRawControls(table.out));
    CHECK(Lines(table.out) == 1 + 6 + ok_users.size());
    for (const auto& n : ok_users) CHECK(table.out.find(n.shown) != std::string::npos);
    std::set<std::string> names;
    const json listed = CliJson(v, kAdminId, {"user", "list"});
    for (const auto& u : listed["users"]) names.insert(u["name"].get<std::string>());
    for (const auto& n : ok_users) CHECK(names.count(n.name) == 1);
    CHECK(names.size() == 6 + ok_users.size());

    // Teams.
    const std::vector<std::string> ok_teams = {"team \"q\" 'x'", std::string(64, 't'), "c1\xc2\x9bteam"};
    for (const auto& t : ok_teams) CHECK(CliJson(v, kAdminId, {"team", "add", t})["name"] == t);
    for (const auto& t : std::vector<std::string>{std::string(65, 't'), "@@t", "esc\x1b]0;title\x07", "nl\nteam", ""}) {
      ExpectCliError(v, kAdminId, {"team", "add", t}, kUsage);
    }
    CliJson(v, kAdminId, {"team", "member", "add", ok_teams[0], ok_users[0].name});
    auto teams = Cli(v, kAdminId, {"team", "list"});
    ExpectOk(teams, "team list");
    CHECK_FALSE(HasRawControls(teams.out));
    CHECK(Lines(teams.out) == 1 + 1 + ok_teams.size());
    CHECK(teams.out.find("c1\\xc2\\x9bteam") != std::string::npos);

    // Grants to hostile subjects: the echo escapes, --json is exact.
    for (const std::string& subject : {ok_users[2].name, "@" + ok_teams[0], "@" + ok_teams[2]}) {
      auto r = Cli(v, kAdminId, {"grant", "vault:/proj/sub", subject, "view"});
      ExpectOk(r, "grant to a hostile subject");
      CHECK(Lines(r.out) == 1);
      CHECK_FALSE(HasRawControls(r.out));
      CHECK(CliJson(v, kAdminId, {"grant", "vault:/proj/sub", subject, "read"})["subject"] == subject);
    }
    auto access = Cli(v, kAdminId, {"access", "vault:/proj/sub"});
    ExpectOk(access, "access with hostile subjects");
    CHECK_FALSE(HasRawControls(access.out));
  }

  SECTION("folder names") {
    const std::vector<NameCase> folders = {
        {"q'uote\"d name", "q'uote\"d name"},
        {"new\nline", "new\\nline"},
        {"..x", "..x"},
        {"x..", "x.."},
        {"esc\x1b[31mred", "esc\\x1b[31mred"},
        {"tab\there", "tab\\there"},
        {"c1\xc2\x9bx", "c1\\xc2\\x9bx"},
        {"back\\slash", "back\\\\slash"},
        {std::string(255, 'L'), std::string(255, 'L')},
    };
    std::vector<NameCase> names = folders;
    {
      // 255 bytes of three-byte characters (U+20AC), 85 of them.
      std::string euro;
      for (int i = 0; i < 85; ++i) euro += "\xe2\x82\xac";
      names.push_back({euro, euro});
    }
    for (const auto& n : names) {
      INFO("folder name (escaped): " << n.shown);
      REQUIRE_SYS(mkdir(v.Path("proj/" + n.name).c_str(), 0755));
      // Table echo: one line, escaped.
      auto r = Cli(v, kAdminId, {"grant", v.Path("proj/" + n.name), "staff2", "read"});
      ExpectOk(r, "grant on a hostile folder name");
      CHECK(Lines(r.out) == 1);
      CHECK_FALSE(HasRawControls(r.out));
      CHECK(r.out.find("/proj/" + n.shown) != std::string::npos);
      // --json round-trips the exact name, through vault: paths as well.
      const json g = CliJson(v, kAdminId, {"grant", "vault:/proj/" + n.name, "staff2", "view"});
      CHECK(g["path"] == "/proj/" + n.name);
      const json a = CliJson(v, kStaff2, {"access", v.Path("proj/" + n.name)});
      CHECK(a["path"] == "/proj/" + n.name);
      auto t = Cli(v, kAdminId, {"access", v.Path("proj/" + n.name)});
      ExpectOk(t, "access on a hostile folder name (table)");
      CHECK_FALSE(HasRawControls(t.out));
      CHECK(t.out.find("/proj/" + n.shown) != std::string::npos);
      if (n.name.find('\n') != std::string::npos) CHECK(t.out.find(n.name) == std::string::npos);
      // The grant works on the mount: staff2 may list it.
      CHECK(RunAs(kStaff2.uid, kStaff2.gid, [&] {
              int err = 0;
              return ListDir(v.Path("proj/" + n.name), &err) ? 0 : err;
            }) == 0);
    }
    // staff2's grants, table and JSON.
    const json mine = CliJson(v, kStaff2, {"access", "--user", "staff2"});
    std::set<std::string> paths;
    for (const auto& g : mine["grants"]) paths.insert(g["path"].get<std::string>());
    for (const auto& n : names) CHECK(paths.count("/proj/" + n.name) == 1);
    auto table = Cli(v, kStaff2, {"access", "--user", "staff2"});
    ExpectOk(table, "access --user staff2 (table)");
    CHECK_FALSE(HasRawControls(table.out));
    CHECK(Lines(table.out) == 2 + mine["grants"].size());  // title, header, one line per grant
    // A request on a hostile name: the reason and path round-trip too.
    const std::string reason = "because \x1b[2J\"quoted\"\nsecond line";
    const json req = CliJson(v, kStaff2, {"request", "vault:/proj/" + names[1].name, "write", "--reason", reason});
    CHECK(req["reason"] == reason);
    CHECK(req["path"] == "/proj/" + names[1].name);
    auto reqs = Cli(v, kLead, {"requests"});
    ExpectOk(reqs, "requests (table)");
    CHECK_FALSE(HasRawControls(reqs.out));
    CHECK(Lines(reqs.out) == 2);

    // A name that is not UTF-8 cannot travel in the protocol: usage error.
    REQUIRE_SYS(mkdir(v.Path("proj/bad\xff").c_str(), 0755));
    ExpectCliError(v, kAdminId, {"grant", v.Path("proj/bad\xff"), "staff2", "read"}, kUsage);
  }

  SECTION("paths outside the vault") {
    for (const std::string& p : {std::string("vault:/../x"), std::string("vault:/proj/../../x"),
                                 std::string("vault:/.."), std::string("vault:proj"), std::string("vault:/proj//sub"),
                                 v.mnt() + "/../x", v.mnt() + "/proj/../../vault", v.root(), std::string("/tmp"),
                                 std::string("/")}) {
      ExpectCliError(v, kAdminId, {"grant", p, "staff2", "read"}, kUsage);
      ExpectCliError(v, kStaff, {"access", p}, kUsage);
    }
  }
}

// Opens a policy database with the sqlite3 C API.
struct SqliteConn {
  sqlite3* db = nullptr;
  explicit SqliteConn(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  }
  ~SqliteConn() { sqlite3_close_v2(db); }
  int Exec(const std::string& sql) { return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); }
};

CommandResult BackgroundMount(const MountedVault& v) {
  auto r = RunStrongroom({"mount", "--passfile", v.passfile(), v.vault(), v.mnt()}, 60s);
  if (IsMountpoint(v.mnt())) RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()}, 10s);
  return r;
}

TEST_CASE("a corrupt policy database is refused at mount with one clear line", "[policy-cli]") {
  MountedVault v;
  Setup(v);
  // More rows, so the database spans more pages.
  for (int i = 0; i < 40; ++i) {
    v.Policy(kAdminId, {"user", "add", "filler-" + std::to_string(i) + std::string(40, 'f'), "--uid",
                        std::to_string(8000 + i)});
  }
  v.Unmount();
  const std::string db = v.vault() + "/strongroom.db";
  const std::string original = ReadOrDie(db);
  REQUIRE(original.size() >= 3 * 4096);
  std::mt19937_64 rng(7);
  const size_t from = original.size() / 3, len = original.size() / 3;
  std::string corrupt = original;
  corrupt.replace(from, len, RandomBytes(len, rng));
  REQUIRE(WriteFile(db, corrupt, 0600) == 0);

  auto r = BackgroundMount(v);
  INFO("mount on a corrupt database: exit " << r.exit_code << ", " << r.seconds << " s\nstderr: " << r.err
                                            << "\nstdout: " << r.out);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code != kOk);
  CHECK(r.seconds < 30);
  std::string err = r.err;
  if (!err.empty() && err.back() == '\n') err.pop_back();
  CHECK(err.rfind("strongroom: ", 0) == 0);
  CHECK(err.find('\n') == std::string::npos);
  CHECK_FALSE(IsMountpoint(v.mnt()));
}

TEST_CASE("a locked policy database gives a clear error at mount, not a hang", "[policy-cli]") {
  MountedVault v;
  v.Unmount();
  const std::string db = v.vault() + "/strongroom.db";
  {
    SqliteConn lock(db);
    REQUIRE(lock.Exec("PRAGMA locking_mode=EXCLUSIVE") == SQLITE_OK);
    REQUIRE(lock.Exec("BEGIN EXCLUSIVE") == SQLITE_OK);
    REQUIRE(lock.Exec("SELECT count(*) FROM sqlite_master") == SQLITE_OK);

    auto r = BackgroundMount(v);
    INFO("mount on a locked database: exit " << r.exit_code << ", " << r.seconds << " s\nstderr: " << r.err
                                             << "\nstdout: " << r.out);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code != kOk);
    // Busy is a conflict (tools/exit_codes.h: 8 = "exists, not empty,
    // already mounted, busy"), not an integrity failure (7 = corrupt or
    // tampered): a locked store is not a damaged one.
    CHECK(r.exit_code == kConflict);
    CHECK(r.seconds < 30);
    std::string err = r.err;
    if (!err.empty() && err.back() == '\n') err.pop_back();
    CHECK(err.rfind("strongroom: ", 0) == 0);
    CHECK(err.find('\n') == std::string::npos);
    std::string lower = err;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    CHECK((lower.find("lock") != std::string::npos || lower.find("busy") != std::string::npos ||
           lower.find("in use") != std::string::npos));
    CHECK_FALSE(IsMountpoint(v.mnt()));
    lock.Exec("ROLLBACK");
  }
  // Released: the vault mounts again and nothing was lost.
  v.Mount();
  CHECK(CliJson(v, kAdminId, {"whoami"})["role"] == "admin");
}

}  // namespace
}  // namespace strongroom::test
