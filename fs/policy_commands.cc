// The policy commands of the control socket (docs/control-protocol.md):
// who may do what is decided here, from the caller's uid as the kernel
// reported it and the policy in force.
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <ctime>
#include <set>

#include "crypto/primitives.h"
#include "acl/audit_verify.h"
#include "acl/certificate.h"
#include "fs/control_server.h"
#include "fs/viewer_program.h"

namespace strongroom::fs {
namespace {

using acl::IsoUtc;

using nlohmann::json;

// A refusal or error that ends the command.
struct CommandError {
  std::string code;  // usage, refused, not_found, integrity, conflict, internal
  std::string message;
};

[[noreturn]] void Throw(std::string code, std::string message) {
  throw CommandError{std::move(code), std::move(message)};
}

void Check(const Status& st, const std::string& what) {
  if (st.ok()) return;
  switch (st.code()) {
    case Status::Code::kNotFound: Throw("not_found", what + ": " + st.message());
    case Status::Code::kExists: Throw("conflict", what + ": " + st.message());
    case Status::Code::kDenied: Throw("refused", what + ": " + st.message());
    case Status::Code::kIntegrity: Throw("integrity", what + ": " + st.message());
    case Status::Code::kInvalid: Throw("usage", what + ": " + st.message());
    default: Throw("internal", what + ": " + st.ToString());
  }
}

// A user or team name: 1..64 bytes, no control characters, no leading '@'.
bool ValidPrincipalName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '@') return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

class Command {
 public:
  Command(VaultFs& fs, const Caller& caller, std::string mountpoint, const json& req, acl::AuditEntry* ahead)
      : fs_(fs), caller_(caller), mountpoint_(std::move(mountpoint)), req_(req), policy_(fs.policy()), ahead_(ahead) {
    me_ = policy_->FindUser(caller.uid);
  }

  bool wrote_ahead() const { return wrote_ahead_; }

  json Run() {
    const std::string cmd = Str("cmd");
    if (cmd == "whoami") return Whoami();
    if (cmd == "user.add") return UserAdd();
    if (cmd == "user.set") return UserSet();
    if (cmd == "user.disable") return UserEnable(false);
    if (cmd == "user.enable") return UserEnable(true);
    if (cmd == "user.list") return UserList();
    if (cmd == "team.add") return TeamAdd();
    if (cmd == "team.member.add") return TeamMember(true);
    if (cmd == "team.member.remove") return TeamMember(false);
    if (cmd == "team.list") return TeamList();
    if (cmd == "label") return LabelCmd();
    if (cmd == "grant") return GrantCmd();
    if (cmd == "revoke") return Revoke();
    if (cmd == "access") return Access();
    if (cmd == "access.user") return AccessUser();
    if (cmd == "request") return RequestCmd();
    if (cmd == "requests") return Requests();
    if (cmd == "approve") return Decide(true);
    if (cmd == "deny") return Decide(false);
    if (cmd == "audit.query") return AuditQueryCmd();
    if (cmd == "config.set") return ConfigSet();
    if (cmd == "audit.record") return AuditRecordCmd();
    if (cmd == "backup") return Backup();
    if (cmd == "config.get") return ConfigGet();
    if (cmd == "viewer.add") return ViewerAdd();
    if (cmd == "viewer.list") return ViewerList();
    if (cmd == "viewer.remove") return ViewerRemove();
    if (cmd == "retain") return Retain();
    if (cmd == "release") return Release();
    if (cmd == "destroy.request") return DestroyRequest();
    if (cmd == "destroy.list") return DestroyList();
    if (cmd == "destroy.show") return DestroyShow();
    if (cmd == "destroy.cancel") return DestroyCancel();
    if (cmd == "destroy.approve") return DestroyDecide(true);
    if (cmd == "destroy.reject") return DestroyDecide(false);
    if (cmd == "destroy.certificate") return DestroyCertificate();
    if (cmd == "destroy.verify") return DestroyVerify();
    if (cmd == "fsck") return Fsck();
    if (cmd == "status") return StatusCmd();
#ifdef STRONGROOM_TEST_HOOKS
    if (cmd == "test.clock") return TestClock();
    if (cmd == "test.fail-point") return TestFailPoint();
#endif
    Throw("usage", "unknown command " + cmd);
  }

 private:
  // --- request fields -----------------------------------------------------
  std::string Str(const char* key, bool required = true) const {
    auto it = req_.find(key);
    if (it == req_.end() || it->is_null()) {
      if (required) Throw("usage", std::string("missing ") + key);
      return {};
    }
    if (!it->is_string()) Throw("usage", std::string(key) + " must be a string");
    return it->get<std::string>();
  }
  std::optional<int64_t> Int(const char* key, bool required = true) const {
    auto it = req_.find(key);
    if (it == req_.end() || it->is_null()) {
      if (required) Throw("usage", std::string("missing ") + key);
      return std::nullopt;
    }
    if (!it->is_number_integer()) Throw("usage", std::string(key) + " must be an integer");
    return it->get<int64_t>();
  }

  // --- who is asking ------------------------------------------------------
  const acl::User& Me() const {
    if (me_ == nullptr) Throw("refused", "uid " + std::to_string(caller_.uid) + " is not a Strongroom user of this vault");
    if (!me_->enabled) Throw("refused", "user " + me_->name + " is disabled");
    return *me_;
  }
  bool IsAdmin() const { return me_ != nullptr && me_->enabled && me_->role == acl::Role::kAdmin; }
  bool IsAuditor() const { return me_ != nullptr && me_->enabled && me_->role == acl::Role::kAuditor; }
  void RequireAdmin(const std::string& what) const {
    Me();
    if (!IsAdmin()) Throw("refused", "only admins may " + what);
  }
  // A lead: `manage` on the object (inherited or not).
  bool Leads(std::span<const acl::ObjectId> chain) const {
    if (me_ == nullptr || !me_->enabled) return false;
    return policy_->Decide(caller_.uid, chain, fs_.Now()).effective() >= acl::Mode::kManage;
  }

  // --- paths --------------------------------------------------------------
  struct Target {
    std::string path;  // normalised vault path
    std::vector<acl::ObjectId> chain;
    acl::ObjectKind kind;
  };
  static std::string Normalize(const std::string& path) {
    std::string out;
    size_t pos = 0;
    while (pos < path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string::npos) end = path.size();
      if (end > pos) out += "/" + path.substr(pos, end - pos);
      pos = end + 1;
    }
    return out.empty() ? "/" : out;
  }
  Target Resolve(const std::string& path) {
    const bool see_all = IsAdmin() || IsAuditor();
    Result<VaultFs::Resolved> r = fs_.ResolvePath(caller_, path, see_all);
    if (!r.ok()) {
      if (r.status().code() == Status::Code::kNotFound) Throw("not_found", "no such path in the vault: " + path);
      Check(r.status(), path);
    }
    return Target{Normalize(path), std::move(r->chain), r->kind};
  }
  // The path of an ancestor `up` levels above `t`.
  static std::string Ancestor(const std::string& path, size_t up) {
    std::string p = path;
    for (size_t i = 0; i < up && p != "/"; ++i) {
      const size_t slash = p.rfind('/');
      p = slash == 0 ? "/" : p.substr(0, slash);
    }
    return p;
  }
  std::optional<std::string> PathOf(const acl::ObjectId& id) {
    Result<std::string> p = fs_.PathOf(id);
    if (!p.ok()) return std::nullopt;
    return *p;
  }
  // The path of an object when the caller may see it: admins and auditors
  // see every path; anyone else only what their own lookups would find.
  std::optional<std::string> VisiblePath(const acl::ObjectId& id) {
    auto p = PathOf(id);
    if (!p || IsAdmin() || IsAuditor()) return p;
    if (!fs_.ResolvePath(caller_, *p, false).ok()) return std::nullopt;
    return p;
  }

