// Names and encodings inside the backing tree shared by the VaultFs sources.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "acl/policy.h"
#include "acl/store.h"
#include "crypto/names.h"
#include "crypto/primitives.h"

namespace strongroom::fs {

// Every backing directory holds its 16-byte directory ID in this file; the
// dot keeps it apart from encrypted names (base64url has no dot).
inline constexpr char kDirIdName[] = ".dirid";

// A backing symlink's target: base64url(object ID || AES-SIV(target)), with
// "strongroom/v1/symlink" || object ID as associated data. The ID ties the
// symlink to its row (and so to its place), like a file's header does.
inline constexpr size_t kMaxSymlinkTarget = (4095 / 4) * 3 - 16 - crypto::siv::kTagSize;

std::optional<std::string> EncodeSymlinkTarget(const crypto::SecretKey& names_key, const acl::ObjectId& id,
                                               std::string_view target);
std::optional<acl::ObjectId> SymlinkObjectId(std::string_view backing_target);
std::optional<std::string> DecodeSymlinkTarget(const crypto::SecretKey& names_key,
                                               std::string_view backing_target);

// The MAC that authenticates a row of the objects table: HMAC-SHA256 under
// the vault's row key over id, kind, place, previous place and the unlinked
// mark (the wrapped key has its own authentication, bound to the id).
acl::Blob ObjectRowMac(const crypto::SecretKey& key, const acl::ObjectRow& row);
// The place of `name` in the directory `dir`: the directory's ID and the
// name's tag, HMAC-SHA256(binding key, dir ID || name) (format.md §8.2).
acl::Place PlaceFor(const crypto::SecretKey& binding, const crypto::DirId& dir, std::string_view name);
// The MAC sealing a whole policy (users, teams, members, grants, labels,
// the viewer group and the viewers), over a canonical encoding (sorted,
// length-prefixed), keyed like row MACs.
acl::Blob PolicyMac(const crypto::SecretKey& key, const acl::PolicyData& policy);
// A sealer for PolicyStore::SetSealer, holding its own copy of the key.
acl::PolicySealer PolicySealerFor(const crypto::SecretKey& key);

// An OS error, with errno captured at once.
inline Status Errno(const char* what) { return Status::Io(errno, what); }

// Gives the unnamed file `fd` (O_TMPFILE) the name `name` in `dir_fd`;
// EEXIST when the name is taken. -1 with errno on failure.
int LinkUnnamed(int fd, int dir_fd, const std::string& name);
// Writes the directory ID file of the backing directory `dir_fd`: it
// appears whole (written unnamed, then linked), or, where the backing
// filesystem has no O_TMPFILE, is created and then written.
Status WriteDirId(int dir_fd, const crypto::DirId& id);

inline acl::ObjectKind KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return acl::ObjectKind::kDirectory;
  if (S_ISLNK(mode)) return acl::ObjectKind::kSymlink;
  return acl::ObjectKind::kFile;
}

}  // namespace strongroom::fs
