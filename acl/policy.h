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
// `t` as ISO 8601 UTC, "2026-11-28T10:20:55Z" (what replies and records show).
std::string IsoUtc(Time t);

enum class Role : int { kStaff = 0, kAdmin = 1, kAuditor = 2 };
// Weakest to strongest; the order is used for comparisons.
enum class Mode : int { kNone = 0, kView = 1, kRead = 2, kWrite = 3, kManage = 4 };
enum class RequestState : int { kPending = 0, kApproved = 1, kDenied = 2 };
// A witnessed request: a destruction, or the early release of a retention
// hold (PRODUCT.md, "Witnessed destruction").
enum class WitnessedKind : int { kDestroy = 0, kRelease = 1 };
// pending -> executing (a destruction with enough witnesses) -> done;
// pending -> done (a release with enough witnesses); pending -> rejected
// (by a witness) or cancelled (by the requester).
enum class WitnessedState : int { kPending = 0, kExecuting = 1, kDone = 2, kRejected = 3, kCancelled = 4 };
// How far the destruction of one item got; each step is idempotent.
enum class ItemState : int {
  kListed = 0,        // frozen, nothing done yet
  kMeasured = 1,      // size and ciphertext hash recorded
  kKeyDestroyed = 2,  // wrapped data key deleted, WAL checkpointed, cached keys wiped
  kOverwritten = 3,   // ciphertext overwritten with zeros and synced
  kRemoved = 4,       // name removed and the row deleted (folders: removed)
  kKept = 5,          // a folder that was not empty and was left in place
};

inline constexpr int kMinLevel = 1;
inline constexpr int kMaxLevel = 3;

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view text);
std::string_view ModeName(Mode mode);
std::optional<Mode> ParseMode(std::string_view text);
std::string_view RequestStateName(RequestState state);
std::string_view WitnessedKindName(WitnessedKind kind);
std::string_view WitnessedStateName(WitnessedState state);
std::string_view ItemStateName(ItemState state);

// The most witnesses `config set witnesses N` may ask for.
inline constexpr int kMaxWitnesses = 16;

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

// A retention hold: no ordinary delete, overwrite, truncation or move of
// the object or anything below it until `until` (the last second it holds).
struct Hold {
  ObjectId object{};
  Time until = 0;
  Uid set_by = 0;
  Time set_at = 0;
  bool ActiveAt(Time now) const { return now <= until; }
};

// One object of a destruction request: a requested path, or a file, symlink
// or folder found below a requested folder when the request was made.
struct DestructionItem {
  int64_t seq = 0;   // 0, 1, 2, ... within the request
  int64_t root = 0;  // the seq of the requested item it was found under (itself when requested)
  ObjectId object{};
  ObjectKind kind = ObjectKind::kFile;
  std::string path;  // vault path (when requested; updated when measured)
  std::optional<uint64_t> ciphertext_size;
  Blob sha256;  // of the ciphertext, once measured
  ItemState state = ItemState::kListed;
  bool requested() const { return root == seq; }
};

struct Witness {
  Uid uid = 0;
  Time at = 0;
};

// A witnessed request (destruction or early release) and, once executed,
// its certificate.
struct Destruction {
  int64_t id = 0;
  WitnessedKind kind = WitnessedKind::kDestroy;
  Uid uid = 0;  // the requester
  std::string reason;
  WitnessedState state = WitnessedState::kPending;
  int witnesses_needed = 1;
  Time created_at = 0;
  std::optional<Time> approved_at;
  std::optional<Time> completed_at;
  std::optional<Uid> closed_by;  // who rejected or cancelled it
  std::string close_reason;
  std::optional<Time> hold_until;  // a release: the hold's date when asked
  std::string certificate;         // canonical JSON, once executed
  Blob certificate_mac;
  std::vector<DestructionItem> items;  // filled by GetDestruction(id, true)
  int64_t item_count = 0;
  std::vector<Witness> witnesses;
  bool open() const { return state == WitnessedState::kPending || state == WitnessedState::kExecuting; }
};

// An object frozen by an open destruction request (a requested path: what
// is below it is frozen through it).
struct Freeze {
  ObjectId object{};
  int64_t request = 0;
  bool executing = false;
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
  std::vector<Hold> holds;
  std::vector<Freeze> frozen;
  int witnesses_needed = 1;  // `config set witnesses`
  // SHA-256 over the stored rows of the retention and destruction tables
  // (holds, destructions, their items and witnesses) and the witnesses
  // setting, as stored (sealed text included): what the seal covers of
  // them. Empty when there is none of them, so a policy without them
  // seals as before.
  Blob witnessed_digest;
};


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

  // Seals with `sealer` from now on; returns the one it replaces.
  virtual PolicySealer SetSealer(PolicySealer sealer) = 0;
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

  // Retention holds. PutHold adds or replaces the hold on its object;
  // DeleteHold is kNotFound when there is none.
  virtual Status PutHold(const Hold& hold) = 0;
  virtual Status DeleteHold(const ObjectId& object) = 0;
  // How many distinct witnesses a new witnessed request needs (1..16).
  virtual Status SetWitnessesNeeded(int n) = 0;

  // A new witnessed request with its items (seq and root as given); paths
  // and the reason are sealed to its ID. Returns the ID (never reused).
  virtual Result<int64_t> AddDestruction(const Destruction& d) = 0;
  // kNotFound when there is none; items only when asked for.
  virtual Result<Destruction> GetDestruction(int64_t id, bool with_items) = 0;
  // Every request (items not filled, item_count is), or only open ones.
  virtual Result<std::vector<Destruction>> ListDestructions(bool open_only) = 0;
  // Records a witness on a pending request and moves it to `then`: kPending
  // (more witnesses needed), kExecuting (a destruction approved) or kDone
  // (a release approved: the hold on `drop_hold` goes in the same
  // transaction). kExists when that user already witnessed it or it is no
  // longer pending.
  virtual Status AddWitness(int64_t id, const Witness& witness, WitnessedState then,
                            const std::optional<ObjectId>& drop_hold) = 0;
  // Rejects or cancels a pending request. kExists when no longer pending.
  virtual Status CloseDestruction(int64_t id, WitnessedState state, Uid by, Time at, const std::string& reason) = 0;
  // Records the progress of items (state, size, hash, path) of an executing
  // request, in one transaction.
  virtual Status UpdateDestructionItems(int64_t id, const std::vector<DestructionItem>& items) = 0;
  // Stores the certificate (canonical JSON, sealed) and its MAC; the request
  // stays executing until MarkDestructionDone (once the certificate's digest
  // is in the audit log).
  virtual Status StoreCertificate(int64_t id, const std::string& certificate, const Blob& mac, Time completed_at) = 0;
  virtual Status MarkDestructionDone(int64_t id) = 0;
};

}  // namespace strongroom::acl
