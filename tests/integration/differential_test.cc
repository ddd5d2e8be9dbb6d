// Differential test: the same random sequence of operations is applied to the
// mount and to a plain directory; results, read bytes, sizes and directory
// listings must agree after every step.
//
// Reproduce a failure with STRONGROOM_TEST_SEED=<seed printed by the failing
// run> (and optionally STRONGROOM_TEST_OPS=<count>).
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

constexpr int kSlots = 3;
constexpr uint64_t kFixedSeed = 0x5374726f6e67ULL;  // "Strong"

enum class Kind {
  kWrite,
  kTruncate,
  kRename,
  kRenameNoReplace,
  kRenameExchange,
  kUnlink,
  kRead,
  kOpenUnlinkReadClose,
  kMkdir,
  kRmdir,
  kStat,
  kSlotOpen,
  kSlotWrite,
  kSlotRead,
  kSlotTruncate,
  kSlotFsync,
  kSlotClose,
};

struct Op {
  Kind kind;
  std::string a, b;
  off_t off = 0;
  size_t len = 0;
  int flags = 0;
  int slot = 0;
  std::string data;

  std::string Describe() const {
    static const char* kNames[] = {
        "write",           "truncate",  "rename",        "rename-noreplace",
        "rename-exchange", "unlink",    "read",          "open-unlink-read-close",
        "mkdir",           "rmdir",     "stat",          "slot-open",
        "slot-write",      "slot-read", "slot-truncate", "slot-fsync",
        "slot-close"};
    std::ostringstream s;
    s << kNames[static_cast<int>(kind)] << " a=" << a.substr(0, 40) << (a.size() > 40 ? "…" : "")
      << " b=" << b.substr(0, 40) << (b.size() > 40 ? "…" : "") << " off=" << off << " len=" << len
      << " flags=0x" << std::hex << flags << std::dec << " slot=" << slot;
    return s.str();
  }
};

struct Outcome {
  std::string log;   // return codes and errnos of each call
  std::string data;  // bytes read
};

std::string Rc(const char* what, long rc, int err) {
  std::string s = what;
  if (rc < 0) return s + "=-1/" + strerrorname_np(err) + " ";
  return s + "=" + std::to_string(rc) + " ";
}

// A difference between the mount and the plain directory.
struct Mismatch {
  std::string what;
};

// Runs the random sequence on `mount_root` and `plain_root` (both existing,
// empty directories).  With a fixture, it also unmounts and remounts half-way.
// Uses no Catch2 assertions, so it can run in a forked child.
class Differential {
 public:
  Differential(MountedVault* v, std::string mount_root, std::string plain_root, uint64_t seed)
      : v_(v), rng_(seed), roots_{std::move(mount_root), std::move(plain_root)} {
    for (auto& side : fds_) side.fill(-1);
    // Long names exceed the backing name limit once encrypted.
    file_names_ = {"f0", "f1", "f2", "f3", "f4", "file-" + std::string(235, 'n')};
    dir_names_ = {"d0", "d1", "d2", "dir-" + std::string(200, 'm')};
    dirs_ = {""};
  }

  ~Differential() { CloseSlots(); }
  Differential(const Differential&) = delete;
  Differential& operator=(const Differential&) = delete;

  // Returns "" if mount and plain directory agreed throughout, else what
  // differed (and the operations leading to it).
  std::string Run(int ops, bool verbose) {
    try {
      RunSteps(ops, verbose);
    } catch (const Mismatch& m) {
      return m.what;
    }
    return "";
  }

 private:
  static void Expect(bool ok, const std::function<std::string()>& what) {
    if (!ok) throw Mismatch{what()};
  }

