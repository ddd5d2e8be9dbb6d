// Decisions: what a user may do with an object, from an in-memory snapshot
// of the policy (PolicySnapshot), so that no decision queries the store.
//
// The rule (PRODUCT.md, "Identity, grants and decisions"): walk up from the
// object to the nearest object carrying any grant that applies to the user.
// There, a grant to the user directly decides; otherwise `none` on any of
// the user's teams denies, and else the strongest team grant decides.
// Expired grants act as absent, and so does a grant to the user (or to a
// team of theirs) that they gave themselves: nobody grants access to
// themselves. An object's level is the highest label on its path (1 if
// none); the user's clearance must be at least that level. Unknown and
// disabled users get nothing.
#pragma once

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "acl/policy.h"

namespace strongroom::acl {

struct ObjectIdHash {
  size_t operator()(const ObjectId& id) const {
    size_t v;
    std::memcpy(&v, id.data(), sizeof v);
    return v;
  }
};

struct Decision {
  enum class Why {
    kUnknownUser,  // no such user
    kDisabled,     // the user is disabled
    kNoGrant,      // no grant applies anywhere on the path
    kUserGrant,    // a grant to the user decided
    kTeamNone,     // `none` on one of the user's teams denied
    kTeamGrant,    // the strongest team grant decided
  };
  Why why = Why::kUnknownUser;
  Mode mode = Mode::kNone;  // what the grants give, before clearance
  int level = kMinLevel;
  int clearance = 0;
  const Grant* grant = nullptr;  // the deciding grant, when one did
  size_t depth = 0;              // where in the chain it was found (0 = the object)

  bool known() const { return why != Why::kUnknownUser && why != Why::kDisabled; }
  bool cleared() const { return clearance >= level; }
  // What the user may actually do: grants, then clearance.
  Mode effective() const { return known() && cleared() ? mode : Mode::kNone; }
};

// Why a change to an object is refused whoever asks: a retention hold on it
// or a folder above it, or an open destruction request that froze it.
struct Protection {
  enum class Kind { kHold, kFrozen };
  Kind kind = Kind::kHold;
  ObjectId object{};     // where the hold or the request's path is
  Time until = 0;        // a hold's last second
  int64_t request = 0;   // the destruction request that froze it
  bool executing = false;  // that request is being executed
};

// Where an object lives, for the index of folders on the way to grants.
struct ObjectInfo {
  ObjectId parent{};
  ObjectKind kind = ObjectKind::kFile;
  bool root = false;
};
using ObjectInfoFn = std::function<std::optional<ObjectInfo>(const ObjectId&)>;

class PolicySnapshot {
 public:
  // `info` is asked about objects carrying policy and their ancestors.
  PolicySnapshot(PolicyData data, const ObjectInfoFn& info, uint64_t generation);

  uint64_t generation() const { return generation_; }
  const PolicyData& data() const { return data_; }

  const User* FindUser(Uid uid) const;
  const User* FindUserByName(std::string_view name) const;
  const Team* FindTeam(TeamId id) const;
  const Team* FindTeamByName(std::string_view name) const;
  bool InTeam(Uid uid, TeamId team) const;
  bool Applies(const Grant& grant, Uid uid) const;

  // `chain` is the object followed by its ancestors, the root last.
  Decision Decide(Uid uid, std::span<const ObjectId> chain, Time now) const;
  int LevelOf(std::span<const ObjectId> chain) const;
  int LabelOn(const ObjectId& id) const;

  // True when a grant other than `none` to the user (or a team of theirs)
  // is attached somewhere below `dir`: the folder is on their way to it.
  bool OnTheWay(Uid uid, const ObjectId& dir, Time now) const;
  // True when some object below `dir` carries policy: its children may be
  // decided differently from `dir` itself.
  bool PolicyBelow(const ObjectId& dir) const { return ancestors_.count(dir) != 0; }
  // True when some file or symlink carries policy (their IDs are needed).
  bool HasLeafPolicy() const { return leaf_policy_; }
  // True when grants or a label are attached to the object.
  bool HasPolicy(const ObjectId& id) const { return grants_.count(id) != 0 || labels_.count(id) != 0; }
  std::vector<const Grant*> GrantsOn(const ObjectId& id) const;
  // The earliest expiry still ahead of `now`, if any.
  std::optional<Time> NextExpiry(Time now) const;

  // The vault's viewer group, if set.
  const std::optional<ViewerGroup>& viewer_group() const { return data_.viewer_group; }
  // The allow-listed viewer whose executable has this digest, if any.
  const Viewer* FindViewer(const Sha256Digest& sha256) const;
  // The allow-listed viewer added from this path, if any.
  const Viewer* FindViewerByPath(std::string_view path) const;

  // Whether anything is held or frozen at all (a cheap test first).
  bool HasProtections() const { return !holds_.empty() || !frozen_.empty(); }
  // The first hold active at `now` (when `holds`) or freeze (when `frozen`)
  // on the chain, the object itself first; a freeze is reported before a
  // hold on the same object.
  std::optional<Protection> ProtectionOf(std::span<const ObjectId> chain, Time now, bool holds = true,
                                         bool frozen = true) const;
  const Hold* HoldOn(const ObjectId& id) const;
  int witnesses_needed() const { return data_.witnesses_needed; }

 private:
  PolicyData data_;
  uint64_t generation_;
  std::unordered_map<Uid, const User*> users_;
  std::unordered_map<TeamId, const Team*> teams_;
  std::unordered_map<TeamId, std::unordered_set<Uid>> members_;
  std::unordered_map<ObjectId, std::vector<const Grant*>, ObjectIdHash> grants_;
  std::unordered_map<ObjectId, int, ObjectIdHash> labels_;
  // Folders above objects carrying policy.
  std::unordered_set<ObjectId, ObjectIdHash> ancestors_;
  // Folder -> the users a grant other than `none` below it is for (through
  // their teams too; never the user who gave it), with the latest end.
  struct Way {
    Uid uid;
    std::optional<Time> until;  // none: no end
  };
  std::unordered_map<ObjectId, std::vector<Way>, ObjectIdHash> ways_;
  bool leaf_policy_ = false;
  struct DigestHash {
    size_t operator()(const Sha256Digest& d) const {
      size_t v;
      std::memcpy(&v, d.data(), sizeof v);
      return v;
    }
  };
  std::unordered_map<Sha256Digest, const Viewer*, DigestHash> viewers_;
  std::unordered_map<ObjectId, const Hold*, ObjectIdHash> holds_;
  std::unordered_map<ObjectId, const Freeze*, ObjectIdHash> frozen_;
};

// The snapshot in use, replaced as a whole when the policy changes; readers
// take a reference and keep it for their request.
class PolicyHolder {
 public:
  std::shared_ptr<const PolicySnapshot> Get() const { return snapshot_.load(); }
  void Set(std::shared_ptr<const PolicySnapshot> s) { snapshot_.store(std::move(s)); }

 private:
  std::atomic<std::shared_ptr<const PolicySnapshot>> snapshot_;
};

}  // namespace strongroom::acl
