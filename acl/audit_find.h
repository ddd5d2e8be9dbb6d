// Finding audit records by their operation without any vault key: the
// operation is stored in the clear (and chained), so an auditor can look up
// the record that seals a destruction certificate's digest and check that
// it lies in a chain `audit verify` accepted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crypto/status.h"

namespace strongroom::acl {

// The seq numbers of the records whose op is exactly `op`, in the live
// audit database at `db_path`, its sealed segments and the segments in
// `archive_dirs`, ascending. Read-only; works while the daemon has the log
// open. Records still only in the write-ahead file (for at most a moment
// while mounted, or until the next mount after a crash) are not seen.
Result<std::vector<uint64_t>> FindAuditRecordsByOp(const std::string& db_path, const std::string& op,
                                                   const std::vector<std::string>& archive_dirs = {});

}  // namespace strongroom::acl