  void RunSteps(int ops, bool verbose) {
    std::deque<std::string> recent;
    for (int step = 0; step < ops; ++step) {
      if (v_ && step == ops / 2) Remount();
      Op op = Generate();
      recent.push_back(std::to_string(step) + ": " + op.Describe());
      if (recent.size() > 15) recent.pop_front();
      Outcome mounted = Apply(op, 0);
      Outcome plain = Apply(op, 1);
      auto context = [&] {
        std::string history;
        for (const auto& r : recent) history += "  " + r + "\n";
        return "step " + std::to_string(step) + " of " + std::to_string(ops) + " under " +
               roots_[0] + "; recent operations:\n" + history + "mount: " + mounted.log +
               "\nplain: " + plain.log + "\n";
      };
      Expect(mounted.log == plain.log, [&] { return context() + "results differ"; });
      Expect(mounted.data == plain.data, [&] {
        return context() + "bytes read differ: " + FirstDifference(mounted.data, plain.data);
      });
      auto tree_mounted = Walk(0);
      auto tree_plain = Walk(1);
      Expect(tree_mounted == tree_plain, [&] {
        return context() + "trees differ; mount:\n" + Join(tree_mounted) + "plain:\n" +
               Join(tree_plain);
      });
      UpdateExisting(tree_plain);
      if (step % 100 == 99) CompareContents(context());
      auto& [ok, total] = stats_[op.Describe().substr(0, op.Describe().find(' '))];
      ++total;
      if (mounted.log.find("=-1/") == std::string::npos) ++ok;
    }
    if (verbose) {
      std::cout << "operations (succeeded/total):";
      for (const auto& [name, counts] : stats_) {
        std::cout << " " << name << " " << counts.first << "/" << counts.second;
      }
      std::cout << std::endl;
    }
    CloseSlots();
    CompareContents("at the end\n");
    if (v_) Remount();
  }

