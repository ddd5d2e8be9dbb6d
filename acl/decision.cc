#include "acl/decision.h"

#include <algorithm>
#include <ctime>

namespace strongroom::acl {

std::string IsoUtc(Time t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kStaff: return "staff";
    case Role::kAdmin: return "admin";
    case Role::kAuditor: return "auditor";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view text) {
  for (Role r : {Role::kStaff, Role::kAdmin, Role::kAuditor}) {
    if (RoleName(r) == text) return r;
  }
  return std::nullopt;
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNone: return "none";
    case Mode::kView: return "view";
    case Mode::kRead: return "read";
    case Mode::kWrite: return "write";
    case Mode::kManage: return "manage";
  }
  return "?";
}

std::optional<Mode> ParseMode(std::string_view text) {
  for (Mode m : {Mode::kNone, Mode::kView, Mode::kRead, Mode::kWrite, Mode::kManage}) {
    if (ModeName(m) == text) return m;
  }
  return std::nullopt;
}

std::string_view RequestStateName(RequestState state) {
  switch (state) {
    case RequestState::kPending: return "pending";
    case RequestState::kApproved: return "approved";
    case RequestState::kDenied: return "denied";
  }
  return "?";
}

std::string_view WitnessedKindName(WitnessedKind kind) {
  switch (kind) {
    case WitnessedKind::kDestroy: return "destroy";
    case WitnessedKind::kRelease: return "release";
  }
  return "?";
}

std::string_view WitnessedStateName(WitnessedState state) {
  switch (state) {
    case WitnessedState::kPending: return "pending";
    case WitnessedState::kExecuting: return "executing";
    case WitnessedState::kDone: return "done";
    case WitnessedState::kRejected: return "rejected";
    case WitnessedState::kCancelled: return "cancelled";
  }
  return "?";
}

std::string_view ItemStateName(ItemState state) {
  switch (state) {
    case ItemState::kListed: return "frozen";
    case ItemState::kMeasured: return "measured";
    case ItemState::kKeyDestroyed: return "key destroyed";
    case ItemState::kOverwritten: return "overwritten";
    case ItemState::kRemoved: return "destroyed";
    case ItemState::kKept: return "kept (not empty)";
  }
  return "?";
}

PolicySnapshot::PolicySnapshot(PolicyData data, const ObjectInfoFn& info, uint64_t generation)
    : data_(std::move(data)), generation_(generation) {
  for (const User& u : data_.users) users_[u.uid] = &u;
  for (const Team& t : data_.teams) {
    teams_[t.id] = &t;
    members_[t.id] = std::unordered_set<Uid>(t.members.begin(), t.members.end());
  }
  for (const Grant& g : data_.grants) grants_[g.object].push_back(&g);
  for (const Viewer& v : data_.viewers) viewers_.emplace(v.sha256, &v);
  for (const Label& l : data_.labels) {
    if (l.level > kMinLevel) labels_[l.object] = l.level;
  }
  // The folders above every object carrying policy, and for each the users
  // it is on the way for. Bounded walks: a damaged parent chain cannot loop
  // forever.
  std::unordered_map<ObjectId, std::vector<const Grant*>, ObjectIdHash> carriers;
  for (const Grant& g : data_.grants) carriers[g.object].push_back(&g);
  for (const auto& [id, level] : labels_) carriers.try_emplace(id);
  // Holds and freezes: on a file, decisions need its own ID.
  for (const Hold& h : data_.holds) holds_[h.object] = &h;
  for (const Freeze& f : data_.frozen) frozen_.try_emplace(f.object, &f);
  for (const auto& [id, h] : holds_) {
    auto self = info(id);
    if (self && self->kind != ObjectKind::kDirectory) leaf_policy_ = true;
  }
  for (const auto& [id, f] : frozen_) {
    auto self = info(id);
    if (self && self->kind != ObjectKind::kDirectory) leaf_policy_ = true;
  }
  for (const auto& [id, grants] : carriers) {
    auto self = info(id);
    if (!self) continue;
    if (self->kind != ObjectKind::kDirectory) leaf_policy_ = true;
    if (self->root) continue;
    // Who these grants lead: each user a grant other than `none` is for.
    std::vector<Way> ways;
    for (const Grant* g : grants) {
      if (g->mode == Mode::kNone) continue;
      auto add = [&](Uid uid) {
        if (uid != g->granted_by) ways.push_back({uid, g->until});
      };
      if (g->subject.user) {
        add(*g->subject.user);
      } else if (const Team* t = FindTeam(*g->subject.team)) {
        for (Uid uid : t->members) add(uid);
      }
    }
    ObjectId up = self->parent;
    for (int depth = 0; depth < 4096; ++depth) {
      ancestors_.insert(up);
      if (!ways.empty()) {
        auto& here = ways_[up];
        for (const Way& w : ways) {
          auto it = std::find_if(here.begin(), here.end(), [&](const Way& x) { return x.uid == w.uid; });
          if (it == here.end()) {
            here.push_back(w);
          } else if (it->until && (!w.until || *w.until > *it->until)) {
            it->until = w.until;  // the latest end wins
          }
        }
      }
      auto parent = info(up);
      if (!parent || parent->root) break;
      up = parent->parent;
    }
  }
}