  // --- rendering ----------------------------------------------------------
  std::string NameOf(acl::Uid uid) const {
    const acl::User* u = policy_->FindUser(uid);
    return u != nullptr ? u->name : "uid " + std::to_string(uid);
  }
  std::string SubjectName(const acl::Subject& s) const {
    if (s.user) return NameOf(*s.user);
    const acl::Team* t = policy_->FindTeam(*s.team);
    return "@" + (t != nullptr ? t->name : std::to_string(*s.team));
  }
  json UserJson(const acl::User& u) const {
    json teams = json::array();
    for (const acl::Team& t : policy_->data().teams) {
      if (policy_->InTeam(u.uid, t.id)) teams.push_back(t.name);
    }
    return {{"name", u.name},
            {"uid", u.uid},
            {"role", acl::RoleName(u.role)},
            {"clearance", u.clearance},
            {"enabled", u.enabled},
            {"teams", teams},
            {"created_at", u.created_at},
            {"created_by", u.created_by ? json(NameOf(*u.created_by)) : json(nullptr)}};
  }
  json TeamJson(const acl::Team& t) const {
    json members = json::array();
    for (acl::Uid uid : t.members) members.push_back(NameOf(uid));
    return {{"name", t.name}, {"members", members}};
  }
  json GrantJson(const acl::Grant& g, const std::string& path) const {
    return {{"path", path},
            {"subject", SubjectName(g.subject)},
            {"mode", acl::ModeName(g.mode)},
            {"until", g.until ? json(*g.until) : json(nullptr)},
            {"granted_by", NameOf(g.granted_by)},
            {"granted_at", g.granted_at}};
  }
  json RequestJson(const acl::AccessRequest& r, const std::string& path) const {
    return {{"id", r.id},
            {"path", path},
            {"user", NameOf(r.uid)},
            {"mode", acl::ModeName(r.mode)},
            {"reason", r.reason},
            {"state", acl::RequestStateName(r.state)},
            {"created_at", r.created_at},
            {"decided_by", r.decided_by ? json(NameOf(*r.decided_by)) : json(nullptr)},
            {"decided_at", r.decided_at ? json(*r.decided_at) : json(nullptr)},
            {"decision_reason", r.decision_reason}};
  }
  std::string Reason(const acl::Decision& d, const std::string& path) const {
    using Why = acl::Decision::Why;
    switch (d.why) {
      case Why::kUnknownUser: return "unknown user";
      case Why::kDisabled: return "disabled";
      case Why::kNoGrant: return "no grant";
      default: break;
    }
    std::string r = (d.why == Why::kTeamNone ? "none on team " : "grant to ") + SubjectName(d.grant->subject) +
                    " on " + Ancestor(path, d.depth);
    if (!d.cleared()) {
      r += "; clearance " + std::to_string(d.clearance) + " below level " + std::to_string(d.level);
    }
    return r;
  }

  // Records the change about to be made, once all checks passed: no policy
  // change happens unrecorded (nothing changes if it cannot be recorded).
  void Ahead() {
    acl::AuditLog* log = fs_.audit_log();
    if (log == nullptr || ahead_ == nullptr || wrote_ahead_) return;
    if (!log->Append(*ahead_).ok()) Throw("internal", "the audit log cannot be written; nothing was changed");
    wrote_ahead_ = true;
  }

  // Puts a change in force (and re-reads the policy for the reply).
  void Changed() {
    Check(fs_.ReloadPolicy(), "reload the policy");
    policy_ = fs_.policy();
    me_ = policy_->FindUser(caller_.uid);  // the old snapshot's user is gone
  }

  const acl::User& UserNamed(const std::string& name) const {
    const acl::User* u = policy_->FindUserByName(name);
    if (u == nullptr) Throw("not_found", "no user named " + name);
    return *u;
  }
  const acl::Team& TeamNamed(const std::string& name) const {
    const acl::Team* t = policy_->FindTeamByName(name);
    if (t == nullptr) Throw("not_found", "no team named " + name);
    return *t;
  }
  acl::Subject SubjectFrom(const std::string& text) const {
    acl::Subject s;
    if (!text.empty() && text[0] == '@') {
      s.team = TeamNamed(text.substr(1)).id;
    } else {
      s.user = UserNamed(text).uid;
    }
    return s;
  }
  // Nobody grants access to themselves, directly or through a team.
  void NotSelf(const acl::Subject& s, const std::string& what) const {
    if (s.user && *s.user == caller_.uid) Throw("refused", "nobody may " + what + " themselves");
    if (s.team && policy_->InTeam(caller_.uid, *s.team)) {
      Throw("refused", "nobody may " + what + " a team they belong to");
    }
  }
  static int Clearance(std::optional<int64_t> v) {
    if (!v) return acl::kMinLevel;
    if (*v < acl::kMinLevel || *v > acl::kMaxLevel) Throw("usage", "clearance and levels are 1, 2 or 3");
    return static_cast<int>(*v);
  }

  // --- commands -----------------------------------------------------------
  json Whoami() {
    const acl::User& me = Me();
    json out = UserJson(me);
    out["mountpoint"] = mountpoint_;
    std::set<std::string> leads;
    for (const acl::Grant& g : policy_->data().grants) {
      if (g.mode == acl::Mode::kManage && g.ActiveAt(fs_.Now()) && policy_->Applies(g, me.uid) &&
          g.granted_by != me.uid) {
        if (auto p = VisiblePath(g.object)) leads.insert(*p);
      }
    }
    out["leads"] = leads;
    return out;
  }

  json UserAdd() {
    RequireAdmin("add users");
    acl::User u;
    u.name = Str("name");
    if (!ValidPrincipalName(u.name)) Throw("usage", "a user name is 1 to 64 bytes, without control characters or a leading @");
    const int64_t uid = *Int("uid");
    if (uid < 0 || uid > 0xfffffffe) Throw("usage", "uid out of range");
    u.uid = static_cast<acl::Uid>(uid);
    const std::string role = Str("role", false);
    if (!role.empty()) {
      auto r = acl::ParseRole(role);
      if (!r) Throw("usage", "role is staff, admin or auditor");
      u.role = *r;
    }
    u.clearance = Clearance(Int("clearance", false));
    u.created_at = fs_.Now();
    u.created_by = caller_.uid;
    Ahead();
    Check(fs_.policy_store().AddUser(u), "add user " + u.name);
    Changed();
    return UserJson(*policy_->FindUser(u.uid));
  }

  json UserSet() {
    RequireAdmin("change users");
    acl::User u = UserNamed(Str("name"));
    if (u.uid == caller_.uid) Throw("refused", "nobody may change their own role or clearance");
    const std::string role = Str("role", false);
    if (!role.empty()) {
      auto r = acl::ParseRole(role);
      if (!r) Throw("usage", "role is staff, admin or auditor");
      u.role = *r;
    }
    if (auto c = Int("clearance", false)) u.clearance = Clearance(c);
    Ahead();
    Check(fs_.policy_store().UpdateUser(u), "change user " + u.name);
    Changed();
    return UserJson(*policy_->FindUser(u.uid));
  }

