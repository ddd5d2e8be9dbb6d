// Tests that look at the backing directory (VAULT/tree, the store and its
// -wal/-shm, the config) directly: no plaintext anywhere, tampering reads as
// EIO, and symlinks or hard links planted in the backing tree are never
// followed or trusted.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

std::string LocateFile(const MountedVault& v, const std::string& backing_dir,
                       const std::string& rel, const std::string& content) {
  return Locate(backing_dir, [&] { WriteOrDie(v.Path(rel), content); });
}

std::string LocateDir(const MountedVault& v, const std::string& backing_dir,
                      const std::string& rel) {
  return Locate(backing_dir, [&] { REQUIRE(mkdir(v.Path(rel).c_str(), 0755) == 0); });
}

std::string ReadRaw(const std::string& path) {
  auto r = ReadFile(path);
  INFO("reading backing file " << path << ": " << strerror(r.err));
  REQUIRE(r.err == 0);
  return r.data;
}

void WriteRaw(const std::string& path, const std::string& data) {
  // Rewrites in place (keeps the inode, like an attacker editing the file).
  int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  REQUIRE(fd >= 0);
  REQUIRE(PWriteAll(fd, data, 0) == 0);
  REQUIRE(close(fd) == 0);
}

off_t FileSize(const std::string& path) { return StatOrDie(path).st_size; }

// Backing layout measured from files of known sizes.
struct Layout {
  size_t header = 0;    // file header bytes
  size_t overhead = 0;  // per-block bytes beyond the plaintext (nonce + tag)
  size_t block() const { return kBlockSize + overhead; }
  size_t BlockStart(size_t i) const { return header + i * block(); }
};

Layout MeasureLayout(MountedVault& v) {
  std::mt19937_64 rng(99);
  auto s1 = FileSize(LocateFile(v, v.tree(), "probe-1", RandomBytes(1, rng)));
  auto s4096 = FileSize(LocateFile(v, v.tree(), "probe-4096", RandomBytes(4096, rng)));
  auto s8192 = FileSize(LocateFile(v, v.tree(), "probe-8192", RandomBytes(8192, rng)));
  Layout l;
  l.overhead = static_cast<size_t>(s8192 - s4096) - 4096;
  l.header = static_cast<size_t>(s4096) - 4096 - l.overhead;
  INFO("backing sizes for 1, 4096, 8192 bytes: " << s1 << ", " << s4096 << ", " << s8192);
  REQUIRE(static_cast<size_t>(s1) == l.header + l.overhead + 1);
  // docs/cli-contract.md / issue 2: 20-byte header, 12-byte nonce + 16-byte tag.
  CHECK(l.header == 20);
  CHECK(l.overhead == 28);
  REQUIRE(l.overhead >= 16);
  for (const char* probe : {"probe-1", "probe-4096", "probe-8192"}) {
    REQUIRE(unlink(v.Path(probe).c_str()) == 0);
  }
  return l;
}

// Outcome of reading one plaintext block through the mount.
enum class BlockRead { kCorrect, kEio, kOtherError, kWrongData };

const char* Describe(BlockRead r) {
  switch (r) {
    case BlockRead::kCorrect:
      return "correct";
    case BlockRead::kEio:
      return "EIO";
    case BlockRead::kOtherError:
      return "other error";
    case BlockRead::kWrongData:
      return "WRONG DATA";
  }
  return "?";
}

// Reads every block of `path` (with pread, `first` first) and classifies it
// against the original plaintext.  If open() itself fails with EIO every
// block counts as EIO.
std::vector<BlockRead> ReadBlocks(const std::string& path, const std::string& original,
                                  std::string* notes, size_t first = 0) {
  size_t blocks = (original.size() + kBlockSize - 1) / kBlockSize;
  std::vector<BlockRead> result(blocks, BlockRead::kOtherError);
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    int err = errno;
    *notes += "open: " + std::string(strerror(err)) + "; ";
    std::fill(result.begin(), result.end(), err == EIO ? BlockRead::kEio : BlockRead::kOtherError);
    return result;
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < blocks; ++i) order.push_back((first + i) % blocks);
  for (size_t i : order) {
    errno = 0;
    char buf[kBlockSize];
    ssize_t n = pread(fd, buf, kBlockSize, static_cast<off_t>(i * kBlockSize));
    int err = errno;
    std::string want = original.substr(i * kBlockSize, kBlockSize);
    if (n < 0) {
      result[i] = err == EIO ? BlockRead::kEio : BlockRead::kOtherError;
      *notes += "block " + std::to_string(i) + ": " + strerror(err) + "; ";
    } else if (std::string(buf, static_cast<size_t>(n)) == want) {
      result[i] = BlockRead::kCorrect;
    } else {
      result[i] = BlockRead::kWrongData;
      *notes +=
          "block " + std::to_string(i) + ": " + std::to_string(n) + " bytes, not the original; ";
    }
  }
  close(fd);
  return result;
}

// Every block is correct or EIO (never wrong data), and each of `must_fail`
// is EIO.
void ExpectEio(const std::string& what, const std::string& path, const std::string& original,
               const std::vector<size_t>& must_fail) {
  std::string notes;
  auto blocks = ReadBlocks(path, original, &notes, must_fail.empty() ? 0 : must_fail[0]);
  std::string summary;
  for (size_t i = 0; i < blocks.size(); ++i) {
    summary += "block " + std::to_string(i) + " " + Describe(blocks[i]) + "; ";
  }
  INFO(what << ": " << summary << "\n  " << notes);
  bool never_wrong = std::all_of(blocks.begin(), blocks.end(), [](BlockRead b) {
    return b == BlockRead::kCorrect || b == BlockRead::kEio;
  });
  CHECK(never_wrong);
  bool tampered_fail = std::all_of(must_fail.begin(), must_fail.end(), [&](size_t i) {
    return i < blocks.size() && blocks[i] == BlockRead::kEio;
  });
  CHECK(tampered_fail);
  // A sequential reader must hit the error too, never a clean EOF.
  auto whole = ReadFile(path);
  INFO("sequential read: errno " << whole.err << " after " << whole.data.size() << " bytes");
  CHECK(whole.err == EIO);
  CHECK(original.compare(0, whole.data.size(), whole.data) == 0);
}

