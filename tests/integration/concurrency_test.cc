// Several processes hammer one shared directory tree of the mount at once
// (creates, writes, reads, renames across directories, exchanges, unlinks,
// mkdir/rmdir, readdir).  Races may make individual calls fail with the
// errors a local filesystem gives in the same situation (ENOENT, EEXIST,
// ...), but never with EIO or any other error, never hang, and leave a tree
// that reads back completely and survives a remount.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

namespace strongroom::test {
namespace {

// Errors a race can legitimately produce on any POSIX filesystem.
bool Expected(int err) {
  static const std::set<int> kExpected = {ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL};
  return kExpected.count(err) == 1;
}

// One worker: random operations for `duration`; returns "" or the first
// unexpected failure.
std::string Worker(const std::string& root, uint64_t seed, std::chrono::seconds duration) {
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  const std::vector<std::string> dirs = {"", "d0/", "d1/", "d2/", "d0/e/", "d1/e/"};
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", std::string(230, 'L')};
  auto path = [&] { return root + "/" + dirs[pick(dirs.size())] + names[pick(names.size())]; };
  auto deadline = std::chrono::steady_clock::now() + duration;
  long ops = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    ++ops;
    std::string a = path();
    std::string b = path();
    std::string what;
    int rc = 0;
    switch (pick(11)) {
      case 0:
      case 1: {
        what = "write " + a;
        int fd = open(a.c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd < 0) {
          rc = -1;
          break;
        }
        std::string data = RandomBytes(pick(9000), rng);
        int err = PWriteAll(fd, data, static_cast<off_t>(pick(9000)));
        close(fd);
        if (err != 0) {
          errno = err;
          rc = -1;
        }
        break;
      }
      case 2:
      case 3: {
        what = "read " + a;
        auto r = ReadFile(a);
        if (r.err != 0) {
          errno = r.err;
          rc = -1;
        }
        break;
      }
      case 4:
        what = "rename " + a + " " + b;
        rc = rename(a.c_str(), b.c_str());
        break;
      case 5:
        what = "exchange " + a + " " + b;
        rc = renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
        break;
      case 6:
        what = "unlink " + a;
        rc = unlink(a.c_str());
        break;
      case 7:
        what = "mkdir " + a;
        rc = mkdir(a.c_str(), 0755);
        break;
      case 8:
        what = "rmdir " + a;
        rc = rmdir(a.c_str());
        break;
      case 9: {
        what = "truncate " + a;
        rc = truncate(a.c_str(), static_cast<off_t>(pick(10000)));
        break;
      }
      default: {
        what = "list " + a;
        int err = 0;
        if (!ListDir(a, &err)) {
          errno = err;
          rc = -1;
        }
        struct stat st {};
        if (rc == 0 && lstat(a.c_str(), &st) != 0) rc = -1;
        break;
      }
    }
    if (rc == -1 && !Expected(errno)) {
      return what + " failed with " + strerrorname_np(errno) + " after " + std::to_string(ops) +
             " operations";
    }
  }
  return "";
}

}  // namespace