const User* PolicySnapshot::FindUser(Uid uid) const {
  auto it = users_.find(uid);
  return it == users_.end() ? nullptr : it->second;
}

const Viewer* PolicySnapshot::FindViewer(const Sha256Digest& sha256) const {
  auto it = viewers_.find(sha256);
  return it == viewers_.end() ? nullptr : it->second;
}

const Viewer* PolicySnapshot::FindViewerByPath(std::string_view path) const {
  for (const Viewer& v : data_.viewers) {
    if (v.path == path) return &v;
  }
  return nullptr;
}

const User* PolicySnapshot::FindUserByName(std::string_view name) const {
  for (const User& u : data_.users) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

const Team* PolicySnapshot::FindTeam(TeamId id) const {
  auto it = teams_.find(id);
  return it == teams_.end() ? nullptr : it->second;
}

const Team* PolicySnapshot::FindTeamByName(std::string_view name) const {
  for (const Team& t : data_.teams) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool PolicySnapshot::InTeam(Uid uid, TeamId team) const {
  auto it = members_.find(team);
  return it != members_.end() && it->second.count(uid) != 0;
}

bool PolicySnapshot::Applies(const Grant& grant, Uid uid) const {
  if (grant.subject.user) return *grant.subject.user == uid;
  return grant.subject.team && InTeam(uid, *grant.subject.team);
}

int PolicySnapshot::LabelOn(const ObjectId& id) const {
  auto it = labels_.find(id);
  return it == labels_.end() ? kMinLevel : it->second;
}

int PolicySnapshot::LevelOf(std::span<const ObjectId> chain) const {
  int level = kMinLevel;
  if (labels_.empty()) return level;
  for (const ObjectId& id : chain) level = std::max(level, LabelOn(id));
  return level;
}

Decision PolicySnapshot::Decide(Uid uid, std::span<const ObjectId> chain, Time now) const {
  Decision d;
  const User* user = FindUser(uid);
  if (user == nullptr) return d;
  d.clearance = user->clearance;
  d.level = LevelOf(chain);
  if (!user->enabled) {
    d.why = Decision::Why::kDisabled;
    return d;
  }
  d.why = Decision::Why::kNoGrant;
  for (size_t i = 0; i < chain.size(); ++i) {
    auto it = grants_.find(chain[i]);
    if (it == grants_.end()) continue;
    const Grant* direct = nullptr;
    const Grant* team_none = nullptr;
    const Grant* strongest = nullptr;
    for (const Grant* g : it->second) {
      if (!g->ActiveAt(now) || g->granted_by == uid || !Applies(*g, uid)) continue;
      if (g->subject.user) {
        direct = g;
      } else if (g->mode == Mode::kNone) {
        team_none = g;
      } else if (strongest == nullptr || g->mode > strongest->mode) {
        strongest = g;
      }
    }
    const Grant* decided = direct != nullptr ? direct : team_none != nullptr ? team_none : strongest;
    if (decided == nullptr) continue;
    d.grant = decided;
    d.depth = i;
    d.mode = decided->mode;
    d.why = direct != nullptr      ? Decision::Why::kUserGrant
            : team_none != nullptr ? Decision::Why::kTeamNone
                                   : Decision::Why::kTeamGrant;
    return d;
  }
  return d;
}

bool PolicySnapshot::OnTheWay(Uid uid, const ObjectId& dir, Time now) const {
  auto it = ways_.find(dir);
  if (it == ways_.end()) return false;
  for (const Way& w : it->second) {
    if (w.uid == uid) return !w.until || now <= *w.until;
  }
  return false;
}

std::vector<const Grant*> PolicySnapshot::GrantsOn(const ObjectId& id) const {
  auto it = grants_.find(id);
  return it == grants_.end() ? std::vector<const Grant*>{} : it->second;
}

std::optional<Protection> PolicySnapshot::ProtectionOf(std::span<const ObjectId> chain, Time now, bool holds,
                                                       bool frozen) const {
  if (!HasProtections()) return std::nullopt;
  for (const ObjectId& id : chain) {
    if (frozen) {
      auto f = frozen_.find(id);
      if (f != frozen_.end()) {
        Protection p;
        p.kind = Protection::Kind::kFrozen;
        p.object = id;
        p.request = f->second->request;
        p.executing = f->second->executing;
        return p;
      }
    }
    if (holds) {
      auto h = holds_.find(id);
      if (h != holds_.end() && h->second->ActiveAt(now)) {
        Protection p;
        p.kind = Protection::Kind::kHold;
        p.object = id;
        p.until = h->second->until;
        return p;
      }
    }
  }
  return std::nullopt;
}

const Hold* PolicySnapshot::HoldOn(const ObjectId& id) const {
  auto it = holds_.find(id);
  return it == holds_.end() ? nullptr : it->second;
}

std::optional<Time> PolicySnapshot::NextExpiry(Time now) const {
  std::optional<Time> next;
  for (const Grant& g : data_.grants) {
    if (g.until && *g.until >= now && (!next || *g.until < *next)) next = *g.until;
  }
  return next;
}

}  // namespace strongroom::acl