// All regular files, names and link targets below `root` that contain one of
// `markers` as raw bytes.
std::vector<std::string> FindMarkers(const std::string& root,
                                     const std::vector<std::string>& markers) {
  std::vector<std::string> found;
  size_t files = 0;
  std::function<void(const std::string&)> walk = [&](const std::string& dir) {
    auto entries = ListDir(dir);
    REQUIRE(entries);
    for (const auto& e : *entries) {
      std::string path = dir + "/" + e.name;
      for (const auto& m : markers) {
        if (e.name.find(m) != std::string::npos) found.push_back("name " + path + ": " + m);
      }
      struct stat st {};
      REQUIRE(lstat(path.c_str(), &st) == 0);
      std::string bytes;
      if (S_ISDIR(st.st_mode)) {
        walk(path);
        continue;
      } else if (S_ISLNK(st.st_mode)) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path.c_str(), buf, sizeof buf);
        REQUIRE(n >= 0);
        bytes.assign(buf, static_cast<size_t>(n));
      } else if (S_ISREG(st.st_mode)) {
        bytes = ReadRaw(path);
        ++files;
      }
      for (const auto& m : markers) {
        if (bytes.find(m) != std::string::npos) found.push_back("content " + path + ": " + m);
      }
      // Extended attributes on the backing files, too.
      char names[65536];
      ssize_t len = llistxattr(path.c_str(), names, sizeof names);
      for (ssize_t i = 0; len > 0 && i < len;) {
        std::string name(names + i);
        i += static_cast<ssize_t>(name.size()) + 1;
        char value[65536];
        ssize_t vlen = lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
        std::string all = name + std::string(value, vlen > 0 ? static_cast<size_t>(vlen) : 0);
        for (const auto& m : markers) {
          if (all.find(m) != std::string::npos) found.push_back("xattr " + path + ": " + m);
        }
      }
    }
  };
  walk(root);
  INFO("scanned " << files << " files");
  CHECK(files >= 3);  // at least config, store and some ciphertext
  return found;
}

// The 16-byte file ID in a backing file's header (after the 4-byte magic).
std::string FileId(const std::string& backing_path) {
  std::string raw = ReadRaw(backing_path);
  REQUIRE(raw.size() >= 20);
  return raw.substr(4, 16);
}

// Minimal access to the policy store (docs/format.md §8), only while the
// vault is not mounted (the daemon holds it in exclusive locking mode).
class Store {
 public:
  explicit Store(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr);
    INFO("sqlite3_open_v2(" << path << "): " << sqlite3_errstr(rc));
    REQUIRE(rc == SQLITE_OK);
  }
  ~Store() { sqlite3_close(db_); }
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `sql` with `id` bound to ?1; returns the first column of the first
  // row as bytes (nullopt if no row).
  std::optional<std::string> Query(const std::string& sql, const std::string& id,
                                   const std::optional<std::string>& blob2 = std::nullopt) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    INFO(sql << ": " << sqlite3_errmsg(db_));
    REQUIRE(rc == SQLITE_OK);
    sqlite3_bind_blob(stmt, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    if (blob2) {
      sqlite3_bind_blob(stmt, 2, blob2->data(), static_cast<int>(blob2->size()), SQLITE_TRANSIENT);
    }
    std::optional<std::string> result;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_count(stmt) > 0) {
      const char* p = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
      result = std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    }
    CHECK((rc == SQLITE_ROW || rc == SQLITE_DONE));
    sqlite3_finalize(stmt);
    return result;
  }
  int Changes() { return sqlite3_changes(db_); }

 private:
  sqlite3* db_ = nullptr;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("no plaintext marker from content or names anywhere in the vault", "[backing]") {
  MountedVault v;
  std::vector<std::string> markers;
  auto marker = [&] {
    markers.push_back("MARKER-" + RandomHex(8));
    return markers.back();
  };
  std::mt19937_64 rng(11);
  std::map<std::string, std::string> written;  // plaintext path -> content

  // Content: small, multi-block, straddling a block boundary.
  std::string small = marker();
  written["small"] = small;
  std::string big = RandomBytes(100000, rng);
  std::string m1 = marker(), m2 = marker();
  big.replace(5, m1.size(), m1);
  big.replace(4096 - 7, m2.size(), m2);
  big.replace(99000, m1.size(), m1);
  written["big"] = big;
  std::string repeated;
  std::string m3 = marker();
  while (repeated.size() < 20000) repeated += m3;
  written["repeated"] = repeated;
  // Names: files, long names (beyond the backing limit once encrypted),
  // directories at two levels, a file inside them.
  written["file-" + marker()] = "x";
  std::string long_name = "long-" + marker() + "-";
  long_name.resize(250, 'L');
  written[long_name] = "long";
  std::string d1 = "dir-" + marker();
  std::string d2 = d1 + "/sub-" + marker();
  std::string long_dir = "longdir-" + marker() + "-";
  long_dir.resize(240, 'D');
  REQUIRE_SYS(mkdir(v.Path(d1).c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path(d2).c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path(long_dir).c_str(), 0755));
  written[d2 + "/inner-" + marker()] = marker();
  written[long_dir + "/f-" + marker()] = marker();
  for (const auto& [rel, content] : written) WriteOrDie(v.Path(rel), content);
  // Symlink names and targets.
  std::string link_target = "target-" + marker();
  REQUIRE_SYS(symlink(link_target.c_str(), v.Path("link-" + marker()).c_str()));
  REQUIRE_SYS(symlink(("../" + marker()).c_str(), v.Path(d1 + "/l").c_str()));
  // Renamed: neither the old nor the new name may remain.
  std::string before = "before-" + marker();
  std::string after = "after-" + marker();
  WriteOrDie(v.Path(before), "renamed");
  REQUIRE_SYS(rename(v.Path(before).c_str(), v.Path(after).c_str()));
  std::string long_before = "longbefore-" + marker() + "-";
  long_before.resize(250, 'B');
  std::string long_after = "longafter-" + marker() + "-";
  long_after.resize(250, 'A');
  WriteOrDie(v.Path(long_before), "renamed-long");
  REQUIRE_SYS(rename(v.Path(long_before).c_str(), v.Path(long_after).c_str()));
  // Deleted and truncated content.
  std::string deleted = "deleted-" + marker();
  WriteOrDie(v.Path(deleted), marker());
  REQUIRE_SYS(unlink(v.Path(deleted).c_str()));
  WriteOrDie(v.Path("truncated"), marker() + marker());
  REQUIRE_SYS(truncate(v.Path("truncated").c_str(), 3));
  // Extended attributes, if supported.
  std::string xname = "user.x-" + marker();
  std::string xvalue = "value-" + marker();
  bool xattrs =
      setxattr(v.Path("small").c_str(), xname.c_str(), xvalue.data(), xvalue.size(), 0) == 0;
  if (!xattrs) CHECK(errno == ENOTSUP);

  // Everything reads back, then is flushed.
  for (const auto& [rel, content] : written) CHECK_BYTES(ReadOrDie(v.Path(rel)), content);
  CHECK(ReadOrDie(v.Path(after)) == "renamed");
  CHECK(ReadOrDie(v.Path(long_after)) == "renamed-long");
  for (const auto& [rel, content] : written) {
    int fd = OpenOrDie(v.Path(rel), O_RDONLY);
    CHECK_SYS(fsync(fd));
    close(fd);
  }
  sync();

  SECTION("while mounted") {
    auto found = FindMarkers(v.vault(), markers);
    INFO("markers found:\n"
         << [&] {
              std::string s;
              for (const auto& f : found) s += "  " + f + "\n";
              return s;
            }());
    CHECK(found.empty());
  }
  SECTION("after unmount") {
    v.Unmount();
    auto found = FindMarkers(v.vault(), markers);
    INFO("markers found:\n"
         << [&] {
              std::string s;
              for (const auto& f : found) s += "  " + f + "\n";
              return s;
            }());
    CHECK(found.empty());
    // And the data survived.
    v.Mount();
    for (const auto& [rel, content] : written) CHECK_BYTES(ReadOrDie(v.Path(rel)), content);
  }
  SECTION("the daemon's log") {
    std::string log = v.DaemonLog();
    for (const auto& m : markers) {
      INFO("marker " << m << " in the daemon log:\n" << log);
      CHECK_FALSE(Contains(log, m));
    }
  }
}

