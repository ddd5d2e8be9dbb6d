// The combination rule of acl::PolicySnapshot::Decide (PRODUCT.md,
// "Identity, grants and decisions"), table-driven, and the indexes beside
// it: OnTheWay (folders on the way to a grant), PolicyBelow, HasLeafPolicy,
// NextExpiry. Policy data is built by hand; the tree is a small map.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "acl/decision.h"
#include "acl/policy.h"

namespace strongroom::acl {
namespace {

using Why = Decision::Why;

// The tree:
//   /            (root)
//   /a
//   /a/b
//   /a/b/f       (file)
//   /a/b/l       (symlink)
//   /c
//   /c/d
ObjectId Id(uint8_t n) {
  ObjectId id{};
  id[0] = n;
  id[15] = static_cast<uint8_t>(0xa0 + n);  // the hash reads the first bytes; vary the rest too
  return id;
}
const ObjectId kRoot = Id(1);
const ObjectId kA = Id(2);
const ObjectId kB = Id(3);
const ObjectId kF = Id(4);
const ObjectId kC = Id(5);
const ObjectId kD = Id(6);
const ObjectId kL = Id(7);

const std::map<ObjectId, ObjectInfo>& Tree() {
  static const std::map<ObjectId, ObjectInfo> tree = {
      {kRoot, {ObjectId{}, ObjectKind::kDirectory, true}},
      {kA, {kRoot, ObjectKind::kDirectory, false}},
      {kB, {kA, ObjectKind::kDirectory, false}},
      {kF, {kB, ObjectKind::kFile, false}},
      {kL, {kB, ObjectKind::kSymlink, false}},
      {kC, {kRoot, ObjectKind::kDirectory, false}},
      {kD, {kC, ObjectKind::kDirectory, false}},
  };
  return tree;
}

std::optional<ObjectInfo> Info(const ObjectId& id) {
  auto it = Tree().find(id);
  if (it == Tree().end()) return std::nullopt;
  return it->second;
}

// The object followed by its ancestors, the root last.
std::vector<ObjectId> Chain(ObjectId id) {
  std::vector<ObjectId> chain{id};
  for (auto info = Info(id); info && !info->root; info = Info(id)) {
    id = info->parent;
    chain.push_back(id);
  }
  return chain;
}

constexpr Time kNow = 1'800'000'000;

// Users. kGranter gives every grant unless a case says otherwise.
constexpr Uid kAlice = 1001;   // staff, clearance 1, teams t1 and t2
constexpr Uid kBob = 1002;     // staff, clearance 1, team t1
constexpr Uid kCarol = 1003;   // staff, clearance 3, team t3
constexpr Uid kDave = 1004;    // disabled, team t1
constexpr Uid kErin = 1005;    // clearance 2, no team
constexpr Uid kGranter = 4200; // admin
constexpr Uid kUnknown = 9999; // not a user

constexpr TeamId kT1 = 1;
constexpr TeamId kT2 = 2;
constexpr TeamId kT3 = 3;

User MakeUser(Uid uid, std::string name, int clearance, bool enabled = true, Role role = Role::kStaff) {
  User u;
  u.uid = uid;
  u.name = std::move(name);
  u.clearance = clearance;
  u.enabled = enabled;
  u.role = role;
  return u;
}

PolicyData BaseData() {
  PolicyData d;
  d.users = {MakeUser(kAlice, "alice", 1),        MakeUser(kBob, "bob", 1),
             MakeUser(kCarol, "carol", 3),        MakeUser(kDave, "dave", 3, /*enabled=*/false),
             MakeUser(kErin, "erin", 2),          MakeUser(kGranter, "admin", 3, true, Role::kAdmin)};
  d.teams = {Team{kT1, "t1", {kAlice, kBob, kDave}}, Team{kT2, "t2", {kAlice}}, Team{kT3, "t3", {kCarol}}};
  return d;
}

Grant ToUser(const ObjectId& on, Uid uid, Mode mode, std::optional<Time> until = std::nullopt,
             Uid by = kGranter) {
  Grant g;
  g.object = on;
  g.subject.user = uid;
  g.mode = mode;
  g.until = until;
  g.granted_by = by;
  g.granted_at = kNow - 1000;
  return g;
}

Grant ToTeam(const ObjectId& on, TeamId team, Mode mode, std::optional<Time> until = std::nullopt,
             Uid by = kGranter) {
  Grant g = ToUser(on, 0, mode, until, by);
  g.subject.user.reset();
  g.subject.team = team;
  return g;
}

Label LabelOn(const ObjectId& on, int level) { return Label{on, level, kGranter, kNow - 1000}; }

PolicySnapshot Snapshot(std::vector<Grant> grants, std::vector<Label> labels = {}) {
  PolicyData d = BaseData();
  d.grants = std::move(grants);
  d.labels = std::move(labels);
  return PolicySnapshot(std::move(d), Info, 7);
}

struct Case {
  const char* name;
  std::vector<Grant> grants;
  std::vector<Label> labels;
  Uid uid;
  ObjectId object;
  Time now;
  // Expected:
  Why why;
  Mode mode;                        // before clearance
  std::optional<size_t> depth;      // where the deciding grant is (when one decided)
  int level;
  Mode effective;                   // after clearance
};

std::string WhyName(Why w) {
  switch (w) {
    case Why::kUnknownUser: return "kUnknownUser";
    case Why::kDisabled: return "kDisabled";
    case Why::kNoGrant: return "kNoGrant";
    case Why::kUserGrant: return "kUserGrant";
    case Why::kTeamNone: return "kTeamNone";
    case Why::kTeamGrant: return "kTeamGrant";
  }
  return "?";
}

const std::vector<Case>& Cases() {
  using M = Mode;
  static const std::vector<Case> cases = {
      // --- nothing -----------------------------------------------------------
      {"no grants anywhere", {}, {}, kAlice, kB, kNow, Why::kNoGrant, M::kNone, std::nullopt, 1, M::kNone},

      // --- user vs team at the same level -------------------------------------
      {"a direct user grant decides over a stronger team grant at the same level",
       {ToUser(kA, kAlice, M::kRead), ToTeam(kA, kT1, M::kWrite)}, {}, kAlice, kB, kNow,
       Why::kUserGrant, M::kRead, 1, 1, M::kRead},
      {"a direct user grant decides over a weaker team grant at the same level",
       {ToUser(kA, kAlice, M::kWrite), ToTeam(kA, kT1, M::kView)}, {}, kAlice, kB, kNow,
       Why::kUserGrant, M::kWrite, 1, 1, M::kWrite},
      {"a direct user none beats a team write at the same level",
       {ToUser(kA, kAlice, M::kNone), ToTeam(kA, kT1, M::kWrite)}, {}, kAlice, kA, kNow,
       Why::kUserGrant, M::kNone, 0, 1, M::kNone},
      {"a direct user grant beats a team none at the same level",
       {ToTeam(kA, kT1, M::kNone), ToUser(kA, kAlice, M::kWrite)}, {}, kAlice, kA, kNow,
       Why::kUserGrant, M::kWrite, 0, 1, M::kWrite},
      {"none on one team denies even with another team's write",
       {ToTeam(kA, kT2, M::kWrite), ToTeam(kA, kT1, M::kNone)}, {}, kAlice, kB, kNow,
       Why::kTeamNone, M::kNone, 1, 1, M::kNone},
      {"none on one team denies, listed after the other team's write",
       {ToTeam(kA, kT1, M::kNone), ToTeam(kA, kT2, M::kManage)}, {}, kAlice, kA, kNow,
       Why::kTeamNone, M::kNone, 0, 1, M::kNone},
      {"the strongest team grant decides (read vs write)",
       {ToTeam(kA, kT1, M::kRead), ToTeam(kA, kT2, M::kWrite)}, {}, kAlice, kF, kNow,
       Why::kTeamGrant, M::kWrite, 2, 1, M::kWrite},
      {"the strongest team grant decides (order does not matter)",
       {ToTeam(kA, kT2, M::kManage), ToTeam(kA, kT1, M::kView)}, {}, kAlice, kA, kNow,
       Why::kTeamGrant, M::kManage, 0, 1, M::kManage},
      {"a team none for a team the user is not in does not deny",
       {ToTeam(kA, kT3, M::kNone), ToTeam(kA, kT1, M::kRead)}, {}, kAlice, kA, kNow,
       Why::kTeamGrant, M::kRead, 0, 1, M::kRead},

      // --- nesting ------------------------------------------------------------
      {"the nearest level with an applicable grant decides, even a weaker one",
       {ToUser(kRoot, kAlice, M::kManage), ToUser(kA, kAlice, M::kView)}, {}, kAlice, kB, kNow,
       Why::kUserGrant, M::kView, 1, 1, M::kView},
      {"a nearer team grant decides over a farther direct user grant",
       {ToUser(kRoot, kAlice, M::kManage), ToTeam(kB, kT1, M::kRead)}, {}, kAlice, kF, kNow,
       Why::kTeamGrant, M::kRead, 1, 1, M::kRead},
      {"a nearer team none decides over a farther direct user manage",
       {ToUser(kRoot, kAlice, M::kManage), ToTeam(kA, kT1, M::kNone)}, {}, kAlice, kB, kNow,
       Why::kTeamNone, M::kNone, 1, 1, M::kNone},
      {"a grant on the file itself is nearest (depth 0)",
       {ToUser(kB, kAlice, M::kWrite), ToUser(kF, kAlice, M::kRead)}, {}, kAlice, kF, kNow,
       Why::kUserGrant, M::kRead, 0, 1, M::kRead},
      {"inherited from the root down to a file",
       {ToTeam(kRoot, kT1, M::kWrite)}, {}, kBob, kF, kNow, Why::kTeamGrant, M::kWrite, 3, 1, M::kWrite},
      {"a grant in another branch does not apply",
       {ToUser(kC, kAlice, M::kWrite)}, {}, kAlice, kB, kNow, Why::kNoGrant, M::kNone, std::nullopt, 1, M::kNone},

      // --- grants for others do not stop the walk -----------------------------
      {"a grant for another user on a nearer folder does not stop the walk",
       {ToUser(kA, kBob, M::kNone), ToUser(kRoot, kAlice, M::kWrite)}, {}, kAlice, kB, kNow,
       Why::kUserGrant, M::kWrite, 2, 1, M::kWrite},
      {"a grant for a team the user is not in does not stop the walk",
       {ToTeam(kB, kT3, M::kManage), ToTeam(kRoot, kT2, M::kRead)}, {}, kAlice, kF, kNow,
       Why::kTeamGrant, M::kRead, 3, 1, M::kRead},
      {"the other user's grant decides for them",
       {ToUser(kA, kBob, M::kNone), ToUser(kRoot, kAlice, M::kWrite), ToTeam(kRoot, kT1, M::kRead)}, {}, kBob,
       kB, kNow, Why::kUserGrant, M::kNone, 1, 1, M::kNone},

      // --- expiry ---------------------------------------------------------------
      {"an expired direct grant acts as absent (the walk goes on)",
       {ToUser(kA, kAlice, M::kManage, kNow - 1), ToUser(kRoot, kAlice, M::kRead)}, {}, kAlice, kB, kNow,
       Why::kUserGrant, M::kRead, 2, 1, M::kRead},
      {"an expired direct grant does not beat a team grant beside it",
       {ToUser(kA, kAlice, M::kNone, kNow - 1), ToTeam(kA, kT1, M::kWrite)}, {}, kAlice, kA, kNow,
       Why::kTeamGrant, M::kWrite, 0, 1, M::kWrite},
      {"an expired team none does not deny",
       {ToTeam(kA, kT1, M::kNone, kNow - 100), ToTeam(kA, kT2, M::kRead)}, {}, kAlice, kA, kNow,
       Why::kTeamGrant, M::kRead, 0, 1, M::kRead},
      {"until == now still holds",
       {ToUser(kA, kAlice, M::kWrite, kNow)}, {}, kAlice, kB, kNow, Why::kUserGrant, M::kWrite, 1, 1, M::kWrite},
      {"one second after until, the grant is gone",
       {ToUser(kA, kAlice, M::kWrite, kNow)}, {}, kAlice, kB, kNow + 1, Why::kNoGrant, M::kNone, std::nullopt, 1,
       M::kNone},
      {"a grant with a future until holds",
       {ToTeam(kA, kT1, M::kRead, kNow + 86400)}, {}, kBob, kA, kNow, Why::kTeamGrant, M::kRead, 0, 1, M::kRead},

      // --- self-given grants are ignored ---------------------------------------
      {"a grant to the user given by themself is ignored",
       {ToUser(kA, kAlice, M::kManage, std::nullopt, kAlice)}, {}, kAlice, kA, kNow, Why::kNoGrant, M::kNone,
       std::nullopt, 1, M::kNone},
      {"a self-given grant is ignored and the walk goes on",
       {ToUser(kA, kAlice, M::kManage, std::nullopt, kAlice), ToUser(kRoot, kAlice, M::kRead)}, {}, kAlice, kB,
       kNow, Why::kUserGrant, M::kRead, 2, 1, M::kRead},
      {"a grant to a team of theirs given by themself is ignored for them",
       {ToTeam(kA, kT1, M::kWrite, std::nullopt, kAlice)}, {}, kAlice, kA, kNow, Why::kNoGrant, M::kNone,
       std::nullopt, 1, M::kNone},
      {"... but holds for the other members",
       {ToTeam(kA, kT1, M::kWrite, std::nullopt, kAlice)}, {}, kBob, kA, kNow, Why::kTeamGrant, M::kWrite, 0, 1,
       M::kWrite},
      {"a self-given team none does not deny the giver",
       {ToTeam(kA, kT1, M::kNone, std::nullopt, kAlice), ToTeam(kA, kT2, M::kRead)}, {}, kAlice, kA, kNow,
       Why::kTeamGrant, M::kRead, 0, 1, M::kRead},
      {"a grant given by someone else to a user who gave others grants holds",
       {ToUser(kA, kAlice, M::kRead, std::nullopt, kBob)}, {}, kAlice, kA, kNow, Why::kUserGrant, M::kRead, 0, 1,
       M::kRead},

      // --- unknown and disabled users -----------------------------------------
      {"an unknown uid gets nothing", {ToUser(kA, kUnknown, M::kManage), ToTeam(kRoot, kT1, M::kManage)}, {},
       kUnknown, kA, kNow, Why::kUnknownUser, M::kNone, std::nullopt, 1, M::kNone},
      {"a disabled user gets nothing despite a direct grant", {ToUser(kA, kDave, M::kManage)}, {}, kDave, kA, kNow,
       Why::kDisabled, M::kNone, std::nullopt, 1, M::kNone},
      {"a disabled user gets nothing despite a team grant", {ToTeam(kA, kT1, M::kWrite)}, {}, kDave, kA, kNow,
       Why::kDisabled, M::kNone, std::nullopt, 1, M::kNone},

      // --- labels ----------------------------------------------------------------
      {"level 2 above clearance 1: the grant stands but is not effective", {ToUser(kA, kAlice, M::kWrite)},
       {LabelOn(kA, 2)}, kAlice, kB, kNow, Why::kUserGrant, M::kWrite, 1, 2, M::kNone},
      {"clearance 3 opens level 2", {ToUser(kA, kCarol, M::kWrite)}, {LabelOn(kA, 2)}, kCarol, kB, kNow,
       Why::kUserGrant, M::kWrite, 1, 2, M::kWrite},
      {"clearance equal to the level opens it", {ToUser(kA, kErin, M::kRead)}, {LabelOn(kB, 2)}, kErin, kF, kNow,
       Why::kUserGrant, M::kRead, 2, 2, M::kRead},
      {"the level is the highest label on the chain", {ToUser(kRoot, kErin, M::kRead)},
       {LabelOn(kRoot, 2), LabelOn(kA, 3), LabelOn(kB, 2)}, kErin, kF, kNow, Why::kUserGrant, M::kRead, 3, 3,
       M::kNone},
      {"a label below the object does not raise its level", {ToUser(kA, kAlice, M::kRead)}, {LabelOn(kB, 3)},
       kAlice, kA, kNow, Why::kUserGrant, M::kRead, 0, 1, M::kRead},
      {"a label in another branch does not count", {ToUser(kRoot, kAlice, M::kRead)}, {LabelOn(kC, 3)}, kAlice,
       kF, kNow, Why::kUserGrant, M::kRead, 3, 1, M::kRead},
      {"a label of 1 is no label", {ToUser(kA, kAlice, M::kRead)}, {LabelOn(kA, 1)}, kAlice, kA, kNow,
       Why::kUserGrant, M::kRead, 0, 1, M::kRead},
      {"a label without a grant: no grant, level still reported", {}, {LabelOn(kA, 3)}, kAlice, kB, kNow,
       Why::kNoGrant, M::kNone, std::nullopt, 3, M::kNone},
      {"a disabled user's level is still computed", {ToUser(kA, kDave, M::kRead)}, {LabelOn(kA, 2)}, kDave, kB,
       kNow, Why::kDisabled, M::kNone, std::nullopt, 2, M::kNone},
  };
  return cases;
}

TEST_CASE("decision: the combination rule, table-driven", "[acl][decision]") {
  for (const Case& c : Cases()) {
    INFO("case: " << c.name);
    const PolicySnapshot p = Snapshot(c.grants, c.labels);
    const std::vector<ObjectId> chain = Chain(c.object);
    const Decision d = p.Decide(c.uid, chain, c.now);
    INFO("got why " << WhyName(d.why) << ", mode " << ModeName(d.mode) << ", depth " << d.depth << ", level "
                    << d.level << ", effective " << ModeName(d.effective()));
    CHECK(WhyName(d.why) == WhyName(c.why));
    CHECK(d.mode == c.mode);
    CHECK(d.level == c.level);
    CHECK(d.effective() == c.effective);
    CHECK(d.level == p.LevelOf(chain));
    if (c.depth) {
      REQUIRE(d.grant != nullptr);
      CHECK(d.depth == *c.depth);
      // The deciding grant is attached at that depth of the chain.
      CHECK(d.grant->object == chain[*c.depth]);
      CHECK(d.grant->mode == d.mode);
    } else {
      CHECK(d.grant == nullptr);
    }
    // known() and cleared() agree with the rest.
    CHECK(d.known() == (c.why != Why::kUnknownUser && c.why != Why::kDisabled));
    if (d.known()) {
      const User* u = p.FindUser(c.uid);
      REQUIRE(u != nullptr);
      CHECK(d.clearance == u->clearance);
      CHECK(d.cleared() == (u->clearance >= c.level));
    }
  }
}

TEST_CASE("decision: effective() and cleared() on a decision", "[acl][decision]") {
  Decision d;
  d.why = Why::kUserGrant;
  d.mode = Mode::kWrite;
  d.level = 2;
  d.clearance = 1;
  CHECK_FALSE(d.cleared());
  CHECK(d.effective() == Mode::kNone);
  d.clearance = 2;
  CHECK(d.cleared());
  CHECK(d.effective() == Mode::kWrite);
  d.why = Why::kDisabled;
  CHECK(d.effective() == Mode::kNone);
  d.why = Why::kUnknownUser;
  CHECK(d.effective() == Mode::kNone);
  // A default decision gives nothing.
  CHECK(Decision{}.effective() == Mode::kNone);
  CHECK_FALSE(Decision{}.known());
}

TEST_CASE("decision: a grant for the deciding subject is reported with its subject", "[acl][decision]") {
  const PolicySnapshot p = Snapshot({ToTeam(kA, kT1, Mode::kRead), ToTeam(kA, kT2, Mode::kWrite)});
  const auto chain = Chain(kB);
  const Decision d = p.Decide(kAlice, chain, kNow);
  REQUIRE(d.grant != nullptr);
  CHECK(d.grant->subject.team == std::optional<TeamId>(kT2));
  // Bob is only in t1.
  const Decision b = p.Decide(kBob, chain, kNow);
  REQUIRE(b.grant != nullptr);
  CHECK(b.grant->subject.team == std::optional<TeamId>(kT1));
  CHECK(b.mode == Mode::kRead);
}

TEST_CASE("decision: lookups of users and teams", "[acl][decision]") {
  const PolicySnapshot p = Snapshot({});
  CHECK(p.generation() == 7);
  REQUIRE(p.FindUser(kAlice) != nullptr);
  CHECK(p.FindUser(kAlice)->name == "alice");
  CHECK(p.FindUser(kUnknown) == nullptr);
  REQUIRE(p.FindUserByName("carol") != nullptr);
  CHECK(p.FindUserByName("carol")->uid == kCarol);
  CHECK(p.FindUserByName("Carol") == nullptr);
  REQUIRE(p.FindTeamByName("t2") != nullptr);
  CHECK(p.FindTeamByName("t2")->id == kT2);
  CHECK(p.FindTeam(99) == nullptr);
  CHECK(p.InTeam(kAlice, kT1));
  CHECK(p.InTeam(kAlice, kT2));
  CHECK_FALSE(p.InTeam(kBob, kT2));
  CHECK_FALSE(p.InTeam(kAlice, 99));
}

TEST_CASE("decision: OnTheWay marks the folders above a grant", "[acl][decision]") {
  SECTION("a direct grant below makes every ancestor on the way, not the object itself, not other branches") {
    const PolicySnapshot p = Snapshot({ToUser(kB, kAlice, Mode::kRead)});
    CHECK(p.OnTheWay(kAlice, kA, kNow));
    CHECK(p.OnTheWay(kAlice, kRoot, kNow));
    CHECK_FALSE(p.OnTheWay(kAlice, kB, kNow));  // B itself is decided by its grant
    CHECK_FALSE(p.OnTheWay(kAlice, kC, kNow));
    CHECK_FALSE(p.OnTheWay(kAlice, kD, kNow));
    // Not for anyone else.
    CHECK_FALSE(p.OnTheWay(kBob, kA, kNow));
    CHECK_FALSE(p.OnTheWay(kUnknown, kA, kNow));
  }
  SECTION("a team grant below: on the way for its members only") {
    const PolicySnapshot p = Snapshot({ToTeam(kB, kT1, Mode::kView)});
    CHECK(p.OnTheWay(kAlice, kA, kNow));
    CHECK(p.OnTheWay(kBob, kA, kNow));
    CHECK(p.OnTheWay(kBob, kRoot, kNow));
    CHECK_FALSE(p.OnTheWay(kCarol, kA, kNow));
  }
  SECTION("a grant on a file: its folders are on the way") {
    const PolicySnapshot p = Snapshot({ToUser(kF, kAlice, Mode::kRead)});
    CHECK(p.OnTheWay(kAlice, kB, kNow));
    CHECK(p.OnTheWay(kAlice, kA, kNow));
    CHECK(p.OnTheWay(kAlice, kRoot, kNow));
  }
  SECTION("`none` grants do not make a way") {
    const PolicySnapshot p = Snapshot({ToUser(kB, kAlice, Mode::kNone), ToTeam(kD, kT1, Mode::kNone)});
    CHECK_FALSE(p.OnTheWay(kAlice, kA, kNow));
    CHECK_FALSE(p.OnTheWay(kAlice, kRoot, kNow));
    CHECK_FALSE(p.OnTheWay(kBob, kC, kNow));
  }
  SECTION("expired grants do not make a way; until == now still does") {
    const PolicySnapshot p =
        Snapshot({ToUser(kB, kAlice, Mode::kRead, kNow - 1), ToUser(kD, kBob, Mode::kRead, kNow)});
    CHECK_FALSE(p.OnTheWay(kAlice, kA, kNow));
    CHECK_FALSE(p.OnTheWay(kAlice, kRoot, kNow));
    CHECK(p.OnTheWay(kBob, kC, kNow));
    CHECK_FALSE(p.OnTheWay(kBob, kC, kNow + 1));
  }
  SECTION("self-given grants do not make a way") {
    const PolicySnapshot p =
        Snapshot({ToUser(kB, kAlice, Mode::kRead, std::nullopt, kAlice), ToTeam(kD, kT1, Mode::kRead, std::nullopt, kBob)});
    CHECK_FALSE(p.OnTheWay(kAlice, kA, kNow));
    CHECK_FALSE(p.OnTheWay(kBob, kC, kNow));   // bob gave t1 its grant himself
    CHECK(p.OnTheWay(kAlice, kC, kNow));       // alice is in t1 and did not
  }
  SECTION("a label alone makes no way") {
    const PolicySnapshot p = Snapshot({}, {LabelOn(kB, 3)});
    CHECK_FALSE(p.OnTheWay(kAlice, kA, kNow));
    CHECK_FALSE(p.OnTheWay(kCarol, kRoot, kNow));
  }
  SECTION("a grant on the root puts nothing on the way") {
    const PolicySnapshot p = Snapshot({ToUser(kRoot, kAlice, Mode::kRead)});
    CHECK_FALSE(p.OnTheWay(kAlice, kRoot, kNow));
    CHECK_FALSE(p.OnTheWay(kAlice, kA, kNow));
  }
}

TEST_CASE("decision: PolicyBelow and HasLeafPolicy", "[acl][decision]") {
  SECTION("nothing") {
    const PolicySnapshot p = Snapshot({});
    CHECK_FALSE(p.PolicyBelow(kRoot));
    CHECK_FALSE(p.PolicyBelow(kA));
    CHECK_FALSE(p.HasLeafPolicy());
    CHECK_FALSE(p.HasPolicy(kA));
  }
  SECTION("a grant on a folder: policy below its ancestors, no leaf policy") {
    const PolicySnapshot p = Snapshot({ToUser(kB, kAlice, Mode::kRead)});
    CHECK(p.PolicyBelow(kA));
    CHECK(p.PolicyBelow(kRoot));
    CHECK_FALSE(p.PolicyBelow(kB));
    CHECK_FALSE(p.PolicyBelow(kC));
    CHECK_FALSE(p.HasLeafPolicy());
    CHECK(p.HasPolicy(kB));
    CHECK_FALSE(p.HasPolicy(kA));
    CHECK(p.GrantsOn(kB).size() == 1);
    CHECK(p.GrantsOn(kA).empty());
  }
  SECTION("`none` and expired grants still count as policy below") {
    const PolicySnapshot p = Snapshot({ToUser(kB, kAlice, Mode::kNone), ToUser(kD, kAlice, Mode::kRead, kNow - 5)});
    CHECK(p.PolicyBelow(kA));
    CHECK(p.PolicyBelow(kC));
  }
  SECTION("a label counts as policy below") {
    const PolicySnapshot p = Snapshot({}, {LabelOn(kD, 2)});
    CHECK(p.PolicyBelow(kC));
    CHECK(p.PolicyBelow(kRoot));
    CHECK_FALSE(p.PolicyBelow(kA));
    CHECK(p.HasPolicy(kD));
    CHECK_FALSE(p.HasLeafPolicy());
  }
  SECTION("a grant on a file is leaf policy") {
    const PolicySnapshot p = Snapshot({ToUser(kF, kAlice, Mode::kRead)});
    CHECK(p.HasLeafPolicy());
    CHECK(p.PolicyBelow(kB));
  }
  SECTION("a grant on a symlink is leaf policy") {
    const PolicySnapshot p = Snapshot({ToTeam(kL, kT1, Mode::kNone)});
    CHECK(p.HasLeafPolicy());
  }
  SECTION("a label on a file is leaf policy") {
    const PolicySnapshot p = Snapshot({}, {LabelOn(kF, 2)});
    CHECK(p.HasLeafPolicy());
  }
  SECTION("policy on an object the tree does not know is skipped") {
    const PolicySnapshot p = Snapshot({ToUser(Id(200), kAlice, Mode::kRead)});
    CHECK_FALSE(p.HasLeafPolicy());
    CHECK_FALSE(p.PolicyBelow(kRoot));
  }
}

TEST_CASE("decision: a parent chain that loops does not hang the snapshot", "[acl][decision]") {
  // x and y are each other's parent and never reach a root.
  const ObjectId x = Id(100), y = Id(101);
  ObjectInfoFn loop = [&](const ObjectId& id) -> std::optional<ObjectInfo> {
    if (id == x) return ObjectInfo{y, ObjectKind::kDirectory, false};
    if (id == y) return ObjectInfo{x, ObjectKind::kDirectory, false};
    return std::nullopt;
  };
  PolicyData d = BaseData();
  d.grants = {ToUser(x, kAlice, Mode::kRead)};
  const PolicySnapshot p(std::move(d), loop, 1);
  CHECK(p.PolicyBelow(y));
  CHECK(p.OnTheWay(kAlice, y, kNow));
}

TEST_CASE("decision: NextExpiry is the earliest until not yet passed", "[acl][decision]") {
  SECTION("no expiring grants") {
    CHECK_FALSE(Snapshot({}).NextExpiry(kNow).has_value());
    CHECK_FALSE(Snapshot({ToUser(kA, kAlice, Mode::kRead)}).NextExpiry(kNow).has_value());
  }
  SECTION("the earliest future one; past ones are left out") {
    const PolicySnapshot p = Snapshot({ToUser(kA, kAlice, Mode::kRead, kNow - 5), ToUser(kB, kBob, Mode::kRead, kNow + 10),
                                       ToTeam(kC, kT1, Mode::kNone, kNow + 3), ToUser(kD, kAlice, Mode::kRead)});
    REQUIRE(p.NextExpiry(kNow).has_value());
    CHECK(*p.NextExpiry(kNow) == kNow + 3);
    CHECK(*p.NextExpiry(kNow + 4) == kNow + 10);
    CHECK_FALSE(p.NextExpiry(kNow + 11).has_value());
  }
  SECTION("a grant whose until is now still holds, so it still lies ahead") {
    const PolicySnapshot p = Snapshot({ToUser(kA, kAlice, Mode::kRead, kNow)});
    REQUIRE(p.NextExpiry(kNow).has_value());
    CHECK(*p.NextExpiry(kNow) == kNow);
    CHECK_FALSE(p.NextExpiry(kNow + 1).has_value());
  }
  SECTION("only expired grants") {
    CHECK_FALSE(Snapshot({ToUser(kA, kAlice, Mode::kRead, kNow - 1)}).NextExpiry(kNow).has_value());
  }
}

}  // namespace
}  // namespace strongroom::acl