  std::string Pick(const std::vector<std::string>& pool) {
    return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng_)];
  }
  size_t Uniform(size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(rng_);
  }
  static int Depth(const std::string& rel) {
    return rel.empty() ? 0 : 1 + static_cast<int>(std::count(rel.begin(), rel.end(), '/'));
  }
  // A path that exists with the wanted type most of the time, otherwise a
  // new name in an existing directory (of either type, now and then), and
  // rarely one below a missing or non-directory parent.
  std::string RandomPath(bool want_dir) {
    const auto& existing = want_dir ? dirs_ : files_;
    size_t r = Uniform(0, 99);
    if (r < 55) {
      std::vector<std::string> candidates;
      for (const auto& e : existing) {
        if (!e.empty()) candidates.push_back(e);
      }
      if (!candidates.empty()) return Pick(candidates);
    }
    std::vector<std::string> parents;
    for (const auto& d : dirs_) {
      if (Depth(d) < 4) parents.push_back(d);
    }
    std::string parent = Pick(parents);
    if (r >= 95) parent = (files_.empty() ? "nodir" : Pick(files_));
    bool dir_name = Uniform(0, 99) < 15 ? !want_dir : want_dir;
    std::string name = Pick(dir_name ? dir_names_ : file_names_);
    return parent.empty() ? name : parent + "/" + name;
  }
  // Offsets cluster around block boundaries and the current end of files,
  // with an occasional far jump that leaves a large hole.
  off_t RandomOffset() {
    size_t r = Uniform(0, 99);
    if (r < 5) return static_cast<off_t>(Uniform(100000, 1200000));
    if (r < 40) {
      size_t near_boundary = Uniform(0, 6) * kBlockSize + Uniform(0, 2);
      return static_cast<off_t>(near_boundary > 0 ? near_boundary - 1 : 0);
    }
    return static_cast<off_t>(Uniform(0, 30000));
  }
  size_t RandomLength() {
    size_t r = Uniform(0, 99);
    if (r < 10) return 0;
    if (r < 30) return Uniform(1, 10);
    if (r < 50) return kBlockSize + Uniform(0, 2) - 1;
    return Uniform(1, 12000);
  }

  Op Generate() {
    Op op;
    size_t r = Uniform(0, 99);
    op.off = RandomOffset();
    op.len = RandomLength();
    op.slot = static_cast<int>(Uniform(0, kSlots - 1));
    if (r < 18) {
      op.kind = Kind::kWrite;
      op.flags = O_WRONLY | O_CREAT;
      if (Uniform(0, 9) == 0) op.flags |= O_TRUNC;
      if (Uniform(0, 9) == 0) op.flags |= O_APPEND;
      if (Uniform(0, 19) == 0) op.flags |= O_EXCL;
    } else if (r < 25) {
      op.kind = Kind::kTruncate;
    } else if (r < 31) {
      op.kind = Kind::kRename;
    } else if (r < 33) {
      op.kind = Kind::kRenameNoReplace;
    } else if (r < 35) {
      op.kind = Kind::kRenameExchange;
    } else if (r < 40) {
      op.kind = Kind::kUnlink;
    } else if (r < 50) {
      op.kind = Kind::kRead;
    } else if (r < 54) {
      op.kind = Kind::kOpenUnlinkReadClose;
    } else if (r < 60) {
      op.kind = Kind::kMkdir;
    } else if (r < 63) {
      op.kind = Kind::kRmdir;
    } else if (r < 66) {
      op.kind = Kind::kStat;
    } else if (r < 73) {
      op.kind = Kind::kSlotOpen;
      op.flags = Uniform(0, 2) == 0 ? O_RDWR | O_CREAT : O_RDWR;
    } else if (r < 85) {
      op.kind = Kind::kSlotWrite;
    } else if (r < 92) {
      op.kind = Kind::kSlotRead;
    } else if (r < 95) {
      op.kind = Kind::kSlotTruncate;
    } else if (r < 96) {
      op.kind = Kind::kSlotFsync;
    } else {
      op.kind = Kind::kSlotClose;
    }
    bool dir_op =
        op.kind == Kind::kMkdir || op.kind == Kind::kRmdir ||
        ((op.kind == Kind::kRename || op.kind == Kind::kRenameNoReplace ||
          op.kind == Kind::kRenameExchange || op.kind == Kind::kStat || op.kind == Kind::kUnlink) &&
         Uniform(0, 99) < 30);
    op.a = RandomPath(dir_op);
    op.b = RandomPath(Uniform(0, 99) < 75 ? dir_op : !dir_op);
    if (op.kind == Kind::kWrite || op.kind == Kind::kSlotWrite ||
        op.kind == Kind::kOpenUnlinkReadClose) {
      op.data = RandomBytes(op.len, rng_);
    }
    return op;
  }

  std::string Full(int side, const std::string& rel) const { return roots_[side] + "/" + rel; }

  Outcome Apply(const Op& op, int side) {
    Outcome out;
    std::string a = Full(side, op.a);
    std::string b = Full(side, op.b);
    auto record = [&](const char* what, long rc) { out.log += Rc(what, rc, errno); };
    auto read_into = [&](int fd, off_t off, size_t len) {
      auto r = PRead(fd, off, len);
      errno = r.err;
      record("pread", r.err ? -1 : static_cast<long>(r.data.size()));
      out.data += r.data;
    };
    auto fstat_size = [&](int fd) {
      struct stat st {};
      long rc = fstat(fd, &st);
      record("fstat", rc);
      if (rc == 0) out.log += "size=" + std::to_string(st.st_size) + " ";
      return rc == 0 ? st.st_size : 0;
    };
    int& slot_fd = fds_[side][op.slot];
    switch (op.kind) {
      case Kind::kWrite: {
        int fd = open(a.c_str(), op.flags | O_CLOEXEC, 0644);
        record("open", fd < 0 ? -1 : 0);
        if (fd < 0) break;
        errno = 0;
        int err = (op.flags & O_APPEND) ? 0 : PWriteAll(fd, op.data, op.off);
        if (op.flags & O_APPEND) {
          ssize_t n = write(fd, op.data.data(), op.data.size());
          err = n == static_cast<ssize_t>(op.data.size()) ? 0 : (n < 0 ? errno : EIO);
        }
        errno = err;
        record("write", err ? -1 : 0);
        record("close", close(fd));
        break;
      }
      case Kind::kTruncate:
        record("truncate", truncate(a.c_str(), op.off));
        break;
      case Kind::kRename:
        record("rename", rename(a.c_str(), b.c_str()));
        break;
      case Kind::kRenameNoReplace:
        record("renameat2", renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_NOREPLACE));
        break;
      case Kind::kRenameExchange:
        record("renameat2", renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE));
        break;
      case Kind::kUnlink:
        record("unlink", unlink(a.c_str()));
        break;
      case Kind::kRead: {
        int fd = open(a.c_str(), O_RDONLY | O_CLOEXEC);
        record("open", fd < 0 ? -1 : 0);
        if (fd < 0) break;
        read_into(fd, op.off, op.len);
        record("close", close(fd));
        break;
      }
      case Kind::kOpenUnlinkReadClose: {
        int fd = open(a.c_str(), O_RDWR | O_CLOEXEC);
        record("open", fd < 0 ? -1 : 0);
        if (fd < 0) break;
        record("unlink", unlink(a.c_str()));
        off_t size = fstat_size(fd);
        read_into(fd, 0, static_cast<size_t>(size) + 10);
        errno = PWriteAll(fd, op.data, op.off);
        record("pwrite", errno ? -1 : 0);
        fstat_size(fd);
        read_into(fd, 0, static_cast<size_t>(op.off) + op.data.size() + 10);
        record("close", close(fd));
        break;
      }
      case Kind::kMkdir:
        record("mkdir", mkdir(a.c_str(), 0755));
        break;
      case Kind::kRmdir:
        record("rmdir", rmdir(a.c_str()));
        break;
      case Kind::kStat: {
        struct stat st {};
        long rc = lstat(a.c_str(), &st);
        record("lstat", rc);
        if (rc == 0) {
          out.log += S_ISDIR(st.st_mode) ? "dir " : "size=" + std::to_string(st.st_size) + " ";
          out.log += "mode=" + std::to_string(st.st_mode & 07777) + " ";
        }
        break;
      }
      case Kind::kSlotOpen: {
        if (slot_fd >= 0) record("close", close(slot_fd));
        slot_fd = open(a.c_str(), op.flags | O_CLOEXEC, 0644);
        record("open", slot_fd < 0 ? -1 : 0);
        break;
      }
      case Kind::kSlotWrite:
        if (slot_fd < 0) break;
        errno = PWriteAll(slot_fd, op.data, op.off);
        record("pwrite", errno ? -1 : 0);
        fstat_size(slot_fd);
        break;
      case Kind::kSlotRead:
        if (slot_fd < 0) break;
        fstat_size(slot_fd);
        read_into(slot_fd, op.off, op.len);
        break;
      case Kind::kSlotTruncate:
        if (slot_fd < 0) break;
        record("ftruncate", ftruncate(slot_fd, op.off));
        fstat_size(slot_fd);
        break;
      case Kind::kSlotFsync:
        if (slot_fd < 0) break;
        record("fsync", fsync(slot_fd));
        break;
      case Kind::kSlotClose:
        if (slot_fd < 0) break;
        record("close", close(slot_fd));
        slot_fd = -1;
        break;
    }
    return out;
  }

  // "path type size" for every entry below the root, in name order.
  std::vector<std::string> Walk(int side) {
    std::vector<std::string> out;
    std::function<void(const std::string&)> walk = [&](const std::string& rel) {
      std::string dir = rel.empty() ? roots_[side] : Full(side, rel);
      int err = 0;
      auto entries = ListDir(dir, &err);
      if (!entries) {
        out.push_back(rel + " LISTING FAILED " + strerror(err));
        return;
      }
      for (const auto& e : *entries) {
        std::string child = rel.empty() ? e.name : rel + "/" + e.name;
        struct stat st {};
        if (lstat(Full(side, child).c_str(), &st) != 0) {
          out.push_back(child + " LSTAT FAILED " + strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
          out.push_back(child + " dir");
          walk(child);
        } else if (S_ISREG(st.st_mode)) {
          out.push_back(child + " file " + std::to_string(st.st_size));
        } else {
          out.push_back(child + " other");
        }
      }
    };
    walk("");
    return out;
  }

  void UpdateExisting(const std::vector<std::string>& tree) {
    files_.clear();
    dirs_ = {""};
    for (const auto& line : tree) {
      if (auto p = line.rfind(" dir"); p != std::string::npos && p + 4 == line.size()) {
        dirs_.push_back(line.substr(0, p));
      } else if (auto f = line.find(" file "); f != std::string::npos) {
        files_.push_back(line.substr(0, f));
      }
    }
  }

  static std::string Join(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += "  " + l.substr(0, 120) + "\n";
    return s;
  }

  void CompareContents(const std::string& context) {
    for (const auto& line : Walk(1)) {
      auto sp = line.find(" file ");
      if (sp == std::string::npos) continue;
      std::string rel = line.substr(0, sp);
      auto m = ReadFile(Full(0, rel));
      auto p = ReadFile(Full(1, rel));
      Expect(m.err == p.err && m.data == p.data, [&] {
        return context + "contents of " + rel + " differ: errno " + std::to_string(m.err) + " vs " +
               std::to_string(p.err) + ", " + FirstDifference(m.data, p.data);
      });
    }
  }

  void CloseSlots() {
    for (auto& side : fds_) {
      for (int& fd : side) {
        if (fd >= 0) close(fd);
        fd = -1;
      }
    }
  }

  // Unmount and mount again: everything must have persisted.
  void Remount() {
    CloseSlots();
    v_->Unmount();
    v_->Mount();
    auto tree_mounted = Walk(0);
    auto tree_plain = Walk(1);
    Expect(tree_mounted == tree_plain, [&] {
      return "after remount, trees differ; mount:\n" + Join(tree_mounted) + "plain:\n" +
             Join(tree_plain);
    });
    CompareContents("after remount\n");
  }

  MountedVault* v_;
  std::mt19937_64 rng_;
  std::array<std::string, 2> roots_;
  std::array<std::array<int, kSlots>, 2> fds_;
  std::vector<std::string> file_names_;
  std::vector<std::string> dir_names_;
  std::vector<std::string> files_;  // existing, from the last walk of the plain tree
  std::vector<std::string> dirs_;   // existing, "" is the root
  std::map<std::string, std::pair<int, int>> stats_;
};