  json UserEnable(bool enable) {
    RequireAdmin(enable ? "enable users" : "disable users");
    acl::User u = UserNamed(Str("name"));
    if (u.uid == caller_.uid) Throw("refused", "nobody may disable or enable themselves");
    u.enabled = enable;
    Ahead();
    Check(fs_.policy_store().UpdateUser(u), "change user " + u.name);
    Changed();
    return UserJson(*policy_->FindUser(u.uid));
  }

  json UserList() {
    Me();
    if (!IsAdmin() && !IsAuditor()) Throw("refused", "only admins and auditors may list users");
    json users = json::array();
    for (const acl::User& u : policy_->data().users) users.push_back(UserJson(u));
    return {{"users", users}};
  }

  json TeamAdd() {
    RequireAdmin("add teams");
    const std::string name = Str("name");
    if (!ValidPrincipalName(name)) Throw("usage", "a team name is 1 to 64 bytes, without control characters or a leading @");
    Ahead();
    Result<acl::TeamId> id = fs_.policy_store().AddTeam(name, fs_.Now());
    Check(id.status(), "add team " + name);
    Changed();
    return TeamJson(*policy_->FindTeam(*id));
  }

  json TeamMember(bool add) {
    RequireAdmin("change teams");
    const acl::Team& team = TeamNamed(Str("team"));
    const acl::User& user = UserNamed(Str("user"));
    if (add && user.uid == caller_.uid) Throw("refused", "nobody may add themselves to a team");
    const acl::TeamId id = team.id;
    Ahead();
    Status st = add ? fs_.policy_store().AddTeamMember(id, user.uid) : fs_.policy_store().RemoveTeamMember(id, user.uid);
    Check(st, add ? "add team member" : "remove team member");
    Changed();
    return TeamJson(*policy_->FindTeam(id));
  }

  json TeamList() {
    Me();
    if (!IsAdmin() && !IsAuditor()) Throw("refused", "only admins and auditors may list teams");
    json teams = json::array();
    for (const acl::Team& t : policy_->data().teams) teams.push_back(TeamJson(t));
    return {{"teams", teams}};
  }

  json LabelCmd() {
    RequireAdmin("label folders");
    const Target t = Resolve(Str("path"));
    if (t.kind != acl::ObjectKind::kDirectory) Throw("usage", "labels are set on folders; " + t.path + " is not one");
    const int level = Clearance(Int("level"));
    acl::Label label{t.chain.front(), level, caller_.uid, fs_.Now()};
    Ahead();
    Check(fs_.policy_store().PutLabel(label), "label " + t.path);
    Changed();
    return {{"path", t.path}, {"level", level}};
  }

  // Admins, and leads of the path, grant and revoke there.
  Target ManagedTarget(const char* what) {
    Me();
    const Target t = Resolve(Str("path"));
    if (!IsAdmin() && !Leads(t.chain)) {
      Throw("refused", std::string("only admins and the leads of ") + t.path + " may " + what + " there");
    }
    return t;
  }

  json GrantCmd() {
    const Target t = ManagedTarget("grant");
    acl::Grant g;
    g.object = t.chain.front();
    g.subject = SubjectFrom(Str("subject"));
    NotSelf(g.subject, "grant access to");
    auto mode = acl::ParseMode(Str("mode"));
    if (!mode) Throw("usage", "mode is none, view, read, write or manage");
    g.mode = *mode;
    g.until = Int("until", false);
    g.granted_by = caller_.uid;
    g.granted_at = fs_.Now();
    if (g.until && *g.until < g.granted_at) Throw("usage", "the --until date is in the past");
    Ahead();
    Check(fs_.policy_store().PutGrant(g), "grant on " + t.path);
    Changed();
    return GrantJson(g, t.path);
  }

  json Revoke() {
    const Target t = ManagedTarget("revoke");
    const std::string subject = Str("subject");
    const acl::Subject s = SubjectFrom(subject);
    Ahead();
    Status st = fs_.policy_store().DeleteGrant(t.chain.front(), s);
    if (st.code() == Status::Code::kNotFound) Throw("not_found", "no grant to " + subject + " on " + t.path);
    Check(st, "revoke on " + t.path);
    Changed();
    return {{"path", t.path}, {"subject", subject}};
  }

  json Access() {
    const acl::User& me = Me();
    const Target t = Resolve(Str("path"));
    const acl::Time now = fs_.Now();
    // Admins and auditors see everything; a lead, their subtree: the grants
    // from the folder where their `manage` comes from down, and the users
    // who have access there; anyone else, what applies to them.
    const bool all = IsAdmin() || IsAuditor();
    const acl::Decision mine = policy_->Decide(me.uid, t.chain, now);
    const bool lead = !all && mine.effective() >= acl::Mode::kManage;
    json grants = json::array();
    for (size_t i = 0; i < t.chain.size(); ++i) {
      for (const acl::Grant* g : policy_->GrantsOn(t.chain[i])) {
        const bool applies = policy_->Applies(*g, me.uid);
        if (!all && !applies && !(lead && i <= mine.depth)) continue;
        json j = GrantJson(*g, Ancestor(t.path, i));
        j["inherited"] = i > 0;
        j["expired"] = !g->ActiveAt(now);
        grants.push_back(j);
      }
    }
    json effective = json::array();
    for (const acl::User& u : policy_->data().users) {
      const acl::Decision d = policy_->Decide(u.uid, t.chain, now);
      if (!all && u.uid != me.uid && !(lead && d.effective() != acl::Mode::kNone)) continue;
      effective.push_back({{"user", u.name}, {"mode", acl::ModeName(d.effective())}, {"reason", Reason(d, t.path)}});
    }
    return {{"path", t.path}, {"level", policy_->LevelOf(t.chain)}, {"grants", grants}, {"effective", effective}};
  }

  json AccessUser() {
    Me();
    const acl::User& u = UserNamed(Str("name"));
    if (!IsAdmin() && !IsAuditor() && u.uid != caller_.uid) {
      Throw("refused", "only admins, auditors and the user themself may list a user's grants");
    }
    json grants = json::array();
    for (const acl::Grant& g : policy_->data().grants) {
      if (!policy_->Applies(g, u.uid)) continue;
      auto p = VisiblePath(g.object);
      if (!p) continue;
      json j = GrantJson(g, *p);
      j["expired"] = !g.ActiveAt(fs_.Now());
      grants.push_back(j);
    }
    return {{"user", u.name}, {"grants", grants}};
  }

  json RequestCmd() {
    Me();
    const Target t = Resolve(Str("path"));
    auto mode = acl::ParseMode(Str("mode"));
    if (!mode || *mode == acl::Mode::kNone) Throw("usage", "mode is view, read, write or manage");
    acl::AccessRequest r;
    r.object = t.chain.front();
    r.uid = caller_.uid;
    r.mode = *mode;
    r.reason = Str("reason");
    if (r.reason.empty() || r.reason.size() > 4096) Throw("usage", "a reason of 1 to 4096 bytes is needed");
    r.created_at = fs_.Now();
    Ahead();
    Result<int64_t> id = fs_.policy_store().AddRequest(r);
    Check(id.status(), "request on " + t.path);
    r.id = *id;
    return RequestJson(r, t.path);
  }