// Waits for the writer and the readers (each reader leaves its failure in
// ROOT/readerN) and checks that all succeeded and the daemon logged no error.
static void CheckWriterAndReaders(const MountedVault& v, pid_t writer, const std::vector<pid_t>& readers) {
  int status = 0;
  waitpid(writer, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (size_t i = 0; i < readers.size(); ++i) {
    waitpid(readers[i], &status, 0);
    INFO("reader " << i << ": " << ReadFile(v.root() + "/reader" + std::to_string(i)).data);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  INFO("daemon log:\n" << v.DaemonLog());
  CHECK(v.DaemonLog().find("error") == std::string::npos);
}

TEST_CASE("concurrent processes in one shared tree never see EIO", "[concurrency]") {
  MountedVault v;
  umask(022);
  const std::string root = v.Path("shared");
  REQUIRE_SYS(mkdir(root.c_str(), 0755));
  for (const char* d : {"d0", "d1", "d2", "d0/e", "d1/e"}) {
    REQUIRE_SYS(mkdir((root + "/" + d).c_str(), 0755));
  }
  constexpr int kProcesses = 4;
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("STRONGROOM_TEST_SEED"); env && *env) {
    seed = std::strtoull(env, nullptr, 0);
  }
  std::cout << "concurrency test, seed " << seed << std::endl;
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    std::cout.flush();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::string failure = Worker(root, seed + static_cast<uint64_t>(i), std::chrono::seconds(8));
      if (!failure.empty()) WriteFile(v.root() + "/failure" + std::to_string(i), failure);
      _exit(failure.empty() ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (int i = 0; i < kProcesses; ++i) {
    int status = 0;
    waitpid(children[static_cast<size_t>(i)], &status, 0);
    INFO("worker " << i << ": " << ReadFile(v.root() + "/failure" + std::to_string(i)).data);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  {
    std::string log = v.DaemonLog();
    INFO("daemon log:\n" << log);
    CHECK(log.find("error") == std::string::npos);
  }

  // Quiet now: everything reads back, and the same after a remount.
  auto before = SnapshotTree(root);
  size_t files = 0;
  for (const auto& [rel, desc] : before) {
    INFO(rel << ": " << desc.substr(0, 80));
    CHECK(desc.find("lstat-error") == std::string::npos);
    struct stat st {};
    std::string full = rel.empty() ? root : root + "/" + rel;
    if (lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      ++files;
      CHECK(ReadFile(full).err == 0);
    }
  }
  std::cout << "concurrency test: " << files << " files left" << std::endl;
  v.Unmount();
  v.Mount();
  auto after = SnapshotTree(root);
  CHECK(after.size() == before.size());
  CHECK((after == before));
}

// A lookup racing a create or a mkdir of the same name finds nothing or the
// whole new object, never one without its ID (file header, directory ID
// file), which the daemon would take for damage. (The kernel serialises
// these calls per directory; the daemon's own walkers, fsck and path
// resolution for policy commands, are not, and the daemon makes new objects
// appear whole for them too.)
TEST_CASE("lookups racing creates and mkdirs of the same names see nothing half made", "[concurrency]") {
  MountedVault v;
  const std::string file = v.Path("x");
  const std::string dir = v.Path("y");
  const auto duration = std::chrono::seconds(3);
  std::vector<pid_t> children;
  for (int role = 0; role < 3; ++role) {
    std::cout.flush();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const auto deadline = std::chrono::steady_clock::now() + duration;
      std::string failure;
      while (failure.empty() && std::chrono::steady_clock::now() < deadline) {
        if (role == 0) {  // creates and removes both names, over and over
          int fd = open(file.c_str(), O_WRONLY | O_CREAT, 0644);
          if (fd >= 0) close(fd);
          if (fd < 0 && errno != EEXIST) failure = std::string("create: ") + strerror(errno);
          if (unlink(file.c_str()) != 0 && errno != ENOENT) failure = std::string("unlink: ") + strerror(errno);
          if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) failure = std::string("mkdir: ") + strerror(errno);
          if (rmdir(dir.c_str()) != 0 && errno != ENOENT) failure = std::string("rmdir: ") + strerror(errno);
        } else {  // looks both up
          struct stat st;
          if (lstat(file.c_str(), &st) != 0 && errno != ENOENT) failure = std::string("lstat x: ") + strerror(errno);
          if (lstat(dir.c_str(), &st) != 0 && errno != ENOENT) failure = std::string("lstat y: ") + strerror(errno);
          if (role == 2) {
            int fd = open(file.c_str(), O_RDONLY);
            if (fd >= 0) close(fd);
            if (fd < 0 && errno != ENOENT) failure = std::string("open x: ") + strerror(errno);
          }
        }
      }
      if (!failure.empty()) WriteFile(v.root() + "/failure" + std::to_string(role), failure);
      _exit(failure.empty() ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (size_t i = 0; i < children.size(); ++i) {
    int status = 0;
    waitpid(children[i], &status, 0);
    INFO("process " << i << ": " << ReadFile(v.root() + "/failure" + std::to_string(i)).data);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const std::string log = v.DaemonLog();
  INFO("daemon log:\n" << log);
  CHECK(log.find("integrity failure") == std::string::npos);
  CHECK(log.find("error") == std::string::npos);
}

// The "atomic save" pattern of editors and office programs: write a temporary
// file, rename it over the document.  Readers opening the document meanwhile
// must get one complete version, old or new, never an error.
TEST_CASE("readers see whole versions while a writer replaces the file by rename",
          "[concurrency]") {
  MountedVault v;
  const std::string doc = v.Path("document");
  auto version = [](int n) {
    std::string s = "version " + std::to_string(n) + "\n";
    s.resize(6000, static_cast<char>('a' + n % 26));
    return s;
  };
  WriteOrDie(doc, version(0));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::cout.flush();
  pid_t writer = fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    for (int n = 1; std::chrono::steady_clock::now() < deadline; ++n) {
      std::string tmp = v.Path("document.tmp");
      if (WriteFile(tmp, version(n)) != 0) _exit(1);
      if (rename(tmp.c_str(), doc.c_str()) != 0) _exit(2);
    }
    _exit(0);
  }
  std::vector<pid_t> readers;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      long reads = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        auto r = ReadFile(doc);
        ++reads;
        std::string failure;
        if (r.err != 0) {
          failure = "read " + std::to_string(reads) + " failed with " + strerrorname_np(r.err);
        } else if (r.data.size() != 6000 || r.data.rfind("version ", 0) != 0 ||
                   r.data != version(std::atoi(r.data.c_str() + 8))) {
          failure = "read " + std::to_string(reads) + " returned a torn or wrong version (" +
                    std::to_string(r.data.size()) + " bytes)";
        }
        if (!failure.empty()) {
          WriteFile(v.root() + "/reader" + std::to_string(i), failure);
          _exit(1);
        }
      }
      _exit(0);
    }
    readers.push_back(pid);
  }
  CheckWriterAndReaders(v, writer, readers);
}

// A file moved back and forth between two places while others open it by
// either name: an open finds the file (complete) or ENOENT, as on any local
// filesystem; the place binding must not mistake the move for tampering.
TEST_CASE("opening a file while it is being renamed gives its data or ENOENT", "[concurrency]") {
  MountedVault v;
  REQUIRE_SYS(mkdir(v.Path("d1").c_str(), 0755));
  const std::string content(5000, 'x');
  WriteOrDie(v.Path("a"), content);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  std::cout.flush();
  pid_t mover = fork();
  REQUIRE(mover >= 0);
  if (mover == 0) {
    while (std::chrono::steady_clock::now() < deadline) {
      if (rename(v.Path("a").c_str(), v.Path("d1/b").c_str()) != 0) _exit(1);
      if (rename(v.Path("d1/b").c_str(), v.Path("a").c_str()) != 0) _exit(2);
    }
    _exit(0);
  }
  std::vector<pid_t> readers;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::map<std::string, long> outcomes;
      while (std::chrono::steady_clock::now() < deadline) {
        for (const char* name : {"a", "d1/b"}) {
          auto r = ReadFile(v.Path(name));
          if (r.err != 0) {
            ++outcomes[strerrorname_np(r.err)];
          } else {
            ++outcomes[r.data == content ? "ok" : "WRONG DATA"];
          }
        }
      }
      std::string summary;
      bool bad = false;
      for (const auto& [what, n] : outcomes) {
        summary += what + "=" + std::to_string(n) + " ";
        if (what != "ok" && what != "ENOENT") bad = true;
      }
      WriteFile(v.root() + "/reader" + std::to_string(i), summary);
      _exit(bad ? 1 : 0);
    }
    readers.push_back(pid);
  }
  int status = 0;
  waitpid(mover, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  for (size_t i = 0; i < readers.size(); ++i) {
    waitpid(readers[i], &status, 0);
    INFO("reader " << i
                   << " outcomes: " << ReadFile(v.root() + "/reader" + std::to_string(i)).data);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  INFO("daemon log:\n" << v.DaemonLog());
  CHECK(v.DaemonLog().find("error") == std::string::npos);
  CHECK(ReadOrDie(v.Path("a")) == content);
}

// One process keeps overwriting a file in place while others read it: every
// read succeeds with the full size and only bytes some version had (the
// daemon must not decrypt a block while it is being rewritten).  Like a local
// filesystem, a read may mix versions, even within a page.
TEST_CASE("reading while another process overwrites never fails or returns garbage",
          "[concurrency]") {
  MountedVault v;
  const std::string path = v.Path("busy");
  constexpr size_t kSize = 4 * kBlockSize;
  WriteOrDie(path, std::string(kSize, 'a'));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  std::cout.flush();
  pid_t writer = fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    int fd = open(path.c_str(), O_WRONLY);
    if (fd < 0) _exit(1);
    for (int n = 0; std::chrono::steady_clock::now() < deadline; ++n) {
      if (PWriteAll(fd, std::string(kSize, static_cast<char>('a' + n % 26)), 0) != 0) _exit(2);
    }
    _exit(close(fd) == 0 ? 0 : 3);
  }
  std::vector<pid_t> readers;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      long reads = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        ++reads;
        auto r = ReadFile(path);
        std::string failure;
        if (r.err != 0) {
          failure = "read " + std::to_string(reads) + " failed with " + strerrorname_np(r.err);
        } else if (r.data.size() != kSize) {
          failure = "read " + std::to_string(reads) + " returned " + std::to_string(r.data.size()) +
                    " bytes";
        } else {
          size_t bad = r.data.find_first_not_of("abcdefghijklmnopqrstuvwxyz");
          if (bad != std::string::npos) {
            failure = "read " + std::to_string(reads) + ": byte " + std::to_string(bad) +
                      " was never written";
          }
        }
        if (!failure.empty()) {
          WriteFile(v.root() + "/reader" + std::to_string(i), failure);
          _exit(1);
        }
      }
      _exit(0);
    }
    readers.push_back(pid);
  }
  CheckWriterAndReaders(v, writer, readers);
}

}  // namespace strongroom::test