TEST_CASE("tampered ciphertext reads as EIO, never as wrong plaintext", "[backing]") {
  MountedVault v;
  const Layout l = MeasureLayout(v);
  std::mt19937_64 rng(12);
  const size_t kSize = 3 * kBlockSize + 1000;  // three full blocks and a partial one
  std::map<std::string, std::string> plain;
  std::map<std::string, std::string> backing;
  for (std::string name :
       {"control",      "flip-ciphertext", "flip-nonce",     "flip-tag",     "flip-last",
        "flip-file-id", "flip-magic",      "zero-block",     "zero-last",    "zero-all",
        "chop-tail",    "chop-partial",    "chop-full",      "swap-blocks",  "move-block",
        "block-donor",  "swap-a",          "swap-b",         "copy-over",    "copy-src",
        "mover",        "chop-mid-block",  "append-garbage", "append-block", "dup-final-block"}) {
    size_t size = name == "chop-full" ? 3 * kBlockSize : kSize;
    plain[name] = RandomBytes(size, rng);
    backing[name] = LocateFile(v, v.tree(), name, plain[name]);
  }
  const std::string d_backing = LocateDir(v, v.tree(), "d");
  plain["d/victim"] = RandomBytes(kSize, rng);
  backing["d/victim"] = LocateFile(v, d_backing, "d/victim", plain["d/victim"]);
  plain["chop-to-empty"] = RandomBytes(kSize, rng);
  backing["chop-to-empty"] = LocateFile(v, v.tree(), "chop-to-empty", plain["chop-to-empty"]);
  // Symlinks and directories are bound to their places too.
  std::map<std::string, std::string> link_backing;
  for (std::string name : {"sym-a", "sym-b", "sym-c"}) {
    link_backing[name] = Locate(v.tree(), [&] {
      REQUIRE(symlink(("target-of-" + name).c_str(), v.Path(name).c_str()) == 0);
    });
  }
  const std::string dir_c = LocateDir(v, v.tree(), "dir-c");
  const std::string dir_d = LocateDir(v, v.tree(), "dir-d");
  WriteOrDie(v.Path("dir-c/fc"), "content-c");
  WriteOrDie(v.Path("dir-d/fd"), "content-d");
  const std::string dir_a = LocateDir(v, v.tree(), "dir-a");
  const std::string dir_b = LocateDir(v, v.tree(), "dir-b");
  WriteOrDie(v.Path("dir-a/fa"), "content-a");
  WriteOrDie(v.Path("dir-b/fb"), "content-b");
  for (const auto& [name, path] : backing) {
    INFO(name << " backing size");
    size_t size = plain[name].size();
    size_t blocks = (size + kBlockSize - 1) / kBlockSize;
    REQUIRE(static_cast<size_t>(FileSize(path)) == l.header + blocks * l.overhead + size);
  }
  v.Unmount();

  auto edit = [&](const std::string& name, const std::function<void(std::string&)>& change) {
    std::string raw = ReadRaw(backing[name]);
    change(raw);
    WriteRaw(backing[name], raw);
  };
  auto flip = [&](const std::string& name, size_t off) {
    edit(name, [&](std::string& raw) {
      REQUIRE(off < raw.size());
      raw[off] = static_cast<char>(raw[off] ^ 0x01);
    });
  };
  auto zero = [&](const std::string& name, size_t off, size_t len) {
    edit(name, [&](std::string& raw) {
      REQUIRE(off + len <= raw.size());
      std::fill(raw.begin() + static_cast<long>(off), raw.begin() + static_cast<long>(off + len),
                '\0');
    });
  };
  const size_t full = l.block();
  const size_t last_len = 1000 + l.overhead;
  flip("flip-ciphertext", l.BlockStart(1) + full / 2);
  flip("flip-nonce", l.BlockStart(1));
  flip("flip-tag", l.BlockStart(1) + full - 1);
  flip("flip-last", l.BlockStart(3) + last_len - 1);
  flip("flip-file-id", l.header - 1);
  flip("flip-magic", 0);
  zero("zero-block", l.BlockStart(1), full);
  zero("zero-last", l.BlockStart(3), last_len);
  zero("zero-all", 0, l.BlockStart(3) + last_len);
  REQUIRE(truncate(backing["chop-tail"].c_str(), static_cast<off_t>(l.BlockStart(2))) == 0);
  REQUIRE(truncate(backing["chop-partial"].c_str(), static_cast<off_t>(l.BlockStart(3))) == 0);
  REQUIRE(truncate(backing["chop-full"].c_str(), static_cast<off_t>(l.BlockStart(2))) == 0);
  edit("swap-blocks", [&](std::string& raw) {
    std::string b0 = raw.substr(l.BlockStart(0), full);
    std::string b1 = raw.substr(l.BlockStart(1), full);
    raw.replace(l.BlockStart(0), full, b1);
    raw.replace(l.BlockStart(1), full, b0);
  });
  {
    std::string donor = ReadRaw(backing["block-donor"]);
    edit("move-block", [&](std::string& raw) {
      raw.replace(l.BlockStart(1), full, donor.substr(l.BlockStart(1), full));
    });
  }
  REQUIRE(renameat2(AT_FDCWD, backing["swap-a"].c_str(), AT_FDCWD, backing["swap-b"].c_str(),
                    RENAME_EXCHANGE) == 0);
  WriteRaw(backing["copy-over"], ReadRaw(backing["copy-src"]));
  REQUIRE(rename(backing["mover"].c_str(), backing["d/victim"].c_str()) == 0);
  REQUIRE(truncate(backing["chop-to-empty"].c_str(), static_cast<off_t>(l.header + l.overhead)) ==
          0);
  REQUIRE(renameat2(AT_FDCWD, link_backing["sym-a"].c_str(), AT_FDCWD,
                    link_backing["sym-b"].c_str(), RENAME_EXCHANGE) == 0);
  {
    // sym-c: its stored target replaced by another symlink's (valid) one.
    char buf[PATH_MAX];
    ssize_t n = readlink(link_backing["sym-a"].c_str(), buf, sizeof buf);
    REQUIRE(n > 0);
    REQUIRE(unlink(link_backing["sym-c"].c_str()) == 0);
    REQUIRE(symlink(std::string(buf, static_cast<size_t>(n)).c_str(),
                    link_backing["sym-c"].c_str()) == 0);
  }
  REQUIRE(renameat2(AT_FDCWD, dir_a.c_str(), AT_FDCWD, dir_b.c_str(), RENAME_EXCHANGE) == 0);
  // dir-c's ID replaced by dir-d's.
  WriteRaw(dir_c + "/.dirid", ReadRaw(dir_d + "/.dirid"));
  // Cut inside the final block's tag; extra bytes; an extra block; the final
  // block repeated one position further.
  REQUIRE(truncate(backing["chop-mid-block"].c_str(),
                   static_cast<off_t>(l.BlockStart(3) + last_len - 10)) == 0);
  edit("append-garbage", [&](std::string& raw) { raw += std::string(10, 'G'); });
  edit("append-block", [&](std::string& raw) { raw += raw.substr(l.BlockStart(1), full); });
  edit("dup-final-block", [&](std::string& raw) { raw += raw.substr(l.BlockStart(3), last_len); });
  const size_t log_before = v.DaemonLog().size();

  v.Mount();
  CHECK_BYTES(ReadOrDie(v.Path("control")), plain["control"]);
  ExpectEio("flipped ciphertext byte", v.Path("flip-ciphertext"), plain["flip-ciphertext"], {1});
  ExpectEio("flipped nonce byte", v.Path("flip-nonce"), plain["flip-nonce"], {1});
  ExpectEio("flipped tag byte", v.Path("flip-tag"), plain["flip-tag"], {1});
  ExpectEio("flipped byte in the partial last block", v.Path("flip-last"), plain["flip-last"], {3});
  ExpectEio("flipped file ID byte", v.Path("flip-file-id"), plain["flip-file-id"], {0, 1, 2, 3});
  ExpectEio("flipped magic byte", v.Path("flip-magic"), plain["flip-magic"], {0, 1, 2, 3});
  ExpectEio("zeroed block", v.Path("zero-block"), plain["zero-block"], {1});
  ExpectEio("zeroed last block", v.Path("zero-last"), plain["zero-last"], {3});
  ExpectEio("zeroed file", v.Path("zero-all"), plain["zero-all"], {0, 1, 2, 3});
  // A chopped file may look shorter, but its new last block must not verify.
  ExpectEio("tail chopped at a block boundary", v.Path("chop-tail"),
            plain["chop-tail"].substr(0, 2 * kBlockSize), {1});
  ExpectEio("partial last block chopped", v.Path("chop-partial"),
            plain["chop-partial"].substr(0, 3 * kBlockSize), {2});
  ExpectEio("last full block chopped", v.Path("chop-full"),
            plain["chop-full"].substr(0, 2 * kBlockSize), {1});
  ExpectEio("two blocks swapped", v.Path("swap-blocks"), plain["swap-blocks"], {0, 1});
  ExpectEio("block copied from another file", v.Path("move-block"), plain["move-block"], {1});
  ExpectEio("whole files swapped (a)", v.Path("swap-a"), plain["swap-a"], {0, 1, 2, 3});
  ExpectEio("whole files swapped (b)", v.Path("swap-b"), plain["swap-b"], {0, 1, 2, 3});
  ExpectEio("another file's ciphertext copied over", v.Path("copy-over"), plain["copy-over"],
            {0, 1, 2, 3});
  ExpectEio("ciphertext moved into another directory", v.Path("d/victim"), plain["d/victim"],
            {0, 1, 2, 3});
  CHECK_ERRNO(access(v.Path("mover").c_str(), F_OK), ENOENT);
  {
    auto r = ReadFile(v.Path("chop-to-empty"));
    INFO("file cut to header + one empty block: errno " << r.err << ", " << r.data.size()
                                                        << " bytes");
    CHECK(r.err == EIO);
  }
  for (const char* name : {"sym-a", "sym-b", "sym-c"}) {
    INFO("readlink " << name);
    char buf[PATH_MAX];
    errno = 0;
    ssize_t n = readlink(v.Path(name).c_str(), buf, sizeof buf);
    int err = errno;
    INFO("returned " << (n >= 0 ? std::string(buf, static_cast<size_t>(n)) : strerror(err)));
    CHECK(n == -1);
    CHECK(err == EIO);
  }
  for (const char* name : {"dir-a", "dir-b"}) {
    INFO("swapped directory " << name);
    struct stat st {};
    CHECK_ERRNO(lstat(v.Path(name).c_str(), &st), EIO);
    auto listing = ListDir(v.Path(name));
    if (listing) CHECK(listing->empty());
  }
  {
    INFO("directory whose .dirid was replaced by another directory's");
    auto r = ReadFile(v.Path("dir-c/fd"));
    CHECK(r.err != 0);
    CHECK(r.data.find("content-d") == std::string::npos);
    r = ReadFile(v.Path("dir-c/fc"));
    CHECK(r.err != 0);
    auto listing = ListDir(v.Path("dir-c"));
    if (listing) CHECK(listing->empty());
    CHECK(ReadOrDie(v.Path("dir-d/fd")) == "content-d");
  }
  for (const char* name : {"chop-mid-block", "append-garbage", "append-block", "dup-final-block"}) {
    INFO("backing file " << name << " with a wrong length");
    auto r = ReadFile(v.Path(name));
    CHECK(r.err == EIO);
    CHECK(plain[name].compare(0, r.data.size(), r.data) == 0);
  }
  CHECK(ReadFile(v.Path("dir-a/fb")).err != 0);
  CHECK(ReadFile(v.Path("dir-b/fa")).err != 0);
  CHECK(ReadFile(v.Path("dir-a/fa")).err != 0);
  // Integrity failures are logged, without plaintext names.
  {
    std::string log = v.DaemonLog();
    std::string new_part = log.size() > log_before ? log.substr(log_before) : log;
    INFO("daemon log:\n" << new_part);
    CHECK_FALSE(new_part.empty());
    for (const auto& [name, path] : plain) {
      if (name.find('-') == std::string::npos || name == "d/victim") continue;
      INFO("plaintext name " << name << " in the log");
      CHECK_FALSE(Contains(log, name));
    }
    CHECK_FALSE(Contains(log, "sym-a"));
    CHECK_FALSE(Contains(log, "dir-a"));
    CHECK_FALSE(Contains(log, "target-of-"));
  }
  // Untouched files still read, and the daemon is alive.
  CHECK_BYTES(ReadOrDie(v.Path("copy-src")), plain["copy-src"]);
  CHECK_BYTES(ReadOrDie(v.Path("block-donor")), plain["block-donor"]);
  CHECK_BYTES(ReadOrDie(v.Path("control")), plain["control"]);
}