  // Admins decide every request; leads those on what they manage.
  bool MayDecide(const acl::AccessRequest& r) {
    if (IsAdmin()) return true;
    Result<std::vector<acl::ObjectId>> chain = fs_.ChainOfObject(r.object);
    return chain.ok() && Leads(*chain);
  }

  json Requests() {
    Me();
    const bool all = req_.value("all", false);
    Result<std::vector<acl::AccessRequest>> list = fs_.policy_store().ListRequests(!all);
    Check(list.status(), "list requests");
    json out = json::array();
    for (const acl::AccessRequest& r : *list) {
      if (r.uid != caller_.uid && !MayDecide(r)) continue;
      auto p = VisiblePath(r.object);
      out.push_back(RequestJson(r, p ? *p : "(not visible)"));
    }
    return {{"requests", out}};
  }

  json Decide(bool approve) {
    Me();
    const int64_t id = *Int("id");
    Result<acl::AccessRequest> got = fs_.policy_store().GetRequest(id);
    if (!got.ok() && got.status().code() == Status::Code::kNotFound) Throw("not_found", "no request " + std::to_string(id));
    Check(got.status(), "request");
    acl::AccessRequest r = *got;
    if (r.uid != caller_.uid && !MayDecide(r)) Throw("not_found", "no request " + std::to_string(id));
    if (r.uid == caller_.uid) Throw("refused", "nobody may approve or deny their own request");
    if (r.state != acl::RequestState::kPending) Throw("conflict", "request " + std::to_string(id) + " was already decided");
    const std::string reason = approve ? Str("reason", false) : Str("reason");
    if (!approve && reason.empty()) Throw("usage", "a reason is needed to deny");
    r.state = approve ? acl::RequestState::kApproved : acl::RequestState::kDenied;
    r.decided_by = caller_.uid;
    r.decided_at = fs_.Now();
    r.decision_reason = reason;
    std::optional<acl::Grant> grant;
    if (approve) {
      grant = acl::Grant{r.object, acl::Subject{r.uid, std::nullopt}, r.mode, std::nullopt, caller_.uid, *r.decided_at};
    }
    Ahead();
    Check(fs_.policy_store().DecideRequest(r, grant), "decide request");
    Changed();
    auto p = VisiblePath(r.object);
    return RequestJson(r, p ? *p : "(not visible)");
  }

  // Root's own records (a passphrase change made while mounted): the
  // record itself is written by RunPolicyCommand, ahead.
  json AuditRecordCmd() {
    if (caller_.uid != 0) Throw("refused", "only root records events");
    const std::string op = Str("op");
    if (op != "passwd" && op != "audit.archive" && op != "keyslot.add" && op != "keyslot.remove") {
      Throw("usage", "unknown event " + op);
    }
    Ahead();
    return {{"recorded", op}};
  }

