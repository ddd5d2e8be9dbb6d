// The policy model: users, teams, grants, labels, access requests and the
// viewer allow-list, and the storage interface that keeps them
// (PolicyStore). Grants and labels attach to stable object IDs
// (acl::ObjectId), never to path strings; user and team names, request
// reasons and viewer paths and labels are stored sealed (see SqliteStore's
// text key), so the store holds no plaintext name.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acl/store.h"

namespace strongroom::acl {

using Uid = uint32_t;
using Gid = uint32_t;
using TeamId = int64_t;
using Sha256Digest = std::array<uint8_t, 32>;
using Time = int64_t;  // seconds since the epoch, UTC

enum class Role : int { kStaff = 0, kAdmin = 1, kAuditor = 2 };
// Weakest to strongest; the order is used for comparisons.
enum class Mode : int { kNone = 0, kView = 1, kRead = 2, kWrite = 3, kManage = 4 };
enum class RequestState : int { kPending = 0, kApproved = 1, kDenied = 2 };

inline constexpr int kMinLevel = 1;
inline constexpr int kMaxLevel = 3;

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view text);
std::string_view ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view text);
std::string_view RequestStateName(RequestState state);

struct User {
  Uid uid = 0;
  std::string name;
  Role role = Role::kStaff;
  int clearance = 1;
  bool enabled = true;
  Time created_at = 0;
  std::optional<Uid> created_by;  // none for the bootstrap admin
};

struct Team {
  TeamId id = 0;
  std::string name;
  std::vector<Uid> members;
};

// Who a grant is for: one user or one team.
struct Subject {
  std::optional<Uid> user;
  std::optional<TeamId> team;
  bool operator==(const Subject&) const = default;
};

struct Grant {
  ObjectId object{};
  Subject subject;
  Mode mode = Mode::kNone;
  std::optional<Time> until;  // the last second at which it holds
  Uid granted_by = 0;
  Time granted_at = 0;

  bool ActiveAt(Time now) const { return !until || now <= *until; }
};

struct Label {
  ObjectId object{};
  int level = kMinLevel;
  Uid set_by = 0;
  Time set_at = 0;
};

struct AccessRequest {
  int64_t id = 0;
  ObjectId object{};
  Uid uid = 0;
  Mode mode = Mode::kRead;
  std::string reason;
  RequestState state = RequestState::kPending;
  Time created_at = 0;
  std::optional<Uid> decided_by;
  std::optional<Time> decided_at;
  std::string decision_reason;
};

// The system group that allow-listed viewer programs are installed setgid
// to (`init --viewer-group`, default strongroom-viewers). Known by its gid,
// like users by their uid; the name is kept for messages.
struct ViewerGroup {
  Gid gid = 0;
  std::string name;
};

// An allow-listed viewer program: a `view` file opens only from a program
// whose executable has one of these digests (PRODUCT.md, "View-only mode").
struct Viewer {
  int64_t id = 0;
  std::string path;    // the program's canonical path when it was added
  std::string label;   // what admins call it (--name; default: the file name)
  Sha256Digest sha256{};
  Uid added_by = 0;
  Time added_at = 0;
};

// Everything a decision needs, loaded at once.
struct PolicyData {
  std::vector<User> users;
  std::vector<Team> teams;
  std::vector<Grant> grants;
  std::vector<Label> labels;
  // Unset in a vault made before view-only mode, until the first viewer is
  // added.
  std::optional<ViewerGroup> viewer_group;
  std::vector<Viewer> viewers;
};

// A MAC over the whole of a policy (users, teams, grants, labels, the
// viewer group and the viewers), from the layer that holds the keys.
using PolicySealer = std::function<Blob(const PolicyData&)>;

// The policy half of the storage interface. Thread-safe. Changes are
// committed when the call returns. A PostgreSQL backend implements the same.
//
// With a sealer set, every change (and every deletion of objects that
// carried grants or labels) stores the sealer's MAC of the whole policy in
// the same transaction, and LoadPolicy checks it: a policy changed outside
// Strongroom (an edited, added or deleted row) loads as kIntegrity. A store
// that was never sealed (one migrated from schema 1) is sealed on load, but
// only while its policy is empty: a policy with no seal is refused.
class PolicyStore {
 public:
  virtual ~PolicyStore() = default;

  virtual void SetSealer(PolicySealer sealer) = 0;
  virtual Result<PolicyData> LoadPolicy() = 0;

  // kExists when the uid or the name is taken (uids are never reused:
  // users are disabled, never deleted).
  virtual Status AddUser(const User& user) = 0;
  // Updates role, clearance and enabled of the user with `user.uid`.
  virtual Status UpdateUser(const User& user) = 0;

  virtual Result<TeamId> AddTeam(const std::string& name, Time now) = 0;
  virtual Status AddTeamMember(TeamId team, Uid uid) = 0;
  virtual Status RemoveTeamMember(TeamId team, Uid uid) = 0;

  // Replaces the grant for (object, subject), if any.
  virtual Status PutGrant(const Grant& grant) = 0;
  // kNotFound when there was none.
  virtual Status DeleteGrant(const ObjectId& object, const Subject& subject) = 0;
  // Level 1 removes the label.
  virtual Status PutLabel(const Label& label) = 0;

  virtual Result<int64_t> AddRequest(const AccessRequest& request) = 0;
  virtual Result<AccessRequest> GetRequest(int64_t id) = 0;
  virtual Result<std::vector<AccessRequest>> ListRequests(bool pending_only) = 0;
  // Records the decision on a pending request; with `grant`, the grant is
  // stored in the same transaction. kExists when no longer pending.
  virtual Status DecideRequest(const AccessRequest& decided, const std::optional<Grant>& grant) = 0;

  // Sets the vault's viewer group (sealed like the rest of the policy).
  virtual Status SetViewerGroup(const ViewerGroup& group) = 0;
  // Adds a viewer, or replaces the one with the same path (a program
  // re-added after it changed gets its new digest). Returns its id.
  virtual Result<int64_t> PutViewer(const Viewer& viewer) = 0;
  // kNotFound when there is no viewer with that id.
  virtual Status RemoveViewer(int64_t id) = 0;
};

}  // namespace strongroom::acl