TEST_CASE("symlinks planted in the backing tree are never followed", "[backing]") {
  MountedVault v;
  const std::string outside = v.root() + "/outside";
  REQUIRE_SYS(mkdir(outside.c_str(), 0755));
  const std::string secret = "OUTSIDE-SECRET-" + RandomHex(8);
  WriteOrDie(outside + "/plain-secret", secret);

  const std::string last_backing = LocateFile(v, v.tree(), "lastfile", "lastfile-content");
  const std::string last2_backing = LocateFile(v, v.tree(), "lastfile2", "lastfile2-content");
  const std::string dir_backing = LocateDir(v, v.tree(), "victimdir");
  LocateFile(v, dir_backing, "victimdir/inner.txt", "inner-content");
  const std::string dir2_backing = LocateDir(v, v.tree(), "victimdir2");
  WriteOrDie(v.Path("victimdir2/inner2.txt"), "inner2-content");
  WriteOrDie(v.Path("control"), "control");
  v.Unmount();
  // A directory's .dirid replaced by a symlink to an identical copy outside.
  REQUIRE_SYS(rename((dir2_backing + "/.dirid").c_str(), (outside + "/copied-dirid").c_str()));
  REQUIRE_SYS(symlink((outside + "/copied-dirid").c_str(), (dir2_backing + "/.dirid").c_str()));

  // Last component: the file's ciphertext moved outside with a symlink in its
  // place (valid ciphertext, so following it would decrypt), and a symlink to
  // a plaintext file outside.
  REQUIRE_SYS(rename(last_backing.c_str(), (outside + "/moved-ciphertext").c_str()));
  REQUIRE_SYS(symlink((outside + "/moved-ciphertext").c_str(), last_backing.c_str()));
  REQUIRE_SYS(unlink(last2_backing.c_str()));
  REQUIRE_SYS(symlink((outside + "/plain-secret").c_str(), last2_backing.c_str()));
  // Middle component: the directory moved outside, a symlink in its place.
  REQUIRE_SYS(rename(dir_backing.c_str(), (outside + "/moved-dir").c_str()));
  REQUIRE_SYS(symlink((outside + "/moved-dir").c_str(), dir_backing.c_str()));
  const auto outside_before = SnapshotTree(outside);

  v.Mount();
  CHECK(ReadOrDie(v.Path("control")) == "control");
  auto must_not_read = [&](const std::string& rel, const std::string& original) {
    INFO("reading " << rel);
    auto r = ReadFile(v.Path(rel));
    CHECK(r.err != 0);
    CHECK(r.data.find(original) == std::string::npos);
    CHECK(r.data.find(secret) == std::string::npos);
  };
  must_not_read("lastfile", "lastfile-content");
  must_not_read("lastfile2", "lastfile2-content");
  must_not_read("victimdir/inner.txt", "inner-content");
  must_not_read("victimdir2/inner2.txt", "inner2-content");
  CHECK(WriteFile(v.Path("victimdir2/new-file"), "new") != 0);
  {
    int err = 0;
    auto listing = ListDir(v.Path("victimdir"), &err);
    if (listing) {
      // Listed entries would have come from the outside directory.
      INFO("victimdir lists " << listing->size() << " entries");
      CHECK(listing->empty());
    }
  }
  // Attempts to change things through the planted links.
  for (const char* rel : {"lastfile", "lastfile2"}) {
    INFO("writing " << rel);
    int fd = open(v.Path(rel).c_str(), O_WRONLY | O_TRUNC);
    if (fd >= 0) {
      (void)!write(fd, "overwritten", 11);
      close(fd);
    }
    (void)truncate(v.Path(rel).c_str(), 1);
    (void)chmod(v.Path(rel).c_str(), 0777);
    struct timespec times[2] = {{1, 0}, {1, 0}};
    (void)utimensat(AT_FDCWD, v.Path(rel).c_str(), times, 0);
    (void)setxattr(v.Path(rel).c_str(), "user.planted", "x", 1, 0);
  }
  CHECK(WriteFile(v.Path("victimdir/new-file"), "new") != 0);
  CHECK(mkdir(v.Path("victimdir/new-dir").c_str(), 0755) != 0);
  CHECK(rename(v.Path("control").c_str(), v.Path("victimdir/control").c_str()) != 0);
  (void)unlink(v.Path("victimdir/inner.txt").c_str());
  (void)chmod(v.Path("victimdir").c_str(), 0777);
  CHECK(ReadOrDie(v.Path("control")) == "control");
  v.Unmount();
  // Nothing outside the vault was changed (or, through ciphertext, read back).
  const auto outside_after = SnapshotTree(outside);
  CHECK(outside_after.size() == outside_before.size());
  for (const auto& [rel, desc] : outside_before) {
    INFO("outside entry " << (rel.empty() ? "." : rel));
    REQUIRE(outside_after.count(rel) == 1);
    CHECK(outside_after.at(rel) == desc);
  }
  CHECK(ReadOrDie(outside + "/plain-secret") == secret);
}

