// The audit log's write-ahead file (docs/audit.md, "Write-ahead file"):
// records are appended here, already sealed, tagged and chained, with one
// write() per group commit, before the call they record returns; a writer
// thread moves them into the indexed database in batches. After a crash the
// next open moves what the database lacks, and `audit verify` reads both.
//
// Pure encoding: no SQLite, no files. Holds nothing in plaintext that the
// database would not (text fields stay sealed, indexes stay keyed tags).
//
//   file   = "SRAHEAD1" entry* end [anything]
//   entry  = u32 length (big-endian) || body || first 8 bytes of SHA-256(body)
//   end    = u32 0 (the file is kept allocated beyond it, so that appends
//            overwrite blocks in place and a sync writes no metadata)
//   body   = crypto::audit::RecordBytes fields (without the label), the
//            32-byte link, then u32 count and the prefix tags (u32 length
//            || bytes each)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "crypto/audit_chain.h"
#include "crypto/primitives.h"

namespace strongroom::acl {

inline constexpr std::string_view kAheadMagic = "SRAHEAD1";

// One record as the database stores it.
struct AheadRecord {
  crypto::audit::RecordFields fields;
  crypto::audit::Link link{};
  std::vector<crypto::Bytes> prefix_tags;  // the path prefixes it is found under
};

// Appends `r`'s entry to `out`.
void AppendAheadEntry(const AheadRecord& r, std::string* out);

struct AheadParse {
  bool header_ok = false;        // false: not a write-ahead file (or empty)
  std::vector<AheadRecord> records;
  size_t good_bytes = 0;         // the header and the entries that parsed
  size_t damaged_bytes = 0;      // what follows them (a torn or edited tail)
};

// Parses a whole file; stops at the first entry that does not parse or whose
// checksum does not match (its link is checked by whoever holds the key).
AheadParse ParseAheadFile(crypto::ByteView file);

// The write-ahead file next to an audit database.
inline std::string AheadPathFor(const std::string& db_path) { return db_path + "-ahead"; }

}  // namespace strongroom::acl