uint64_t RandomSeed() {
  if (const char* env = std::getenv("STRONGROOM_TEST_SEED"); env && *env) {
    return std::strtoull(env, nullptr, 0);
  }
  return (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
}

int OpCount() {
  if (const char* env = std::getenv("STRONGROOM_TEST_OPS"); env && *env) {
    return std::atoi(env);
  }
  return 2000;
}

}  // namespace

TEST_CASE("differential: fixed seed", "[differential]") {
  MountedVault v;
  umask(022);
  std::cout << "differential test, fixed seed " << kFixedSeed << std::endl;
  REQUIRE(mkdir((v.root() + "/plain").c_str(), 0755) == 0);
  std::string failure =
      Differential(&v, v.mnt(), v.root() + "/plain", kFixedSeed).Run(OpCount(), true);
  INFO("seed " << kFixedSeed << "\n" << failure);
  CHECK(failure.empty());
}

TEST_CASE("differential: random seed", "[differential]") {
  MountedVault v;
  umask(022);
  uint64_t seed = RandomSeed();
  std::cout << "differential test, seed " << seed
            << " (reproduce with STRONGROOM_TEST_SEED=" << seed << ")" << std::endl;
  REQUIRE(mkdir((v.root() + "/plain").c_str(), 0755) == 0);
  std::string failure = Differential(&v, v.mnt(), v.root() + "/plain", seed).Run(OpCount(), true);
  INFO("seed " << seed << " (reproduce with STRONGROOM_TEST_SEED=" << seed << ")\n" << failure);
  CHECK(failure.empty());
}