TEST_CASE("a symlinked policy store is refused", "[backing]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "f");
  v.Unmount();
  const std::string outside = v.root() + "/outside";
  REQUIRE_SYS(mkdir(outside.c_str(), 0755));
  const std::string db = v.vault() + "/strongroom.db";
  REQUIRE_SYS(rename(db.c_str(), (outside + "/strongroom.db").c_str()));
  REQUIRE_SYS(symlink((outside + "/strongroom.db").c_str(), db.c_str()));
  const auto before = SnapshotTree(outside);
  auto r = RunStrongroom({"mount", "--passfile", v.passfile(), v.vault(), v.mnt()},
                         std::chrono::seconds(30));
  INFO("strongroom mount exit " << r.exit_code << ", stderr: " << r.err);
  CHECK(r.exit_code != 0);
  CHECK_FALSE(IsMountpoint(v.mnt()));
  if (IsMountpoint(v.mnt())) RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()});
  CHECK(SnapshotTree(outside) == before);
}

TEST_CASE("a symlinked tree directory is refused", "[backing]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "f");
  v.Unmount();
  const std::string outside = v.root() + "/outside";
  REQUIRE_SYS(rename(v.tree().c_str(), outside.c_str()));
  REQUIRE_SYS(symlink(outside.c_str(), v.tree().c_str()));
  const auto before = SnapshotTree(outside);
  auto r = RunStrongroom({"mount", "--passfile", v.passfile(), v.vault(), v.mnt()},
                         std::chrono::seconds(30));
  INFO("strongroom mount exit " << r.exit_code << ", stderr: " << r.err);
  bool mounted = IsMountpoint(v.mnt());
  if (mounted) {
    auto content = ReadFile(v.Path("f"));
    CHECK(content.err != 0);  // if it mounted at all, nothing outside is served
    RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()});
  }
  CHECK(r.exit_code != 0);
  CHECK_FALSE(mounted);
  CHECK(SnapshotTree(outside) == before);
}