  // A consistent copy of the store, the audit log and the encrypted tree
  // into `dest`, a directory the CLI (root) made, with changes paused.
  json Backup() {
    if (caller_.uid != 0) Throw("refused", "only root backs up a vault");
    const std::string dest = Str("dest");
    struct stat st;
    if (dest.empty() || dest[0] != '/' || ::lstat(dest.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != 0 || (st.st_mode & 077) != 0) {
      Throw("usage", "the backup directory must be an existing root-owned directory of mode 0700");
    }
    Ahead();
    BackupStats stats;
    Status done = fs_.BackupTo(dest, &stats);
    if (!done.ok()) Throw("internal", "the backup failed: " + done.message());
    return {{"files", stats.files}, {"dirs", stats.dirs}, {"symlinks", stats.symlinks}, {"bytes", stats.bytes}};
  }

  json ConfigSet() {
    RequireAdmin("change vault settings");
    const std::string key = Str("key");
    std::string value = Str("value");
    if (key == "audit-durability") {
      if (value != "crash" && value != "power-loss") Throw("usage", "audit-durability is crash or power-loss");
      Ahead();
      if (acl::AuditLog* log = fs_.audit_log()) Check(log->SetPowerLossDurability(value == "power-loss"), "apply the setting");
    } else if (key == "audit-segment-size") {
      const std::optional<uint64_t> bytes = ParseSize(value);
      if (!bytes || *bytes < kMinSegmentBytes || *bytes > kMaxSegmentBytes) {
        Throw("usage", "audit-segment-size is a size from 64K to 1T (e.g. 256M)");
      }
      value = std::to_string(*bytes);
      Ahead();
      if (acl::AuditLog* log = fs_.audit_log()) log->SetSegmentLimit(*bytes);
    } else if (key == "witnesses") {
      // Sealed with the policy (an edited setting fails the mount).
      int n = 0;
      if (value.empty() || value.size() > 2 || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          (n = std::stoi(value)) < 1 || n > acl::kMaxWitnesses) {
        Throw("usage", "witnesses is a number from 1 to " + std::to_string(acl::kMaxWitnesses));
      }
      value = std::to_string(n);
      Ahead();
      Check(fs_.policy_store().SetWitnessesNeeded(n), "save the setting");
      Changed();
      return {{"key", key}, {"value", value}};
    } else {
      Throw("usage", "unknown setting " + key + " (known: audit-durability, audit-segment-size, witnesses)");
    }
    Check(fs_.SetSetting(key, value), "save the setting");
    return {{"key", key}, {"value", value}};
  }

  json ConfigGet() {
    Me();
    const std::string key = Str("key");
    if (key == "witnesses") return {{"key", key}, {"value", std::to_string(policy_->witnesses_needed())}};
    if (key != "audit-durability" && key != "audit-segment-size") {
      Throw("usage", "unknown setting " + key + " (known: audit-durability, audit-segment-size, witnesses)");
    }
    Result<std::string> v = fs_.GetSetting(key);
    if (v.ok() && !v->empty()) return {{"key", key}, {"value", *v}};
    return {{"key", key},
            {"value", key == "audit-durability" ? std::string("crash") : std::to_string(acl::kDefaultAuditSegmentBytes)}};
  }


  // --- retention and witnessed destruction ---------------------------------
  static json OptTime(const std::optional<acl::Time>& t) { return t ? json(*t) : json(nullptr); }
  static const char* KindName(acl::ObjectKind k) {
    return k == acl::ObjectKind::kDirectory ? "folder" : k == acl::ObjectKind::kSymlink ? "symlink" : "file";
  }
  // Requesters, admins and auditors (the witnesses) see a request.
  bool MaySee(const acl::Destruction& d) const { return d.uid == caller_.uid || IsAdmin() || IsAuditor(); }

  acl::Destruction DestructionNamed(bool with_items) {
    Me();
    const int64_t id = *Int("id");
    Result<acl::Destruction> d = fs_.policy_store().GetDestruction(id, with_items);
    if (!d.ok() && d.status().code() == Status::Code::kNotFound) Throw("not_found", "no destruction request " + std::to_string(id));
    Check(d.status(), "destruction request");
    if (!MaySee(*d)) Throw("not_found", "no destruction request " + std::to_string(id));
    return std::move(*d);
  }

  json DestructionJson(const acl::Destruction& d, bool with_items) {
    json witnesses = json::array();
    for (const acl::Witness& w : d.witnesses) witnesses.push_back({{"user", NameOf(w.uid)}, {"at", w.at}});
    json out = {{"id", d.id},
                {"kind", acl::WitnessedKindName(d.kind)},
                {"state", acl::WitnessedStateName(d.state)},
                {"requested_by", NameOf(d.uid)},
                {"reason", d.reason},
                {"created_at", d.created_at},
                {"witnesses_needed", d.witnesses_needed},
                {"witnesses", witnesses},
                {"approved_at", OptTime(d.approved_at)},
                {"completed_at", OptTime(d.completed_at)},
                {"closed_by", d.closed_by ? json(NameOf(*d.closed_by)) : json(nullptr)},
                {"close_reason", d.close_reason},
                {"hold_until", OptTime(d.hold_until)},
                {"items", d.item_count}};
    if (with_items) {
      json paths = json::array(), items = json::array();
      uint64_t files = 0, folders = 0, done = 0;
      for (const acl::DestructionItem& item : d.items) {
        if (item.requested()) paths.push_back(item.path);
        (item.kind == acl::ObjectKind::kDirectory ? folders : files)++;
        if (item.state == acl::ItemState::kRemoved || item.state == acl::ItemState::kKept) ++done;
        json j = {{"path", item.path}, {"kind", KindName(item.kind)}, {"state", acl::ItemStateName(item.state)},
                  {"requested", item.requested()}};
        if (item.ciphertext_size) {
          auto plain = crypto::PlainSize(*item.ciphertext_size);
          j["size"] = plain ? json(*plain) : json(nullptr);
          j["ciphertext_sha256"] = crypto::HexEncode(item.sha256);
        }
        items.push_back(j);
      }
      out["paths"] = paths;
      out["files"] = files;
      out["folders"] = folders;
      out["contents"] = items;
      out["done"] = done;
    }
    if (auto p = fs_.ProgressOf(d.id); p && d.state == acl::WitnessedState::kExecuting) {
      out["progress"] = {{"phase", p->phase}, {"done", p->done}, {"total", p->total}, {"error", p->error}};
    }
    return out;
  }

  json Retain() {
    const Target t = ManagedTarget("put retention holds");
    const acl::Time now = fs_.Now();
    const int64_t until = *Int("until");
    if (until < now) Throw("usage", "the --until date is in the past");
    if (auto p = policy_->ProtectionOf(t.chain, now, false, true); p && p->executing) {
      Throw("conflict", t.path + " is being destroyed (destruction request " + std::to_string(p->request) + ")");
    }
    if (const acl::Hold* h = policy_->HoldOn(t.chain.front()); h != nullptr && h->ActiveAt(now) && until < h->until) {
      Throw("refused", "the hold on " + t.path + " lasts until " + IsoUtc(h->until) +
                           "; ending it earlier is an early release, which needs a witness "
                           "(strongroom release PATH --reason TEXT)");
    }
    acl::Hold hold{t.chain.front(), until, caller_.uid, now};
    Ahead();
    Check(fs_.policy_store().PutHold(hold), "retain " + t.path);
    Changed();
    return {{"path", t.path}, {"until", until}, {"set_by", NameOf(caller_.uid)}, {"set_at", now}};
  }

  json Release() {
    const Target t = ManagedTarget("release retention holds");
    const acl::Time now = fs_.Now();
    const acl::Hold* h = policy_->HoldOn(t.chain.front());
    if (h == nullptr) Throw("not_found", "no retention hold on " + t.path);
    const acl::Time until = h->until;
    if (!h->ActiveAt(now)) {
      Ahead();
      Check(fs_.policy_store().DeleteHold(t.chain.front()), "release " + t.path);
      Changed();
      return {{"path", t.path}, {"released", true}, {"until", until}};
    }
    const std::string reason = Str("reason", false);
    if (reason.empty()) {
      Throw("refused", "the hold on " + t.path + " lasts until " + IsoUtc(until) +
                           ": releasing it earlier needs a witness; give --reason TEXT to ask the auditors "
                           "(one of them then runs: strongroom destroy approve ID)");
    }
    if (reason.size() > 4096) Throw("usage", "a reason of 1 to 4096 bytes is needed");
    Result<std::vector<acl::Destruction>> open = fs_.policy_store().ListDestructions(true);
    Check(open.status(), "list requests");
    for (const acl::Destruction& o : *open) {
      if (o.kind != acl::WitnessedKind::kRelease) continue;
      Result<acl::Destruction> full = fs_.policy_store().GetDestruction(o.id, true);
      Check(full.status(), "read request");
      if (!full->items.empty() && full->items.front().object == t.chain.front()) {
        Throw("conflict", "the early release of " + t.path + " is already requested (request " + std::to_string(o.id) + ")");
      }
    }
    acl::Destruction d;
    d.kind = acl::WitnessedKind::kRelease;
    d.uid = caller_.uid;
    d.reason = reason;
    d.witnesses_needed = policy_->witnesses_needed();
    d.created_at = now;
    d.hold_until = until;
    d.items.push_back({0, 0, t.chain.front(), t.kind, t.path, std::nullopt, {}, acl::ItemState::kListed});
    Ahead();
    Result<int64_t> id = fs_.policy_store().AddDestruction(d);
    Check(id.status(), "request the release of " + t.path);
    Changed();
    d.id = *id;
    d.item_count = 1;
    json out = DestructionJson(d, true);
    out["released"] = false;
    out["path"] = t.path;
    return out;
  }

  json DestroyRequest() {
    Me();
    auto it = req_.find("paths");
    if (it == req_.end() || !it->is_array() || it->empty() || it->size() > 1000) {
      Throw("usage", "paths must be a list of 1 to 1000 vault paths");
    }
    const std::string reason = Str("reason");
    if (reason.empty() || reason.size() > 4096) Throw("usage", "a reason of 1 to 4096 bytes is needed");
    const acl::Time now = fs_.Now();
    acl::Destruction d;
    d.kind = acl::WitnessedKind::kDestroy;
    d.uid = caller_.uid;
    d.reason = reason;
    d.witnesses_needed = policy_->witnesses_needed();
    d.created_at = now;
    std::set<acl::ObjectId> seen;
    for (const json& p : *it) {
      if (!p.is_string()) Throw("usage", "paths must be strings");
      const Target t = Resolve(p.get<std::string>());
      if (!IsAdmin() && !Leads(t.chain)) {
        Throw("refused", "only admins and the leads of " + t.path + " may request its destruction");
      }
      if (t.chain.size() == 1) Throw("usage", "the vault's root cannot be destroyed");
      if (seen.count(t.chain.front()) != 0) continue;
      if (auto prot = policy_->ProtectionOf(t.chain, now, true, true)) {
        if (prot->kind == acl::Protection::Kind::kHold) {
          Throw("refused", t.path + " is under a retention hold until " + IsoUtc(prot->until) +
                               ": it cannot be destroyed before the hold ends or is released");
        }
        Throw("conflict", t.path + " is already in destruction request " + std::to_string(prot->request));
      }
      Result<std::vector<VaultFs::SubtreeEntry>> entries = fs_.ListSubtree(t.path, t.chain.front(), t.kind);
      Check(entries.status(), "list " + t.path);
      const int64_t root = static_cast<int64_t>(d.items.size());
      for (const VaultFs::SubtreeEntry& e : *entries) {
        if (!seen.insert(e.id).second) continue;
        if (auto prot = policy_->ProtectionOf(std::span<const acl::ObjectId>(&e.id, 1), now, true, true)) {
          if (prot->kind == acl::Protection::Kind::kHold) {
            Throw("refused", e.path + " (in " + t.path + ") is under a retention hold until " + IsoUtc(prot->until) +
                                 ": it cannot be destroyed before the hold ends or is released");
          }
          Throw("conflict", e.path + " is already in destruction request " + std::to_string(prot->request));
        }
        const int64_t seq = static_cast<int64_t>(d.items.size());
        d.items.push_back({seq, e.id == t.chain.front() ? seq : root, e.id, e.kind, e.path, std::nullopt, {},
                           acl::ItemState::kListed});
      }
    }
    Ahead();
    Result<int64_t> id = fs_.policy_store().AddDestruction(d);
    Check(id.status(), "request destruction");
    Changed();  // the freeze is in force from here
    d.id = *id;
    d.item_count = static_cast<int64_t>(d.items.size());
    return DestructionJson(d, true);
  }

  json DestroyList() {
    Me();
    const bool all = req_.value("all", false);
    Result<std::vector<acl::Destruction>> list = fs_.policy_store().ListDestructions(!all);
    Check(list.status(), "list destruction requests");
    json out = json::array();
    for (const acl::Destruction& d : *list) {
      if (!MaySee(d)) continue;
      Result<acl::Destruction> full = fs_.policy_store().GetDestruction(d.id, true);
      Check(full.status(), "read destruction request");
      json j = DestructionJson(*full, false);
      json paths = json::array();
      for (const auto& item : full->items) {
        if (item.requested()) paths.push_back(item.path);
      }
      j["paths"] = paths;
      out.push_back(j);
    }
    return {{"requests", out}};
  }

  json DestroyShow() { return DestructionJson(DestructionNamed(true), true); }

  json DestroyCancel() {
    const acl::Destruction d = DestructionNamed(false);
    if (d.uid != caller_.uid) Throw("refused", "only the requester may cancel request " + std::to_string(d.id));
    if (d.state != acl::WitnessedState::kPending) {
      Throw("conflict", "request " + std::to_string(d.id) + " is " + std::string(acl::WitnessedStateName(d.state)));
    }
    const std::string reason = Str("reason", false);
    Ahead();
    Check(fs_.policy_store().CloseDestruction(d.id, acl::WitnessedState::kCancelled, caller_.uid, fs_.Now(), reason),
          "cancel request");
    Changed();
    return DestructionJson(DestructionNamed(true), true);
  }

  json DestroyDecide(bool approve) {
    acl::Destruction d = DestructionNamed(true);
    const std::string sid = std::to_string(d.id);
    if (d.uid == caller_.uid) Throw("refused", "nobody may witness their own request (request " + sid + ")");
    if (!IsAuditor()) Throw("refused", "only users with the auditor role witness destructions and early releases");
    if (d.state != acl::WitnessedState::kPending) {
      Throw("conflict", "request " + sid + " is " + std::string(acl::WitnessedStateName(d.state)));
    }
    for (const acl::Witness& w : d.witnesses) {
      if (w.uid == caller_.uid) Throw("conflict", "you already witnessed request " + sid);
    }
    const acl::Time now = fs_.Now();
    if (!approve) {
      const std::string reason = Str("reason");
      if (reason.empty() || reason.size() > 4096) Throw("usage", "a reason of 1 to 4096 bytes is needed to reject");
      Ahead();
      Check(fs_.policy_store().CloseDestruction(d.id, acl::WitnessedState::kRejected, caller_.uid, now, reason),
            "reject request");
      Changed();
      return DestructionJson(DestructionNamed(true), true);
    }
    const bool enough = static_cast<int>(d.witnesses.size()) + 1 >= d.witnesses_needed;
    acl::WitnessedState then = acl::WitnessedState::kPending;
    std::optional<acl::ObjectId> drop_hold;
    if (enough && d.kind == acl::WitnessedKind::kDestroy) {
      // A hold placed since the request (a legal hold, say) stops it.
      for (const acl::DestructionItem& item : d.items) {
        std::vector<acl::ObjectId> chain{item.object};
        if (item.requested()) {
          Result<std::vector<acl::ObjectId>> up = fs_.ChainOfObject(item.object);
          if (up.ok()) chain = std::move(*up);
        }
        if (auto prot = policy_->ProtectionOf(chain, now, true, false)) {
          Throw("refused", item.path + " is under a retention hold until " + IsoUtc(prot->until) +
                               ": the destruction cannot be approved before the hold ends or is released");
        }
      }
      then = acl::WitnessedState::kExecuting;
    } else if (enough) {
      then = acl::WitnessedState::kDone;
      if (!d.items.empty() && policy_->HoldOn(d.items.front().object) != nullptr) drop_hold = d.items.front().object;
    }
    Ahead();
    Check(fs_.policy_store().AddWitness(d.id, acl::Witness{caller_.uid, now}, then, drop_hold), "witness request " + sid);
    Changed();
    if (then == acl::WitnessedState::kExecuting) fs_.QueueDestruction(d.id);
    return DestructionJson(DestructionNamed(true), true);
  }

  json CertificateJson(const acl::Destruction& d) {
    json body = json::parse(d.certificate, nullptr, false);
    if (body.is_discarded()) Throw("integrity", "the certificate of request " + std::to_string(d.id) + " is not JSON");
    const std::string digest = acl::CertificateDigestHex(d.certificate);
    return {{"certificate", body},
            {"digest", digest},
            {"mac", crypto::HexEncode(d.certificate_mac)},
            {"audit_op", acl::CertificateAuditOp(digest)}};
  }

  json DestroyCertificate() {
    const acl::Destruction d = DestructionNamed(false);
    if (d.kind != acl::WitnessedKind::kDestroy || d.state != acl::WitnessedState::kDone || d.certificate.empty()) {
      Throw("conflict", "request " + std::to_string(d.id) + " has no certificate (it is " +
                            std::string(acl::WitnessedStateName(d.state)) + ")");
    }
    return CertificateJson(d);
  }

  // Checks a certificate (the stored one, or one given as printed by
  // `destroy certificate --json`): its MAC under the vault's certificate
  // key, its digest against the stored certificate's, and that the digest
  // is sealed in the audit log.
  json DestroyVerify() {
    const acl::Destruction d = DestructionNamed(false);
    if (d.kind != acl::WitnessedKind::kDestroy || d.state != acl::WitnessedState::kDone || d.certificate.empty()) {
      Throw("conflict", "request " + std::to_string(d.id) + " has no certificate (it is " +
                            std::string(acl::WitnessedStateName(d.state)) + ")");
    }
    std::string canonical = d.certificate;
    crypto::Bytes mac = d.certificate_mac;
    std::vector<std::string> problems;
    auto given = req_.find("certificate");
    const bool from_file = given != req_.end() && !given->is_null();
    if (from_file) {
      if (!given->is_object() || !given->contains("certificate") || !(*given)["certificate"].is_object()) {
        Throw("usage", "the certificate file must hold the object printed by destroy certificate --json");
      }
      try {
        canonical = acl::CanonicalCertificate((*given)["certificate"]);
      } catch (const json::exception&) {
        Throw("usage", "the certificate holds text that is not UTF-8");
      }
      mac.clear();
      const json& m = (*given)["mac"];
      if (!m.is_string() || !crypto::HexDecode(m.get<std::string>(), &mac) || mac.size() != 32) {
        problems.push_back("it has no valid mac field");
      }
      const json& dg = (*given)["digest"];
      if (dg.is_string() && dg.get<std::string>() != acl::CertificateDigestHex(canonical)) {
        problems.push_back("its digest field is not the digest of its content");
      }
    }
    const std::string digest = acl::CertificateDigestHex(canonical);
    const crypto::Bytes expect = acl::CertificateMac(fs_.certificate_key(), canonical);
    const bool mac_ok = mac.size() == expect.size() && std::equal(mac.begin(), mac.end(), expect.begin());
    if (!mac_ok && problems.empty()) problems.push_back("its MAC does not match its content (it was changed)");
    const bool same = digest == acl::CertificateDigestHex(d.certificate);
    if (!same) problems.push_back("it is not the certificate the vault issued for request " + std::to_string(d.id));
    std::optional<uint64_t> seq;
    if (acl::AuditLog* log = fs_.audit_log()) {
      (void)log->Flush();
      acl::AuditQuery q;
      q.op = acl::CertificateAuditOp(digest);
      q.limit = 1;
      Result<std::vector<acl::AuditRecord>> got = log->Query(q);
      Check(got.status(), "query the audit log");
      if (!got->empty()) seq = got->front().seq;
    }
    if (!seq) problems.push_back("its digest is not sealed in the audit log");
    json out = {{"id", d.id},
                {"digest", digest},
                {"mac_ok", mac_ok},
                {"issued_by_vault", same},
                {"audit_seq", seq ? json(*seq) : json(nullptr)},
                {"ok", problems.empty()}};
    if (!problems.empty()) {
      std::string msg = "certificate of request " + std::to_string(d.id) + " does not verify: ";
      for (size_t i = 0; i < problems.size(); ++i) msg += (i > 0 ? "; " : "") + problems[i];
      Throw("integrity", msg);
    }
    return out;
  }

  static constexpr uint64_t kMinSegmentBytes = uint64_t{64} << 10;
  static constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 40;

  // "65536", "64K", "256M", "2G", "1T" (powers of 1024).
  static std::optional<uint64_t> ParseSize(const std::string& text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    uint64_t v = 0;
    size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) v = v * 10 + static_cast<uint64_t>(text[i] - '0');
    if (i == 0 || v > (uint64_t{1} << 44)) return std::nullopt;
    if (i == text.size()) return v;
    if (i + 1 != text.size()) return std::nullopt;
    switch (text[i]) {
      case 'K': case 'k': return v << 10;
      case 'M': case 'm': return v << 20;
      case 'G': case 'g': return v << 30;
      case 'T': case 't': return v << 40;
      default: return std::nullopt;
    }
  }