// The daemon serves several processes at once: four run their own random
// sequences in separate directories of one mount, concurrently.
TEST_CASE("differential: four processes at once", "[differential]") {
  MountedVault v;
  umask(022);
  constexpr int kProcesses = 4;
  uint64_t seed = RandomSeed();
  std::cout << "parallel differential test, seeds " << seed << " + 0.." << kProcesses - 1
            << " (reproduce with STRONGROOM_TEST_SEED=" << seed << ")" << std::endl;
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    std::string mount_root = v.Path("p" + std::to_string(i));
    std::string plain_root = v.root() + "/plain" + std::to_string(i);
    REQUIRE(mkdir(mount_root.c_str(), 0755) == 0);
    REQUIRE(mkdir(plain_root.c_str(), 0755) == 0);
    std::cout.flush();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string failure =
          Differential(nullptr, mount_root, plain_root, seed + static_cast<uint64_t>(i))
              .Run(OpCount() / 2, false);
      if (!failure.empty()) WriteFile(v.root() + "/failure" + std::to_string(i), failure);
      _exit(failure.empty() ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (int i = 0; i < kProcesses; ++i) {
    int status = 0;
    waitpid(children[static_cast<size_t>(i)], &status, 0);
    auto failure = ReadFile(v.root() + "/failure" + std::to_string(i));
    INFO("process " << i << ", seed " << seed + static_cast<uint64_t>(i) << ":\n" << failure.data);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  // Everything persisted.
  v.Unmount();
  v.Mount();
  for (int i = 0; i < kProcesses; ++i) {
    INFO("process " << i << " after remount");
    CHECK(SnapshotTree(v.Path("p" + std::to_string(i))) ==
          SnapshotTree(v.root() + "/plain" + std::to_string(i)));
  }
}

}  // namespace strongroom::test