TEST_CASE("special files planted in the backing tree are refused, not opened", "[backing]") {
  MountedVault v;
  const std::string fifo_backing = LocateFile(v, v.tree(), "fifo", "fifo-content");
  const std::string dev_backing = LocateFile(v, v.tree(), "device", "device-content");
  const std::string dir_backing = LocateFile(v, v.tree(), "dir-instead", "dir-content");
  WriteOrDie(v.Path("control"), "control");
  v.Unmount();
  REQUIRE_SYS(unlink(fifo_backing.c_str()));
  REQUIRE_SYS(mkfifo(fifo_backing.c_str(), 0600));
  REQUIRE_SYS(unlink(dev_backing.c_str()));
  REQUIRE_SYS(mknod(dev_backing.c_str(), S_IFCHR | 0600, makedev(1, 5)));  // /dev/zero
  REQUIRE_SYS(unlink(dir_backing.c_str()));
  REQUIRE_SYS(mkdir(dir_backing.c_str(), 0700));
  v.Mount();
  for (const char* name : {"fifo", "device", "dir-instead"}) {
    INFO("planted " << name);
    // In a child with an alarm, so a daemon stuck opening a FIFO cannot
    // hang the test (the watchdog and fixture clean up after it).
    std::string path = v.Path(name);
    int rc = RunInChild([&] {
      alarm(10);
      auto r = ReadFile(path);
      if (r.err == 0) return 200;
      return r.err;
    });
    CHECK(rc != 200);
    CHECK(rc != 128 + SIGALRM);
    CHECK((rc == EIO || rc == ENOENT || rc == EISDIR));
  }
  int rc = RunInChild([&] {
    alarm(10);
    return ReadFile(v.Path("control")).data == "control" ? 0 : 1;
  });
  CHECK(rc == 0);
}