  // Auditors and admins query everything; a lead, the folders they lead.
  json AuditQueryCmd() {
    Me();
    acl::AuditLog* log = fs_.audit_log();
    if (log == nullptr) Throw("internal", "this mount has no audit log");
    acl::AuditQuery q;
    if (auto v = Str("user", false); !v.empty()) q.user = v;
    if (auto v = Str("path", false); !v.empty()) q.path_prefix = Normalize(v);
    if (auto v = Str("op", false); !v.empty()) q.op = v;
    q.since_us = Int("since_us", false);
    q.until_us = Int("until_us", false);
    q.denied = req_.value("denied", false);
    const int64_t limit = Int("limit", false).value_or(100);
    if (limit < 1 || limit > 1000000) Throw("usage", "--limit is 1 to 1000000");
    q.limit = static_cast<size_t>(limit);
    if (!IsAdmin() && !IsAuditor()) {
      if (!q.path_prefix) Throw("refused", "only auditors and admins query the whole log; a lead gives --path of a folder they lead");
      const Target t = Resolve(*q.path_prefix);
      if (!Leads(t.chain)) Throw("refused", "only auditors, admins and the leads of " + t.path + " may query its records");
    }
    (void)log->Flush();  // what was queued so far is part of the answer
    Result<std::vector<acl::AuditRecord>> got = log->Query(q);
    Check(got.status(), "query the audit log");
    json records = json::array();
    for (const acl::AuditRecord& r : *got) {
      const acl::AuditEntry& e = r.entry;
      records.push_back({{"seq", r.seq},      {"time_us", e.time_us}, {"user", e.user},     {"uid", e.uid},
                         {"pid", e.pid},      {"exe", e.exe},         {"op", e.op},         {"path", e.path},
                         {"path2", e.path2},  {"access", e.access},   {"result", e.result}, {"count", e.count},
                         {"reason", e.reason}});
    }
    return {{"records", records}};
  }

