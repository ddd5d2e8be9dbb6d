// Copying a vault's encrypted tree as it is on disk (a backup): no key is
// needed and nothing is decrypted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "crypto/status.h"

namespace strongroom::fs {

struct BackupStats {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t bytes = 0;
};

// Copies the directory `src_dir` (a descriptor, O_PATH will do) to the new
// directory `dst` (it must not exist): files, directories and symlinks with
// their modes, owners and times; every file and directory synced. Anything
// else in the tree (which holds nothing else) is an integrity error.
// `progress`, if set, is called after each file.
Status CopyBackingTree(int src_dir, const std::string& dst, BackupStats* stats,
                       const std::function<void(const BackupStats&)>& progress = {});

}  // namespace strongroom::fs