TEST_CASE("hard links planted in the backing tree are refused with EIO", "[backing]") {
  MountedVault v;
  const std::string outside = v.root() + "/outside";
  REQUIRE_SYS(mkdir(outside.c_str(), 0755));
  const std::string inside_backing = LocateFile(v, v.tree(), "linked-inside", "inside-content");
  const std::string outside_backing = LocateFile(v, v.tree(), "linked-outside", "outside-content");
  const std::string victim_backing = LocateFile(v, v.tree(), "victim", "victim-content");
  WriteOrDie(v.Path("control"), "control");
  v.Unmount();
  // A second name inside the backing tree, and one outside the vault.
  REQUIRE_SYS(link(inside_backing.c_str(), (v.tree() + "/planted-second-name").c_str()));
  REQUIRE_SYS(link(outside_backing.c_str(), (outside + "/hardlink").c_str()));
  // The victim's name now links to another file's ciphertext.
  REQUIRE_SYS(unlink(victim_backing.c_str()));
  REQUIRE_SYS(link(inside_backing.c_str(), victim_backing.c_str()));
  const std::string outside_copy = ReadRaw(outside + "/hardlink");

  v.Mount();
  CHECK(ReadOrDie(v.Path("control")) == "control");
  for (const char* rel : {"linked-inside", "linked-outside", "victim"}) {
    INFO("opening " << rel);
    auto r = ReadFile(v.Path(rel));
    CHECK(r.err == EIO);
    CHECK(r.data.empty());
    int fd = open(v.Path(rel).c_str(), O_WRONLY);
    if (fd >= 0) {
      CHECK(write(fd, "changed", 7) == -1);
      close(fd);
    } else {
      CHECK(errno == EIO);
    }
  }
  v.Unmount();
  CHECK(ReadRaw(outside + "/hardlink") == outside_copy);
}

TEST_CASE("missing or modified key rows read as EIO", "[backing]") {
  MountedVault v;
  std::map<std::string, std::string> id;
  for (std::string name :
       {"row-deleted", "row-mac", "row-wrapped-key", "row-moved", "row-kind", "control"}) {
    id[name] = FileId(LocateFile(v, v.tree(), name, "content of " + name));
  }
  v.Unmount();
  {
    Store store(v.vault() + "/strongroom.db");
    for (const auto& [name, file_id] : id) {
      INFO(name);
      REQUIRE(store.Query("SELECT wrapped_key FROM objects WHERE id = ?1", file_id));
    }
    store.Query("DELETE FROM objects WHERE id = ?1", id["row-deleted"]);
    CHECK(store.Changes() == 1);
    store.Query("UPDATE objects SET mac = zeroblob(32) WHERE id = ?1", id["row-mac"]);
    CHECK(store.Changes() == 1);
    std::string key =
        *store.Query("SELECT wrapped_key FROM objects WHERE id = ?1", id["row-wrapped-key"]);
    key[key.size() / 2] = static_cast<char>(key[key.size() / 2] ^ 0x01);
    store.Query("UPDATE objects SET wrapped_key = ?2 WHERE id = ?1", id["row-wrapped-key"], key);
    CHECK(store.Changes() == 1);
    // Bound to another file's place (and so the MAC no longer matches).
    store.Query(
        "UPDATE objects SET name_tag = (SELECT name_tag FROM objects WHERE id = "
        "(SELECT id FROM objects WHERE kind = 1 AND id <> ?1 LIMIT 1)) WHERE id = ?1",
        id["row-moved"]);
    CHECK(store.Changes() == 1);
    store.Query("UPDATE objects SET kind = 3 WHERE id = ?1", id["row-kind"]);
    CHECK(store.Changes() == 1);
  }
  v.Mount();
  CHECK(ReadOrDie(v.Path("control")) == "content of control");
  for (const char* name : {"row-deleted", "row-mac", "row-wrapped-key", "row-moved", "row-kind"}) {
    INFO(name);
    auto r = ReadFile(v.Path(name));
    CHECK(r.err == EIO);
    CHECK(r.data.empty());
  }
  CHECK(ReadOrDie(v.Path("control")) == "content of control");
}