  // --- viewers (view-only mode) -------------------------------------------
  json ViewerJson(const acl::Viewer& v) const {
    return {{"id", v.id},
            {"name", v.label},
            {"path", v.path},
            {"sha256", crypto::HexEncode(v.sha256)},
            {"added_by", NameOf(v.added_by)},
            {"added_at", v.added_at}};
  }
  static json GroupJson(const std::optional<acl::ViewerGroup>& g) {
    if (!g) return nullptr;
    return {{"name", g->name}, {"gid", g->gid}};
  }
  // A viewer named by its label or its path (as added, or resolved now).
  const acl::Viewer& ViewerNamed(const std::string& which) const {
    for (const acl::Viewer& v : policy_->data().viewers) {
      if (v.label == which || v.path == which) return v;
    }
    if (!which.empty() && which[0] == '/') {
      char resolved[PATH_MAX];
      if (::realpath(which.c_str(), resolved) != nullptr) {
        if (const acl::Viewer* v = policy_->FindViewerByPath(resolved)) return *v;
      }
    }
    Throw("not_found", "no viewer " + which + " on the allow-list");
  }
  static void ThrowProgram(const Status& st) {
    switch (st.code()) {
      case Status::Code::kNotFound: Throw("not_found", st.message());
      case Status::Code::kDenied: Throw("refused", st.message());
      case Status::Code::kInvalid: Throw("usage", st.message());
      default: Throw("internal", st.ToString());
    }
  }

  json ViewerAdd() {
    RequireAdmin("allow-list viewers");
    const std::string program = Str("program");
    if (program.empty() || program[0] != '/') Throw("usage", "the program must be an absolute path");
    const std::string label = Str("name", false);
    if (!label.empty() && (!ValidPrincipalName(label) || label.find('/') != std::string::npos)) {
      Throw("usage", "a viewer's name is 1 to 64 bytes, without control characters, '/' or a leading @");
    }
    // A vault made before view-only mode gets the default viewer group with
    // its first viewer.
    std::optional<acl::ViewerGroup> group = policy_->viewer_group();
    const bool new_group = !group;
    if (new_group) {
      Result<acl::ViewerGroup> g = ResolveViewerGroup(kDefaultViewerGroup, true);
      if (!g.ok()) ThrowProgram(g.status());
      group = *g;
    }
    Result<ViewerProgram> checked = InspectViewerProgram(program, *group);
    if (!checked.ok()) ThrowProgram(checked.status());
    const acl::Viewer* existing = policy_->FindViewerByPath(checked->path);
    acl::Viewer v;
    v.path = checked->path;
    v.label = !label.empty() ? label : existing != nullptr ? existing->label : checked->path.substr(checked->path.rfind('/') + 1);
    v.sha256 = checked->sha256;
    v.added_by = caller_.uid;
    v.added_at = fs_.Now();
    for (const acl::Viewer& other : policy_->data().viewers) {
      if (other.label == v.label && other.path != v.path) {
        Throw("conflict", "another viewer is already called " + v.label + " (" + other.path + "); give --name");
      }
    }
    // `existing` points into the snapshot Changed() replaces.
    const bool replaced = existing != nullptr;
    const std::string previous = replaced ? crypto::HexEncode(existing->sha256) : std::string();
    Ahead();
    if (new_group) Check(fs_.policy_store().SetViewerGroup(*group), "set the viewer group");
    Result<int64_t> id = fs_.policy_store().PutViewer(v);
    Check(id.status(), "add viewer " + v.path);
    Changed();
    json out = ViewerJson(*policy_->FindViewerByPath(v.path));
    out["group"] = GroupJson(policy_->viewer_group());
    out["replaced"] = replaced;
    out["previous_sha256"] = replaced ? json(previous) : json(nullptr);
    return out;
  }