TEST_CASE("removed files are crypto-shredded: key row and its bytes gone", "[backing]") {
  MountedVault v;
  std::map<std::string, std::string> id;
  const std::string dir_backing = LocateDir(v, v.tree(), "dir");
  for (std::string name :
       {"unlinked", "open-unlinked", "replaced", "replacer", "crash-orphan", "kept"}) {
    id[name] = FileId(LocateFile(v, dir_backing, "dir/" + name, std::string(5000, 'x')));
  }
  {
    int dfd = OpenOrDie(v.Path("dir"), O_RDONLY | O_DIRECTORY);
    CHECK_SYS(fsync(dfd));
    close(dfd);
  }
  v.Unmount();
  std::map<std::string, std::string> wrapped;
  {
    Store store(v.vault() + "/strongroom.db");
    for (const auto& [name, file_id] : id) {
      auto key = store.Query("SELECT wrapped_key FROM objects WHERE id = ?1", file_id);
      INFO(name);
      REQUIRE(key);
      REQUIRE(key->size() >= 32);
      wrapped[name] = *key;
    }
  }
  v.Mount();
  REQUIRE_SYS(unlink(v.Path("dir/unlinked").c_str()));
  {
    int fd = OpenOrDie(v.Path("dir/open-unlinked"), O_RDONLY);
    REQUIRE_SYS(unlink(v.Path("dir/open-unlinked").c_str()));
    CHECK(PRead(fd, 0, 10).data == "xxxxxxxxxx");
    close(fd);
  }
  REQUIRE_SYS(rename(v.Path("dir/replacer").c_str(), v.Path("dir/replaced").c_str()));
  // Key deletions are checkpointed out of the WAL soon after (format §8.1):
  // wait (bounded) for the WAL to be emptied.
  auto wal_empty = [&] {
    struct stat st {};
    return stat((v.vault() + "/strongroom.db-wal").c_str(), &st) != 0 || st.st_size == 0;
  };
  for (int i = 0; i < 100 && !wal_empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto scan = [&](const std::vector<std::string>& names, const std::string& when) {
    for (const char* file : {"strongroom.db", "strongroom.db-wal", "strongroom.db-shm"}) {
      auto r = ReadFile(v.vault() + "/" + file);
      if (r.err == ENOENT) continue;
      REQUIRE(r.err == 0);
      for (const auto& name : names) {
        INFO(when << ": wrapped key of " << name << " in " << file);
        CHECK_FALSE(Contains(r.data, wrapped[name]));
        CHECK_FALSE(Contains(r.data, wrapped[name].substr(12, 32)));
      }
    }
  };
  scan({"unlinked", "open-unlinked", "replaced"}, "while mounted");
  {
    struct stat st {};
    if (stat((v.vault() + "/strongroom.db-wal").c_str(), &st) == 0) {
      INFO("WAL size after key deletions");
      CHECK(st.st_size == 0);
    }
  }
  // A file unlinked while open when the daemon dies: finished at the next mount.
  int fd = OpenOrDie(v.Path("dir/crash-orphan"), O_RDONLY);
  REQUIRE_SYS(unlink(v.Path("dir/crash-orphan").c_str()));
  v.KillDaemon(SIGKILL);
  close(fd);
  REQUIRE(RunCommand({"/usr/bin/fusermount3", "-u", v.mnt()}, std::chrono::seconds(10)).exit_code ==
          0);
  v.Mount();
  CHECK(ReadOrDie(v.Path("dir/kept")) == std::string(5000, 'x'));
  CHECK(ReadOrDie(v.Path("dir/replaced")) == std::string(5000, 'x'));
  CHECK(Names(*ListDir(v.Path("dir"))) == std::vector<std::string>{"kept", "replaced"});
  v.Unmount();
  {
    Store store(v.vault() + "/strongroom.db");
    for (const char* name : {"unlinked", "open-unlinked", "replaced", "crash-orphan"}) {
      INFO("key row of " << name);
      CHECK_FALSE(store.Query("SELECT wrapped_key FROM objects WHERE id = ?1", id[name]));
    }
    for (const char* name : {"replacer", "kept"}) {
      INFO("key row of " << name);
      CHECK(store.Query("SELECT wrapped_key FROM objects WHERE id = ?1", id[name]));
    }
  }
  scan({"unlinked", "open-unlinked", "replaced", "crash-orphan"}, "after unmount");
}

// Two directories the daemon already knows swapped in the backing tree while
// mounted: once the kernel looks the names up again (its 1 s entry cache),
// the daemon sees each directory under the other's name and refuses both.
TEST_CASE("directories swapped in the backing tree while cached are refused", "[backing]") {
  MountedVault v;
  REQUIRE(mkdir(v.Path("alpha").c_str(), 0755) == 0);
  REQUIRE(mkdir(v.Path("beta").c_str(), 0755) == 0);
  REQUIRE(WriteFile(v.Path("alpha/a.txt"), "alpha data") == 0);
  REQUIRE(WriteFile(v.Path("beta/b.txt"), "beta data") == 0);
  REQUIRE(ReadFile(v.Path("alpha/a.txt")).data == "alpha data");

  std::vector<std::string> dirs;
  DIR* d = opendir(v.tree().c_str());
  REQUIRE(d != nullptr);
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    struct stat st;
    if (name[0] != '.' && lstat((v.tree() + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      dirs.push_back(name);
    }
  }
  closedir(d);
  REQUIRE(dirs.size() == 2);
  const std::string a = v.tree() + "/" + dirs[0], b = v.tree() + "/" + dirs[1];
  REQUIRE(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0);

  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // Whatever name is asked for, no file is served from the other directory.
  for (const char* path : {"alpha/a.txt", "alpha/b.txt", "beta/a.txt", "beta/b.txt"}) {
    ReadResult r = ReadFile(v.Path(path));
    INFO(path << ": errno " << r.err << ", data '" << r.data << "'");
    CHECK(r.err != 0);
  }
  CHECK(v.DaemonLog().find("integrity failure") != std::string::npos);
}

}  // namespace strongroom::test