  json ViewerList() {
    RequireAdmin("list viewers");
    json viewers = json::array();
    for (const acl::Viewer& v : policy_->data().viewers) viewers.push_back(ViewerJson(v));
    return {{"group", GroupJson(policy_->viewer_group())}, {"viewers", viewers}};
  }

  json ViewerRemove() {
    RequireAdmin("remove viewers");
    const acl::Viewer& v = ViewerNamed(Str("program"));
    json out = ViewerJson(v);
    const int64_t id = v.id;
    Ahead();
    Check(fs_.policy_store().RemoveViewer(id), "remove viewer " + v.path);
    Changed();
    return out;
  }

  // --- fsck and status ----------------------------------------------------
  json Fsck() {
    RequireAdmin("check the vault");
    Result<CheckReport> report = fs_.CheckVault();
    Check(report.status(), "check the vault");
    json out = CheckReportJson(*report);
    out["mountpoint"] = mountpoint_;
    return out;
  }

  // Anyone may ask (a user of the vault or not): counts for everyone, the
  // open files' paths for admins only.
  json StatusCmd() {
    const std::vector<VaultFs::OpenFile> open = fs_.OpenFiles();
    int handles = 0, writers = 0;
    for (const VaultFs::OpenFile& f : open) {
      handles += f.handles;
      writers += f.writers;
    }
    json out = {{"mountpoint", mountpoint_},
                {"pid", ::getpid()},
                {"users", policy_->data().users.size()},
                {"open_files", open.size()},
                {"open_handles", handles},
                {"open_for_writing", writers},
                {"admin", IsAdmin()}};
    if (IsAdmin()) {
      json files = json::array();
      for (const VaultFs::OpenFile& f : open) {
        files.push_back({{"path", f.path}, {"handles", f.handles}, {"writers", f.writers}, {"deleted", f.deleted}});
      }
      out["files"] = files;
    }
    out["audit"] = AuditFootprint(fs_.audit_db_path());
    return out;
  }

  // The audit log's size on disk and when `audit verify` last succeeded.
  static json AuditFootprint(const std::string& db) {
    if (db.empty()) return nullptr;
    auto size_of = [](const std::string& path) -> uint64_t {
      struct stat st;
      return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    };
    const uint64_t database = size_of(db), wal = size_of(db + "-wal"), ahead = size_of(db + "-ahead");
    uint64_t segment_bytes = 0;
    const std::vector<acl::AuditSegment> segments = acl::ListAuditSegments(db);
    for (const acl::AuditSegment& seg : segments) segment_bytes += size_of(seg.path);
    json out = {{"database_bytes", database},
                {"wal_bytes", wal},
                {"ahead_bytes", ahead},
                {"segments", segments.size()},
                {"segment_bytes", segment_bytes},
                {"total_bytes", database + wal + ahead + segment_bytes}};
    Result<acl::AuditVerifiedMark> mark = acl::ReadAuditVerifiedMark(db);
    out["last_verified"] = mark.ok() ? json{{"time", mark->time}, {"records", mark->records}} : json(nullptr);
    return out;
  }

#ifdef STRONGROOM_TEST_HOOKS
  json TestClock() {
    if (caller_.uid != 0) Throw("refused", "root only");
    fs_.SetClockOffset(*Int("offset"));
    return {{"now", fs_.Now()}};
  }

  json TestFailPoint() {
    if (caller_.uid != 0) Throw("refused", "root only");
    fs_.SetFailPoint(Str("name"), *Int("after"));
    return {{"armed", Str("name")}};
  }
#endif

  VaultFs& fs_;
  Caller caller_;
  std::string mountpoint_;
  const json& req_;
  std::shared_ptr<const acl::PolicySnapshot> policy_;
  const acl::User* me_ = nullptr;
  acl::AuditEntry* ahead_ = nullptr;
  bool wrote_ahead_ = false;
};

}  // namespace

json RunPolicyCommand(VaultFs& fs, const Caller& caller, const std::string& mountpoint, const json& request) {
  const std::string cmd = request.value("cmd", std::string());
  // Every policy command is recorded, with who ran it and what it asked.
  acl::AuditEntry entry;
  entry.uid = caller.uid;
  entry.pid = caller.pid;
  if (caller.pid > 0) {
    char exe[4096];
    const ssize_t n = ::readlink(("/proc/" + std::to_string(caller.pid) + "/exe").c_str(), exe, sizeof exe);
    if (n > 0) entry.exe.assign(exe, static_cast<size_t>(n));
  }
  entry.op = cmd.rfind("audit.", 0) == 0 || cmd == "backup" ? cmd.substr(0, 40) : "policy." + cmd.substr(0, 40);
  if (cmd == "audit.record") {
    if (caller.uid != 0) {
      entry.result = EACCES;
      entry.reason = "only root records events";
      if (acl::AuditLog* log = fs.audit_log()) log->AppendAsync(std::move(entry));
      return {{"ok", false}, {"code", "refused"}, {"error", "only root records events"}};
    }
    entry.op = request.value("op", std::string("event")).substr(0, 40);
    entry.reason = request.value("reason", std::string()).substr(0, 400);
  }
  if (auto policy = fs.policy()) {
    if (const acl::User* u = policy->FindUser(caller.uid)) entry.user = u->name;
  }
  entry.path = request.value("path", std::string());
  if (auto paths = request.find("paths"); paths != request.end() && paths->is_array() && !paths->empty() &&
                                           paths->front().is_string()) {
    entry.path = paths->front().get<std::string>();
  }
  json args = request;
  args.erase("cmd");
  entry.access = args.dump(-1, ' ', false, json::error_handler_t::replace);
  const bool reads_only = cmd == "whoami" || cmd == "user.list" || cmd == "team.list" || cmd == "access" ||
                          cmd == "access.user" || cmd == "requests" || cmd == "audit.query" ||
                          cmd == "config.get" || cmd == "viewer.list" || cmd == "destroy.list" || cmd == "destroy.show" ||
                          cmd == "destroy.certificate" || cmd == "destroy.verify" ||
                          cmd == "fsck" || cmd == "status";
  acl::AuditLog* log = fs.audit_log();
  // Changes are recorded ahead by the command itself, once its checks have
  // passed (Command::Ahead); reads and refusals are queued.
  Command command(fs, caller, mountpoint, request, reads_only ? nullptr : &entry);
  try {
    json result = command.Run();
    if (log != nullptr && !command.wrote_ahead()) log->AppendAsync(std::move(entry));
    return {{"ok", true}, {"result", result}};
  } catch (const CommandError& e) {
    if (log != nullptr) {
      entry.result = e.code == "not_found" ? ENOENT : e.code == "refused" ? EACCES : EINVAL;
      entry.reason = e.message;
      log->AppendAsync(std::move(entry));
    }
    return {{"ok", false}, {"code", e.code}, {"error", e.message}};
  }
}

}  // namespace strongroom::fs
