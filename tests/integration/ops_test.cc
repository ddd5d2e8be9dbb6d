// Every file operation of issue 2 (item 6) on a real mount.
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
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

constexpr size_t kBoundarySizes[] = {0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 3 * 4096 + 17};

std::string Zeros(size_t n) { return std::string(n, '\0'); }

// Applies pwrite semantics to an in-memory model.
void ModelWrite(std::string& model, off_t off, const std::string& data) {
  size_t end = static_cast<size_t>(off) + data.size();
  if (model.size() < end) model.resize(end, '\0');
  model.replace(static_cast<size_t>(off), data.size(), data);
}

bool AllZero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

}  // namespace

TEST_CASE("files of block-boundary sizes read back exactly", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(1);
  for (size_t size : kBoundarySizes) {
    INFO("size " << size);
    std::string data = RandomBytes(size, rng);
    std::string one_write = v.Path("one-" + std::to_string(size));
    WriteOrDie(one_write, data);
    CHECK(static_cast<size_t>(StatOrDie(one_write).st_size) == size);
    CHECK_BYTES(ReadOrDie(one_write), data);

    // The same content in odd-sized pieces (partial-block read-modify-write).
    std::string pieces = v.Path("pieces-" + std::to_string(size));
    int fd = OpenOrDie(pieces, O_WRONLY | O_CREAT | O_TRUNC);
    for (size_t off = 0; off < size; off += 1000) {
      REQUIRE(PWriteAll(fd, data.substr(off, 1000), static_cast<off_t>(off)) == 0);
    }
    REQUIRE_SYS(close(fd));
    CHECK(static_cast<size_t>(StatOrDie(pieces).st_size) == size);
    CHECK_BYTES(ReadOrDie(pieces), data);

    // Reads at odd offsets across block boundaries.
    fd = OpenOrDie(one_write, O_RDONLY);
    for (size_t off : {0, 1, 4095, 4096, 4097, 8191, 8192, 8193, 12000, 20000}) {
      for (size_t len : {1, 2, 4096, 5000, 9000}) {
        INFO("pread off " << off << " len " << len);
        auto r = PRead(fd, static_cast<off_t>(off), len);
        REQUIRE(r.err == 0);
        std::string want = off < size ? data.substr(off, len) : "";
        CHECK_BYTES(r.data, want);
      }
    }
    REQUIRE_SYS(close(fd));
  }
}

TEST_CASE("overwrites at odd offsets across block boundaries", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(2);
  std::string model = RandomBytes(3 * 4096 + 100, rng);
  std::string path = v.Path("f");
  WriteOrDie(path, model);
  int fd = OpenOrDie(path, O_RDWR);
  const std::pair<off_t, size_t> writes[] = {{4090, 10},   {8190, 4100}, {1, 1},     {12287, 2},
                                             {0, 13000},   {4096, 4096}, {4095, 1},  {4097, 8191},
                                             {12200, 300}, {3, 4093},    {12388, 1}, {0, 1}};
  for (auto [off, len] : writes) {
    INFO("pwrite off " << off << " len " << len);
    std::string data = RandomBytes(len, rng);
    REQUIRE(PWriteAll(fd, data, off) == 0);
    ModelWrite(model, off, data);
    auto same_fd = PRead(fd, 0, model.size() + 10);
    REQUIRE(same_fd.err == 0);
    CHECK_BYTES(same_fd.data, model);
    CHECK_BYTES(ReadOrDie(path), model);
    CHECK(static_cast<size_t>(StatOrDie(path).st_size) == model.size());
  }
  REQUIRE_SYS(close(fd));
  CHECK_BYTES(ReadOrDie(path), model);
}

TEST_CASE("writes far beyond EOF leave holes that read as zeros", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(3);

  SECTION("small file, far hole") {
    std::string path = v.Path("h1");
    std::string model = RandomBytes(10, rng);
    WriteOrDie(path, model);
    int fd = OpenOrDie(path, O_RDWR);
    const off_t far = 16 * 1024 * 1024 + 123;
    REQUIRE(PWriteAll(fd, "tail", far) == 0);
    ModelWrite(model, far, "tail");
    REQUIRE_SYS(close(fd));
    CHECK(StatOrDie(path).st_size == far + 4);
    std::string got = ReadOrDie(path);
    CHECK_BYTES(got, model);
  }
  SECTION("empty file, hole before first data") {
    std::string path = v.Path("h2");
    int fd = OpenOrDie(path, O_RDWR | O_CREAT | O_EXCL);
    std::string data = RandomBytes(5000, rng);
    REQUIRE(PWriteAll(fd, data, 5 * 4096 + 7) == 0);
    REQUIRE_SYS(close(fd));
    CHECK_BYTES(ReadOrDie(path), Zeros(5 * 4096 + 7) + data);
  }
  SECTION("partial last block is zero-extended, never stale") {
    std::string path = v.Path("h3");
    std::string model = RandomBytes(8192, rng);
    WriteOrDie(path, model);
    int fd = OpenOrDie(path, O_RDWR);
    REQUIRE_SYS(ftruncate(fd, 5000));  // old bytes 5000..8191 must not reappear
    model.resize(5000);
    REQUIRE(PWriteAll(fd, "X", 6000) == 0);
    ModelWrite(model, 6000, "X");
    REQUIRE(PWriteAll(fd, "Y", 3 * 4096 + 5) == 0);
    ModelWrite(model, 3 * 4096 + 5, "Y");
    REQUIRE_SYS(close(fd));
    CHECK_BYTES(ReadOrDie(path), model);
  }
  SECTION("lseek past EOF then write") {
    std::string path = v.Path("h4");
    int fd = OpenOrDie(path, O_WRONLY | O_CREAT | O_TRUNC);
    REQUIRE_SYS(write(fd, "ab", 2));
    REQUIRE(lseek(fd, 100000, SEEK_SET) == 100000);
    REQUIRE(write(fd, "cd", 2) == 2);
    REQUIRE_SYS(close(fd));
    CHECK_BYTES(ReadOrDie(path), "ab" + Zeros(100000 - 2) + "cd");
  }
}

TEST_CASE("O_APPEND from two processes loses and overwrites nothing", "[ops]") {
  MountedVault v;
  std::string path = v.Path("log");
  WriteOrDie(path, "");
  constexpr int kRecords = 400;
  constexpr size_t kRecordSize = 777;  // not a divisor of the block size
  auto writer = [&](char id) {
    return [&, id]() {
      int fd = open(path.c_str(), O_WRONLY | O_APPEND);
      if (fd < 0) return errno;
      for (int i = 0; i < kRecords; ++i) {
        char head[32];
        snprintf(head, sizeof head, "%c%06d|", id, i);
        std::string rec(head);
        rec.resize(kRecordSize - 1, id);
        rec.push_back('\n');
        if (write(fd, rec.data(), rec.size()) != static_cast<ssize_t>(rec.size())) return errno;
      }
      return close(fd) == 0 ? 0 : errno;
    };
  };
  std::cout.flush();
  pid_t a = fork();
  if (a == 0) _exit(writer('A')());
  pid_t b = fork();
  if (b == 0) _exit(writer('B')());
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  REQUIRE(WIFEXITED(sa));
  REQUIRE(WEXITSTATUS(sa) == 0);
  REQUIRE(WIFEXITED(sb));
  REQUIRE(WEXITSTATUS(sb) == 0);

  std::string got = ReadOrDie(path);
  REQUIRE(got.size() == 2 * kRecords * kRecordSize);
  std::map<char, int> next{{'A', 0}, {'B', 0}};
  for (size_t off = 0; off < got.size(); off += kRecordSize) {
    std::string rec = got.substr(off, kRecordSize);
    char id = rec[0];
    INFO("record at offset " << off << " starts with " << rec.substr(0, 8));
    REQUIRE((id == 'A' || id == 'B'));
    char head[32];
    snprintf(head, sizeof head, "%c%06d|", id, next[id]);
    std::string want(head);
    want.resize(kRecordSize - 1, id);
    want.push_back('\n');
    REQUIRE(rec == want);
    ++next[id];
  }
  CHECK(next['A'] == kRecords);
  CHECK(next['B'] == kRecords);
}

TEST_CASE("two processes writing disjoint bytes of the same blocks lose nothing", "[ops]") {
  MountedVault v;
  std::string path = v.Path("shared-blocks");
  constexpr size_t kSize = 4 * kBlockSize + 123;
  WriteOrDie(path, std::string(kSize, '.'));
  // Process A writes the even 100-byte stripes, B the odd ones, many times
  // over: each write is a read-modify-write of a block the other also writes.
  auto writer = [&](int parity, char fill) {
    return [&, parity, fill]() {
      int fd = open(path.c_str(), O_WRONLY);
      if (fd < 0) return errno;
      for (int round = 0; round < 20; ++round) {
        for (size_t off = static_cast<size_t>(parity) * 100; off < kSize; off += 200) {
          std::string stripe(std::min<size_t>(100, kSize - off), fill);
          if (PWriteAll(fd, stripe, static_cast<off_t>(off)) != 0) return errno;
        }
      }
      return close(fd) == 0 ? 0 : errno;
    };
  };
  std::cout.flush();
  pid_t a = fork();
  if (a == 0) _exit(writer(0, 'A')());
  pid_t b = fork();
  if (b == 0) _exit(writer(1, 'B')());
  int sa = 0, sb = 0;
  waitpid(a, &sa, 0);
  waitpid(b, &sb, 0);
  REQUIRE(WIFEXITED(sa));
  REQUIRE(WEXITSTATUS(sa) == 0);
  REQUIRE(WIFEXITED(sb));
  REQUIRE(WEXITSTATUS(sb) == 0);
  std::string want(kSize, '.');
  for (size_t off = 0; off < kSize; off += 100) {
    std::fill(want.begin() + static_cast<long>(off),
              want.begin() + static_cast<long>(std::min(kSize, off + 100)),
              (off / 100) % 2 == 0 ? 'A' : 'B');
  }
  CHECK_BYTES(ReadOrDie(path), want);
}

TEST_CASE("a large file written in odd-sized chunks reads back exactly", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(8);
  const std::string data = RandomBytes(3 * 1024 * 1024 + 7, rng);
  std::string path = v.Path("large");
  int fd = OpenOrDie(path, O_WRONLY | O_CREAT | O_TRUNC);
  for (size_t off = 0; off < data.size(); off += 100003) {
    std::string chunk = data.substr(off, 100003);
    REQUIRE(write(fd, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
  }
  REQUIRE_SYS(close(fd));
  CHECK(static_cast<size_t>(StatOrDie(path).st_size) == data.size());
  CHECK_BYTES(ReadOrDie(path), data);
  // Random reads of odd sizes.
  fd = OpenOrDie(path, O_RDONLY);
  for (int i = 0; i < 200; ++i) {
    size_t off = std::uniform_int_distribution<size_t>(0, data.size())(rng);
    size_t len = std::uniform_int_distribution<size_t>(0, 300000)(rng);
    auto r = PRead(fd, static_cast<off_t>(off), len);
    REQUIRE(r.err == 0);
    REQUIRE(r.data == data.substr(off, len));
  }
  REQUIRE_SYS(close(fd));
}

TEST_CASE("truncate up and down, including mid-block", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(4);
  std::string path = v.Path("t");
  std::string model = RandomBytes(3 * 4096 + 500, rng);
  WriteOrDie(path, model);
  int fd = OpenOrDie(path, O_RDWR);
  int step = 0;
  for (size_t size : {5000, 4096, 4097, 8193, 1, 0, 12000, 6000, 20000, 4095, 4096, 100}) {
    INFO("truncate to " << size);
    if (step++ % 2 == 0) {
      REQUIRE_SYS(ftruncate(fd, static_cast<off_t>(size)));
    } else {
      REQUIRE_SYS(truncate(path.c_str(), static_cast<off_t>(size)));
    }
    model.resize(size, '\0');
    CHECK(static_cast<size_t>(StatOrDie(path).st_size) == size);
    CHECK_BYTES(ReadOrDie(path), model);
    auto r = PRead(fd, 0, size + 100);
    REQUIRE(r.err == 0);
    CHECK_BYTES(r.data, model);
    // Dirty the tail after each step so the next truncation has something to cut.
    std::string data = RandomBytes(700, rng);
    off_t off = static_cast<off_t>(size > 300 ? size - 300 : 0);
    REQUIRE(PWriteAll(fd, data, off) == 0);
    ModelWrite(model, off, data);
  }
  REQUIRE_SYS(close(fd));
  CHECK_BYTES(ReadOrDie(path), model);

  // O_TRUNC on an existing file.
  fd = OpenOrDie(path, O_WRONLY | O_TRUNC);
  REQUIRE_SYS(close(fd));
  CHECK(StatOrDie(path).st_size == 0);
  CHECK(ReadOrDie(path).empty());
}

TEST_CASE("rename files: new name, replacing, across directories, open handle", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("a"), "content-a");
  WriteOrDie(v.Path("c"), "content-c");
  REQUIRE_SYS(mkdir(v.Path("d1").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("d2").c_str(), 0755));

  REQUIRE_SYS(rename(v.Path("a").c_str(), v.Path("b").c_str()));
  CHECK_ERRNO(access(v.Path("a").c_str(), F_OK), ENOENT);
  CHECK(ReadOrDie(v.Path("b")) == "content-a");

  // Replacing an existing file.
  REQUIRE_SYS(rename(v.Path("b").c_str(), v.Path("c").c_str()));
  CHECK(ReadOrDie(v.Path("c")) == "content-a");
  CHECK_ERRNO(access(v.Path("b").c_str(), F_OK), ENOENT);

  // Across directories, with a name change.
  WriteOrDie(v.Path("d1/x"), "content-x");
  REQUIRE_SYS(rename(v.Path("d1/x").c_str(), v.Path("d2/y").c_str()));
  CHECK(ReadOrDie(v.Path("d2/y")) == "content-x");
  CHECK(Names(*ListDir(v.Path("d1"))).empty());
  CHECK(Names(*ListDir(v.Path("d2"))) == std::vector<std::string>{"y"});

  // A handle stays valid across the rename, and writes through it land in the renamed file.
  int fd = OpenOrDie(v.Path("d2/y"), O_RDWR);
  REQUIRE_SYS(rename(v.Path("d2/y").c_str(), v.Path("d1/z").c_str()));
  REQUIRE(PWriteAll(fd, "-more", 9) == 0);
  auto r = PRead(fd, 0, 100);
  REQUIRE(r.err == 0);
  CHECK(r.data == "content-x-more");
  REQUIRE_SYS(close(fd));
  CHECK(ReadOrDie(v.Path("d1/z")) == "content-x-more");

  // Renaming to itself changes nothing.
  REQUIRE_SYS(rename(v.Path("c").c_str(), v.Path("c").c_str()));
  CHECK(ReadOrDie(v.Path("c")) == "content-a");

  // Type mismatches.
  CHECK_ERRNO(rename(v.Path("c").c_str(), v.Path("d1").c_str()), EISDIR);
  CHECK_ERRNO(rename(v.Path("d2").c_str(), v.Path("c").c_str()), ENOTDIR);
  CHECK_ERRNO(rename(v.Path("missing").c_str(), v.Path("c").c_str()), ENOENT);
  CHECK(ReadOrDie(v.Path("c")) == "content-a");

  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"c", "d1", "d2"});
}

TEST_CASE("rename directories keeps their contents", "[ops]") {
  MountedVault v;
  REQUIRE_SYS(mkdir(v.Path("src").c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("src/sub").c_str(), 0755));
  WriteOrDie(v.Path("src/f"), "ff");
  WriteOrDie(v.Path("src/sub/g"), "gg");
  REQUIRE_SYS(symlink("../f", v.Path("src/sub/link").c_str()));
  REQUIRE_SYS(mkdir(v.Path("other").c_str(), 0755));

  REQUIRE_SYS(rename(v.Path("src").c_str(), v.Path("other/dst").c_str()));
  CHECK_ERRNO(access(v.Path("src").c_str(), F_OK), ENOENT);
  CHECK(ReadOrDie(v.Path("other/dst/f")) == "ff");
  CHECK(ReadOrDie(v.Path("other/dst/sub/g")) == "gg");
  CHECK(ReadOrDie(v.Path("other/dst/sub/link")) == "ff");
  CHECK(Names(*ListDir(v.Path("other/dst"))) == std::vector<std::string>{"f", "sub"});

  // New entries in the moved directory work.
  WriteOrDie(v.Path("other/dst/sub/h"), "hh");
  CHECK(ReadOrDie(v.Path("other/dst/sub/h")) == "hh");

  // Over an empty directory: replaces it.
  REQUIRE_SYS(mkdir(v.Path("empty").c_str(), 0755));
  REQUIRE_SYS(rename(v.Path("other/dst").c_str(), v.Path("empty").c_str()));
  CHECK(ReadOrDie(v.Path("empty/sub/g")) == "gg");

  // Over a non-empty directory: refused.
  REQUIRE_SYS(mkdir(v.Path("full").c_str(), 0755));
  WriteOrDie(v.Path("full/keep"), "k");
  errno = 0;
  int rc = rename(v.Path("empty").c_str(), v.Path("full").c_str());
  int err = errno;
  CHECK(rc == -1);
  CHECK((err == ENOTEMPTY || err == EEXIST));
  CHECK(ReadOrDie(v.Path("full/keep")) == "k");
  CHECK(ReadOrDie(v.Path("empty/f")) == "ff");

  // Into its own subdirectory: refused.
  CHECK_ERRNO(rename(v.Path("empty").c_str(), v.Path("empty/sub/x").c_str()), EINVAL);
}

TEST_CASE("renameat2 RENAME_NOREPLACE and RENAME_EXCHANGE", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("p"), "content-p");
  WriteOrDie(v.Path("q"), "content-q");
  REQUIRE_SYS(mkdir(v.Path("dir").c_str(), 0755));
  WriteOrDie(v.Path("dir/inside"), "in");

  CHECK_ERRNO(
      renameat2(AT_FDCWD, v.Path("p").c_str(), AT_FDCWD, v.Path("q").c_str(), RENAME_NOREPLACE),
      EEXIST);
  CHECK(ReadOrDie(v.Path("p")) == "content-p");
  CHECK(ReadOrDie(v.Path("q")) == "content-q");
  REQUIRE_SYS(
      renameat2(AT_FDCWD, v.Path("p").c_str(), AT_FDCWD, v.Path("p2").c_str(), RENAME_NOREPLACE));
  CHECK(ReadOrDie(v.Path("p2")) == "content-p");
  CHECK_ERRNO(access(v.Path("p").c_str(), F_OK), ENOENT);

  // Exchange two files.
  REQUIRE_SYS(
      renameat2(AT_FDCWD, v.Path("p2").c_str(), AT_FDCWD, v.Path("q").c_str(), RENAME_EXCHANGE));
  CHECK(ReadOrDie(v.Path("p2")) == "content-q");
  CHECK(ReadOrDie(v.Path("q")) == "content-p");

  // Exchange a file and a directory, across parents.
  REQUIRE_SYS(
      renameat2(AT_FDCWD, v.Path("q").c_str(), AT_FDCWD, v.Path("dir").c_str(), RENAME_EXCHANGE));
  CHECK(S_ISDIR(StatOrDie(v.Path("q")).st_mode));
  CHECK(ReadOrDie(v.Path("q/inside")) == "in");
  CHECK(ReadOrDie(v.Path("dir")) == "content-p");
  WriteOrDie(v.Path("q/new"), "new");
  CHECK(ReadOrDie(v.Path("q/new")) == "new");

  // Exchange with a missing entry.
  CHECK_ERRNO(renameat2(AT_FDCWD, v.Path("p2").c_str(), AT_FDCWD, v.Path("nothing").c_str(),
                        RENAME_EXCHANGE),
              ENOENT);
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"dir", "p2", "q"});
}

TEST_CASE("unlink", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "data");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  REQUIRE_SYS(symlink("f", v.Path("l").c_str()));
  REQUIRE_SYS(unlink(v.Path("l").c_str()));
  CHECK(ReadOrDie(v.Path("f")) == "data");  // the target survives
  REQUIRE_SYS(unlink(v.Path("f").c_str()));
  CHECK_ERRNO(access(v.Path("f").c_str(), F_OK), ENOENT);
  CHECK_ERRNO(open(v.Path("f").c_str(), O_RDONLY), ENOENT);
  CHECK_ERRNO(unlink(v.Path("f").c_str()), ENOENT);
  CHECK_ERRNO(unlink(v.Path("d").c_str()), EISDIR);
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"d"});
  // The name can be reused for an independent new file.
  WriteOrDie(v.Path("f"), "new");
  CHECK(ReadOrDie(v.Path("f")) == "new");
}

TEST_CASE("open, unlink, read, close: the file stays usable through open handles", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(5);
  std::string data = RandomBytes(3 * 4096 + 11, rng);
  WriteOrDie(v.Path("f"), data);
  int fd = OpenOrDie(v.Path("f"), O_RDWR);
  int fd2 = OpenOrDie(v.Path("f"), O_RDONLY);
  REQUIRE_SYS(unlink(v.Path("f").c_str()));
  CHECK_ERRNO(access(v.Path("f").c_str(), F_OK), ENOENT);
  // No trace of the name, and no hidden placeholder, in the listing.
  CHECK(ListDir(v.mnt())->empty());

  auto r = PRead(fd, 0, data.size() + 10);
  REQUIRE(r.err == 0);
  CHECK_BYTES(r.data, data);
  REQUIRE(PWriteAll(fd, "appended", static_cast<off_t>(data.size())) == 0);
  data += "appended";
  struct stat st {};
  REQUIRE_SYS(fstat(fd, &st));
  CHECK(static_cast<size_t>(st.st_size) == data.size());
  r = PRead(fd2, 0, data.size() + 10);
  REQUIRE(r.err == 0);
  CHECK_BYTES(r.data, data);

  // A new file under the old name is independent.
  WriteOrDie(v.Path("f"), "fresh");
  CHECK(ReadOrDie(v.Path("f")) == "fresh");
  r = PRead(fd, 0, data.size());
  REQUIRE(r.err == 0);
  CHECK_BYTES(r.data, data);
  REQUIRE_SYS(close(fd));
  r = PRead(fd2, 0, data.size());
  REQUIRE(r.err == 0);
  CHECK_BYTES(r.data, data);
  REQUIRE_SYS(close(fd2));
  CHECK(ReadOrDie(v.Path("f")) == "fresh");
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"f"});
}

TEST_CASE("mkdir and rmdir", "[ops]") {
  MountedVault v;
  umask(0);
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0750));
  struct stat st = StatOrDie(v.Path("d"));
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0750);
  CHECK_ERRNO(mkdir(v.Path("d").c_str(), 0755), EEXIST);
  CHECK_ERRNO(mkdir(v.Path("missing/d").c_str(), 0755), ENOENT);
  REQUIRE_SYS(mkdir(v.Path("d/e").c_str(), 0755));
  WriteOrDie(v.Path("d/e/f"), "x");
  WriteOrDie(v.Path("file"), "x");
  CHECK_ERRNO(mkdir(v.Path("file").c_str(), 0755), EEXIST);
  CHECK_ERRNO(mkdir(v.Path("file/sub").c_str(), 0755), ENOTDIR);
  CHECK_ERRNO(rmdir(v.Path("d").c_str()), ENOTEMPTY);
  CHECK_ERRNO(rmdir(v.Path("d/e").c_str()), ENOTEMPTY);
  CHECK_ERRNO(rmdir(v.Path("file").c_str()), ENOTDIR);
  CHECK_ERRNO(rmdir(v.Path("nothing").c_str()), ENOENT);
  REQUIRE_SYS(unlink(v.Path("d/e/f").c_str()));
  REQUIRE_SYS(rmdir(v.Path("d/e").c_str()));
  REQUIRE_SYS(rmdir(v.Path("d").c_str()));
  CHECK_ERRNO(access(v.Path("d").c_str(), F_OK), ENOENT);
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"file"});
  // Deep nesting.
  std::string deep;
  for (int i = 0; i < 20; ++i) {
    deep += (deep.empty() ? "" : "/") + std::string("level") + std::to_string(i);
    REQUIRE_SYS(mkdir(v.Path(deep).c_str(), 0755));
  }
  WriteOrDie(v.Path(deep + "/leaf"), "leaf");
  CHECK(ReadOrDie(v.Path(deep + "/leaf")) == "leaf");
}

TEST_CASE("readdir lists exactly what was created, with types", "[ops]") {
  MountedVault v;
  std::map<std::string, unsigned char> want;
  for (int i = 0; i < 300; ++i) {
    std::string name = "file-" + std::to_string(i);
    WriteOrDie(v.Path(name), name);
    want[name] = DT_REG;
  }
  // Names that look like the backing format or are otherwise awkward.
  for (std::string name :
       {".dirid", "~abcdef", "strongroom.db", "tree", "AAAAAAAAAAAAAAAAAAAAAA", "with space",
        "-dash", "ünïcödé", "new\nline", "tab\tx", ".hidden", "..dots", "a=b", "%2F"}) {
    WriteOrDie(v.Path(name), name);
    want[name] = DT_REG;
  }
  for (int i = 0; i < 5; ++i) {
    std::string name = "dir-" + std::to_string(i);
    REQUIRE_SYS(mkdir(v.Path(name).c_str(), 0755));
    want[name] = DT_DIR;
  }
  REQUIRE_SYS(symlink("file-0", v.Path("link").c_str()));
  want["link"] = DT_LNK;

  auto entries = ListDir(v.mnt());
  REQUIRE(entries);
  std::map<std::string, unsigned char> got;
  for (const auto& e : *entries) {
    INFO("entry " << e.name);
    CHECK(got.count(e.name) == 0);  // no duplicates
    got[e.name] = e.type;
  }
  REQUIRE(got.size() == want.size());
  for (const auto& [name, type] : want) {
    INFO("name " << name);
    REQUIRE(got.count(name) == 1);
    if (got[name] != DT_UNKNOWN) CHECK(got[name] == type);
    if (type == DT_REG) CHECK(ReadOrDie(v.Path(name)) == name);
  }
  // "." and ".." are reported.
  DIR* d = opendir(v.mnt().c_str());
  REQUIRE(d);
  std::set<std::string> dots;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") dots.insert(n);
  }
  closedir(d);
  CHECK(dots.size() == 2);
  CHECK(ListDir(v.Path("dir-0"))->empty());
}

TEST_CASE("symlink and readlink", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("target.txt"), "target content");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  const std::string long_target = "x/" + std::string(3000, 'y');
  const std::map<std::string, std::string> links = {
      {"rel", "target.txt"},    {"d/up", "../target.txt"},
      {"abs", "/etc/hostname"}, {"dangling", "does/not/exist"},
      {"long", long_target},    {"weird", "spaces and\nnewline \xff\xfe"},
  };
  for (const auto& [name, target] : links) {
    REQUIRE_SYS(symlink(target.c_str(), v.Path(name).c_str()));
  }
  for (const auto& [name, target] : links) {
    INFO("link " << name);
    char buf[8192];
    ssize_t n = readlink(v.Path(name).c_str(), buf, sizeof buf);
    REQUIRE(n >= 0);
    CHECK(std::string(buf, static_cast<size_t>(n)) == target);
    struct stat st = StatOrDie(v.Path(name));
    CHECK(S_ISLNK(st.st_mode));
    CHECK(static_cast<size_t>(st.st_size) == target.size());
  }
  CHECK(ReadOrDie(v.Path("rel")) == "target content");
  CHECK(ReadOrDie(v.Path("d/up")) == "target content");
  CHECK_ERRNO(open(v.Path("dangling").c_str(), O_RDONLY), ENOENT);
  CHECK_ERRNO(open(v.Path("rel").c_str(), O_RDONLY | O_NOFOLLOW), ELOOP);
  char buf[16];
  CHECK_ERRNO(readlink(v.Path("target.txt").c_str(), buf, sizeof buf), EINVAL);
  CHECK_ERRNO(symlink("x", v.Path("rel").c_str()), EEXIST);
  // Renaming a symlink keeps its target.
  REQUIRE_SYS(rename(v.Path("rel").c_str(), v.Path("d/rel2").c_str()));
  char out[64];
  ssize_t n = readlink(v.Path("d/rel2").c_str(), out, sizeof out);
  REQUIRE(n >= 0);
  CHECK(std::string(out, static_cast<size_t>(n)) == "target.txt");
}

TEST_CASE("chmod", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "x");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  for (mode_t mode : {0600, 0754, 0, 0777, 0640, 01755, 02750}) {
    INFO("mode " << std::oct << mode);
    REQUIRE_SYS(chmod(v.Path("f").c_str(), mode));
    CHECK((StatOrDie(v.Path("f")).st_mode & 07777) == mode);
    CHECK(S_ISREG(StatOrDie(v.Path("f")).st_mode));
  }
  for (mode_t mode : {0700, 0711, 01777, 0755}) {
    INFO("dir mode " << std::oct << mode);
    REQUIRE_SYS(chmod(v.Path("d").c_str(), mode));
    CHECK((StatOrDie(v.Path("d")).st_mode & 07777) == mode);
  }
  int fd = OpenOrDie(v.Path("f"), O_RDONLY);
  REQUIRE_SYS(fchmod(fd, 0604));
  struct stat st {};
  REQUIRE_SYS(fstat(fd, &st));
  CHECK((st.st_mode & 07777) == 0604);
  REQUIRE_SYS(close(fd));
  CHECK((StatOrDie(v.Path("f")).st_mode & 07777) == 0604);
  CHECK(ReadOrDie(v.Path("f")) == "x");
}

TEST_CASE("chown as root", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "x");
  CHECK(StatOrDie(v.Path("f")).st_uid == 0);
  REQUIRE_SYS(chown(v.Path("f").c_str(), 1000, 1000));
  struct stat st = StatOrDie(v.Path("f"));
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1000);
  REQUIRE_SYS(chown(v.Path("f").c_str(), static_cast<uid_t>(-1), 2000));
  st = StatOrDie(v.Path("f"));
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 2000);
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  REQUIRE_SYS(chown(v.Path("d").c_str(), 1001, 1001));
  CHECK(StatOrDie(v.Path("d")).st_uid == 1001);
  REQUIRE_SYS(symlink("f", v.Path("l").c_str()));
  REQUIRE_SYS(lchown(v.Path("l").c_str(), 1002, 1002));
  CHECK(StatOrDie(v.Path("l")).st_uid == 1002);
  CHECK(StatOrDie(v.Path("f")).st_uid == 1000);
  int fd = OpenOrDie(v.Path("f"), O_RDONLY);
  REQUIRE_SYS(fchown(fd, 0, 0));
  REQUIRE_SYS(close(fd));
  CHECK(StatOrDie(v.Path("f")).st_uid == 0);
  CHECK(ReadOrDie(v.Path("f")) == "x");
}

TEST_CASE("utimensat keeps nanosecond precision and writes update mtime", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "x");
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  for (const char* name : {"f", "d"}) {
    INFO("entry " << name);
    struct timespec times[2] = {{1234567890, 123456789}, {1500000000, 987654321}};
    REQUIRE_SYS(utimensat(AT_FDCWD, v.Path(name).c_str(), times, 0));
    struct stat st = StatOrDie(v.Path(name));
    CHECK(st.st_atim.tv_sec == 1234567890);
    CHECK(st.st_atim.tv_nsec == 123456789);
    CHECK(st.st_mtim.tv_sec == 1500000000);
    CHECK(st.st_mtim.tv_nsec == 987654321);

    // UTIME_OMIT leaves a time alone.
    struct timespec omit[2] = {{0, UTIME_OMIT}, {1600000000, 1}};
    REQUIRE_SYS(utimensat(AT_FDCWD, v.Path(name).c_str(), omit, 0));
    st = StatOrDie(v.Path(name));
    CHECK(st.st_atim.tv_sec == 1234567890);
    CHECK(st.st_atim.tv_nsec == 123456789);
    CHECK(st.st_mtim.tv_sec == 1600000000);
    CHECK(st.st_mtim.tv_nsec == 1);
  }
  // futimens on an open file.
  int fd = OpenOrDie(v.Path("f"), O_RDWR);
  struct timespec times[2] = {{1000000000, 5}, {1000000001, 999999999}};
  REQUIRE_SYS(futimens(fd, times));
  struct stat st {};
  REQUIRE_SYS(fstat(fd, &st));
  CHECK(st.st_mtim.tv_sec == 1000000001);
  CHECK(st.st_mtim.tv_nsec == 999999999);
  // A write moves mtime forward to about now.
  REQUIRE(PWriteAll(fd, "more", 1) == 0);
  REQUIRE_SYS(close(fd));
  st = StatOrDie(v.Path("f"));
  CHECK(st.st_mtim.tv_sec > time(nullptr) - 60);
  // So does truncate.
  REQUIRE_SYS(utimensat(AT_FDCWD, v.Path("f").c_str(), times, 0));
  REQUIRE_SYS(truncate(v.Path("f").c_str(), 2));
  CHECK(StatOrDie(v.Path("f")).st_mtim.tv_sec > time(nullptr) - 60);
  // UTIME_NOW.
  struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  REQUIRE_SYS(utimensat(AT_FDCWD, v.Path("d").c_str(), now, 0));
  CHECK(StatOrDie(v.Path("d")).st_mtim.tv_sec > time(nullptr) - 60);
}

TEST_CASE("statfs", "[ops]") {
  MountedVault v;
  struct statvfs sv {};
  REQUIRE_SYS(statvfs(v.mnt().c_str(), &sv));
  CHECK(sv.f_bsize > 0);
  CHECK(sv.f_blocks > 0);
  CHECK(sv.f_bavail <= sv.f_blocks);
  CHECK(sv.f_namemax >= 255);
  WriteOrDie(v.Path("f"), "x");
  REQUIRE_SYS(statvfs(v.Path("f").c_str(), &sv));
}

TEST_CASE("fsync and fdatasync on files and directories", "[ops]") {
  MountedVault v;
  REQUIRE_SYS(mkdir(v.Path("d").c_str(), 0755));
  int fd = OpenOrDie(v.Path("d/f"), O_RDWR | O_CREAT | O_EXCL);
  REQUIRE(PWriteAll(fd, std::string(10000, 'z'), 0) == 0);
  CHECK_SYS(fsync(fd));
  REQUIRE(PWriteAll(fd, "abc", 5000) == 0);
  CHECK_SYS(fdatasync(fd));
  REQUIRE_SYS(close(fd));
  int dfd = OpenOrDie(v.Path("d"), O_RDONLY | O_DIRECTORY);
  CHECK_SYS(fsync(dfd));
  CHECK_SYS(fdatasync(dfd));
  REQUIRE_SYS(close(dfd));
  int rfd = OpenOrDie(v.mnt(), O_RDONLY | O_DIRECTORY);
  CHECK_SYS(fsync(rfd));
  REQUIRE_SYS(close(rfd));
  std::string want(10000, 'z');
  want.replace(5000, 3, "abc");
  CHECK_BYTES(ReadOrDie(v.Path("d/f")), want);
}

TEST_CASE("fallocate mode 0 grows the file and other modes work or are EOPNOTSUPP", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(6);
  std::string model = RandomBytes(100, rng);
  WriteOrDie(v.Path("f"), model);
  int fd = OpenOrDie(v.Path("f"), O_RDWR);

  REQUIRE_SYS(fallocate(fd, 0, 0, 10000));
  model.resize(10000, '\0');
  CHECK(StatOrDie(v.Path("f")).st_size == 10000);
  CHECK_BYTES(ReadOrDie(v.Path("f")), model);
  // Within the size: nothing changes.
  REQUIRE_SYS(fallocate(fd, 0, 50, 100));
  CHECK_BYTES(ReadOrDie(v.Path("f")), model);
  // Not starting at 0, ending beyond EOF.
  REQUIRE_SYS(fallocate(fd, 0, 9000, 3193));
  model.resize(12193, '\0');
  CHECK(StatOrDie(v.Path("f")).st_size == 12193);
  CHECK_BYTES(ReadOrDie(v.Path("f")), model);
  // Writable afterwards.
  std::string data = RandomBytes(5000, rng);
  REQUIRE(PWriteAll(fd, data, 4000) == 0);
  ModelWrite(model, 4000, data);
  CHECK_BYTES(ReadOrDie(v.Path("f")), model);

  auto try_mode = [&](int mode, off_t off, off_t len, auto&& apply) {
    INFO("fallocate mode " << mode << " off " << off << " len " << len);
    errno = 0;
    int rc = fallocate(fd, mode, off, len);
    int err = errno;
    if (rc == 0) {
      apply();
    } else {
      CHECK(err == EOPNOTSUPP);
    }
    CHECK(static_cast<size_t>(StatOrDie(v.Path("f")).st_size) == model.size());
    CHECK_BYTES(ReadOrDie(v.Path("f")), model);
  };
  try_mode(FALLOC_FL_KEEP_SIZE, 0, 50000, [] {});
  try_mode(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 5000,
           [&] { std::fill(model.begin() + 1000, model.begin() + 6000, '\0'); });
  try_mode(FALLOC_FL_ZERO_RANGE, 7000, 100,
           [&] { std::fill(model.begin() + 7000, model.begin() + 7100, '\0'); });
  REQUIRE_SYS(close(fd));
}

TEST_CASE("lseek SEEK_DATA and SEEK_HOLE are correct or cleanly refused", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(7);
  const off_t kFar = 1024 * 1024;
  std::string model = RandomBytes(4096, rng);
  std::string tail = RandomBytes(100, rng);
  ModelWrite(model, kFar, tail);
  int fd = OpenOrDie(v.Path("f"), O_RDWR | O_CREAT | O_TRUNC);
  REQUIRE(PWriteAll(fd, model.substr(0, 4096), 0) == 0);
  REQUIRE(PWriteAll(fd, tail, kFar) == 0);
  const off_t size = static_cast<off_t>(model.size());
  auto zeros_in = [&](off_t from, off_t to) {
    return AllZero(model.substr(static_cast<size_t>(from), static_cast<size_t>(to - from)));
  };
  for (off_t off : {off_t{0}, off_t{100}, off_t{4096}, off_t{5000}, off_t{512 * 1024}, kFar - 1,
                    kFar, kFar + 50}) {
    INFO("offset " << off);
    errno = 0;
    off_t d = lseek(fd, off, SEEK_DATA);
    int err = errno;
    if (d < 0) {
      INFO("SEEK_DATA errno " << err << " " << strerror(err));
      CHECK((err == EINVAL || err == EOPNOTSUPP));
    } else {
      // Everything skipped must be a hole (zeros), and d must be inside the file.
      CHECK(d >= off);
      CHECK(d < size);
      CHECK(zeros_in(off, std::min(d, size)));
    }
    errno = 0;
    off_t h = lseek(fd, off, SEEK_HOLE);
    err = errno;
    if (h < 0) {
      INFO("SEEK_HOLE errno " << err << " " << strerror(err));
      CHECK((err == EINVAL || err == EOPNOTSUPP));
    } else {
      CHECK(h >= off);
      CHECK(h <= size);
      if (h < size) CHECK(model[static_cast<size_t>(h)] == '\0');
    }
  }
  // At or beyond EOF there is no data.
  errno = 0;
  off_t d = lseek(fd, size, SEEK_DATA);
  int err = errno;
  CHECK(d == -1);
  CHECK((err == ENXIO || err == EINVAL || err == EOPNOTSUPP));
  REQUIRE_SYS(close(fd));
}

TEST_CASE("hard links and device nodes are refused with EPERM", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "x");
  CHECK_ERRNO(link(v.Path("f").c_str(), v.Path("hard").c_str()), EPERM);
  CHECK_ERRNO(mkfifo(v.Path("fifo").c_str(), 0644), EPERM);
  CHECK_ERRNO(mknod(v.Path("chr").c_str(), S_IFCHR | 0644, makedev(1, 3)), EPERM);
  CHECK_ERRNO(mknod(v.Path("blk").c_str(), S_IFBLK | 0644, makedev(7, 0)), EPERM);
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{"f"});
  CHECK(StatOrDie(v.Path("f")).st_nlink == 1);
  CHECK(ReadOrDie(v.Path("f")) == "x");
}

TEST_CASE("user.* extended attributes round-trip or are ENOTSUP", "[ops]") {
  MountedVault v;
  WriteOrDie(v.Path("f"), "x");
  const std::string value = "value\0with-nul-" + std::string(300, 'v');
  errno = 0;
  int rc = setxattr(v.Path("f").c_str(), "user.test", value.data(), value.size(), 0);
  int err = errno;
  char buf[4096];
  if (rc != 0) {
    INFO("setxattr errno " << err << " " << strerror(err));
    REQUIRE(err == ENOTSUP);
    errno = 0;
    ssize_t n = getxattr(v.Path("f").c_str(), "user.test", buf, sizeof buf);
    err = errno;
    CHECK(n == -1);
    CHECK((err == ENOTSUP || err == ENODATA));
    ssize_t list = listxattr(v.Path("f").c_str(), buf, sizeof buf);
    if (list >= 0)
      CHECK(std::string(buf, static_cast<size_t>(list)).find("user.test") == std::string::npos);
    return;
  }
  ssize_t n = getxattr(v.Path("f").c_str(), "user.test", buf, sizeof buf);
  REQUIRE(n >= 0);
  CHECK(std::string(buf, static_cast<size_t>(n)) == value);
  CHECK(getxattr(v.Path("f").c_str(), "user.test", nullptr, 0) ==
        static_cast<ssize_t>(value.size()));
  CHECK_ERRNO(setxattr(v.Path("f").c_str(), "user.test", "v", 1, XATTR_CREATE), EEXIST);
  CHECK_ERRNO(setxattr(v.Path("f").c_str(), "user.other", "v", 1, XATTR_REPLACE), ENODATA);
  REQUIRE_SYS(setxattr(v.Path("f").c_str(), "user.second", "2", 1, 0));
  ssize_t list = listxattr(v.Path("f").c_str(), buf, sizeof buf);
  REQUIRE(list >= 0);
  std::set<std::string> names;
  for (size_t i = 0; i < static_cast<size_t>(list);) {
    std::string name(buf + i);
    names.insert(name);
    i += name.size() + 1;
  }
  CHECK(names.count("user.test") == 1);
  CHECK(names.count("user.second") == 1);
  REQUIRE_SYS(removexattr(v.Path("f").c_str(), "user.test"));
  CHECK_ERRNO(getxattr(v.Path("f").c_str(), "user.test", buf, sizeof buf), ENODATA);
  CHECK_ERRNO(removexattr(v.Path("f").c_str(), "user.test"), ENODATA);
  CHECK(ReadOrDie(v.Path("f")) == "x");
}

TEST_CASE("names of 255 bytes work and 256 bytes is ENAMETOOLONG", "[ops]") {
  MountedVault v;
  const std::string n255a = std::string(255, 'a');
  std::string n255b = "b-" + RandomHex(60);
  n255b.resize(255, 'b');
  std::string n255u;                                    // multi-byte UTF-8, exactly 255 bytes
  while (n255u.size() + 2 <= 254) n255u += "\xc3\xa9";  // é
  n255u.resize(255, 'u');
  REQUIRE(n255a.size() == 255);
  REQUIRE(n255b.size() == 255);
  REQUIRE(n255u.size() == 255);
  const std::string n256 = std::string(256, 'c');

  WriteOrDie(v.Path(n255a), "A");
  WriteOrDie(v.Path(n255u), "U");
  REQUIRE_SYS(mkdir(v.Path(n255b).c_str(), 0755));
  WriteOrDie(v.Path(n255b + "/" + n255a), "nested");
  REQUIRE_SYS(symlink(n255a.c_str(), v.Path(n255b + "/" + n255u).c_str()));
  CHECK(ReadOrDie(v.Path(n255a)) == "A");
  CHECK(ReadOrDie(v.Path(n255u)) == "U");
  CHECK(ReadOrDie(v.Path(n255b + "/" + n255a)) == "nested");
  CHECK(ReadOrDie(v.Path(n255b + "/" + n255u)) == "nested");
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{n255a, n255b, n255u});
  CHECK(Names(*ListDir(v.Path(n255b))) == std::vector<std::string>{n255a, n255u});

  // Rename between long names, and between long and short names.
  std::string n255c = std::string(254, 'd') + "e";
  REQUIRE_SYS(rename(v.Path(n255a).c_str(), v.Path(n255c).c_str()));
  CHECK(ReadOrDie(v.Path(n255c)) == "A");
  CHECK_ERRNO(access(v.Path(n255a).c_str(), F_OK), ENOENT);
  REQUIRE_SYS(rename(v.Path(n255c).c_str(), v.Path("short").c_str()));
  REQUIRE_SYS(rename(v.Path("short").c_str(), v.Path(n255a).c_str()));
  CHECK(ReadOrDie(v.Path(n255a)) == "A");
  // Renaming the long-named directory keeps its long-named children.
  REQUIRE_SYS(rename(v.Path(n255b).c_str(), v.Path(n255c).c_str()));
  CHECK(ReadOrDie(v.Path(n255c + "/" + n255a)) == "nested");
  REQUIRE_SYS(unlink(v.Path(n255c + "/" + n255u).c_str()));
  REQUIRE_SYS(unlink(v.Path(n255c + "/" + n255a).c_str()));
  REQUIRE_SYS(rmdir(v.Path(n255c).c_str()));
  REQUIRE_SYS(unlink(v.Path(n255u).c_str()));
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{n255a});

  CHECK_ERRNO(open(v.Path(n256).c_str(), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
  CHECK_ERRNO(mkdir(v.Path(n256).c_str(), 0755), ENAMETOOLONG);
  CHECK_ERRNO(symlink("x", v.Path(n256).c_str()), ENAMETOOLONG);
  CHECK_ERRNO(rename(v.Path(n255a).c_str(), v.Path(n256).c_str()), ENAMETOOLONG);
  CHECK_ERRNO(access(v.Path(n256).c_str(), F_OK), ENAMETOOLONG);
  CHECK(Names(*ListDir(v.mnt())) == std::vector<std::string>{n255a});
}

TEST_CASE("changes are visible across processes without reopening", "[ops]") {
  MountedVault v;
  std::string path = v.Path("shared");
  WriteOrDie(path, "");
  int fd = OpenOrDie(path, O_RDWR);

  int rc = RunInChild([&] {
    int cfd = open(path.c_str(), O_WRONLY);
    if (cfd < 0) return 1;
    if (PWriteAll(cfd, std::string(5000, 'c'), 0) != 0) return 2;
    return close(cfd) == 0 ? 0 : 3;
  });
  REQUIRE(rc == 0);
  struct stat st {};
  REQUIRE_SYS(fstat(fd, &st));
  CHECK(st.st_size == 5000);
  auto r = PRead(fd, 0, 10000);
  REQUIRE(r.err == 0);
  CHECK(r.data == std::string(5000, 'c'));

  // The parent writes through its old descriptor; a new process sees it.
  REQUIRE(PWriteAll(fd, "PARENT", 4094) == 0);
  std::string want(5000, 'c');
  want.replace(4094, 6, "PARENT");
  rc = RunInChild([&] {
    auto cr = ReadFile(path);
    return cr.err == 0 && cr.data == want ? 0 : 1;
  });
  CHECK(rc == 0);

  // A child truncates while the parent keeps the file open.
  rc = RunInChild([&] { return truncate(path.c_str(), 10) == 0 ? 0 : errno; });
  REQUIRE(rc == 0);
  REQUIRE_SYS(fstat(fd, &st));
  CHECK(st.st_size == 10);
  r = PRead(fd, 0, 10000);
  REQUIRE(r.err == 0);
  CHECK(r.data == std::string(10, 'c'));

  // A child's new file and rename are visible at once.
  rc = RunInChild([&] {
    if (WriteFile(v.Path("from-child"), "hello") != 0) return 1;
    return rename(v.Path("from-child").c_str(), v.Path("renamed").c_str()) == 0 ? 0 : 2;
  });
  REQUIRE(rc == 0);
  CHECK(ReadOrDie(v.Path("renamed")) == "hello");
  CHECK_ERRNO(access(v.Path("from-child").c_str(), F_OK), ENOENT);
  REQUIRE_SYS(close(fd));
}

// A vault mounted with --posix-permissions where uids 1000 and 1001 may
// write everywhere: the kernel's mode-bit and ownership checks decide.
MountedVault::Options PosixOptions() {
  MountedVault::Options o;
  o.posix_permissions = true;
  return o;
}

void GrantPosixUsers(MountedVault& v) {
  for (int uid : {1000, 1001}) {
    v.Policy(MountedVault::Admin(), {"user", "add", "u" + std::to_string(uid), "--uid", std::to_string(uid)});
    v.Policy(MountedVault::Admin(), {"grant", v.mnt(), "u" + std::to_string(uid), "write"});
  }
}

TEST_CASE("several uids: ownership and Unix permission checks", "[ops][multiuid]") {
  MountedVault v(PosixOptions());
  GrantPosixUsers(v);
  umask(0);
  REQUIRE_SYS(chmod(v.mnt().c_str(), 0755));
  REQUIRE_SYS(mkdir(v.Path("shared").c_str(), 0777));
  const std::string shared = v.Path("shared");

  // uid 1000 creates files and a private directory.
  int rc = RunAs(1000, 1000, [&] {
    umask(0);
    if (WriteFile(shared + "/private", "secret-1000", 0600) != 0) return 1;
    if (WriteFile(shared + "/public", "public-1000", 0644) != 0) return 2;
    if (WriteFile(shared + "/group", "group-1000", 0640) != 0) return 3;
    if (mkdir((shared + "/dir1000").c_str(), 0700) != 0) return 4;
    if (WriteFile(shared + "/dir1000/inner", "inner", 0644) != 0) return 5;
    if (mkdir((shared + "/open1000").c_str(), 0755) != 0) return 6;
    if (WriteFile(shared + "/open1000/file", "file", 0666) != 0) return 7;
    return 0;
  });
  REQUIRE(rc == 0);
  for (const char* name : {"private", "public", "group", "dir1000", "dir1000/inner", "open1000"}) {
    INFO(name);
    struct stat st = StatOrDie(shared + "/" + name);
    CHECK(st.st_uid == 1000);
    CHECK(st.st_gid == 1000);
  }
  CHECK((StatOrDie(shared + "/private").st_mode & 0777) == 0600);
  REQUIRE_SYS(chown((shared + "/group").c_str(), 1000, 2000));

  // The owner reads and writes its own files.
  CHECK(RunAs(1000, 1000, [&] {
          auto r = ReadFile(shared + "/private");
          return r.err != 0 ? r.err : (r.data == "secret-1000" ? 0 : 1);
        }) == 0);

  // uid 1001 is held to the mode bits.
  auto as1001 = [&](const std::function<int()>& fn, std::vector<gid_t> groups = {}) {
    return RunAs(1001, 1001, fn, groups);
  };
  CHECK(as1001([&] { return ReadFile(shared + "/private").err; }) == EACCES);
  CHECK(as1001([&] { return open((shared + "/private").c_str(), O_WRONLY) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] { return access((shared + "/private").c_str(), R_OK) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] {
          auto r = ReadFile(shared + "/public");
          return r.err != 0 ? r.err : (r.data == "public-1000" ? 0 : 1);
        }) == 0);
  CHECK(as1001([&] { return open((shared + "/public").c_str(), O_WRONLY) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] { return truncate((shared + "/public").c_str(), 0) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] { return access((shared + "/public").c_str(), W_OK) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] { return chmod((shared + "/public").c_str(), 0666) < 0 ? errno : 0; }) == EPERM);
  CHECK(as1001([&] { return chown((shared + "/public").c_str(), 1001, 1001) < 0 ? errno : 0; }) ==
        EPERM);
  // Group bits with and without the supplementary group.
  CHECK(as1001([&] { return ReadFile(shared + "/group").err; }) == EACCES);
  CHECK(as1001([&] { return ReadFile(shared + "/group").err; }, {2000}) == 0);
  // Directories.
  CHECK(as1001([&] {
          int err = 0;
          return ListDir(shared + "/dir1000", &err) ? 0 : err;
        }) == EACCES);
  CHECK(as1001([&] { return ReadFile(shared + "/dir1000/inner").err; }) == EACCES);
  CHECK(as1001([&] { return WriteFile(shared + "/open1000/mine", "x"); }) == EACCES);
  CHECK(as1001([&] { return unlink((shared + "/open1000/file").c_str()) < 0 ? errno : 0; }) ==
        EACCES);
  CHECK(as1001([&] {
          return rename((shared + "/open1000/file").c_str(), (shared + "/stolen").c_str()) < 0
                     ? errno
                     : 0;
        }) == EACCES);
  // ... but may write a 0666 file in it.
  CHECK(as1001([&] { return WriteFile(shared + "/open1000/file", "by-1001", 0666); }) == 0);
  CHECK(ReadOrDie(shared + "/open1000/file") == "by-1001");
  CHECK_ERRNO(access((shared + "/open1000/mine").c_str(), F_OK), ENOENT);
  // uid 1001 can work in the shared directory, and owns what it creates.
  CHECK(as1001([&] { return WriteFile(shared + "/mine", "by-1001", 0600); }) == 0);
  CHECK(StatOrDie(shared + "/mine").st_uid == 1001);
  CHECK(StatOrDie(shared + "/mine").st_gid == 1001);
  CHECK(RunAs(1000, 1000, [&] { return ReadFile(shared + "/mine").err; }) == EACCES);
  // Nothing was changed by the refused calls.
  CHECK(ReadOrDie(shared + "/private") == "secret-1000");
  CHECK(ReadOrDie(shared + "/public") == "public-1000");
  CHECK((StatOrDie(shared + "/public").st_mode & 0777) == 0644);
  CHECK(StatOrDie(shared + "/public").st_uid == 1000);
  // Root (trusted) reads everything.
  CHECK(ReadOrDie(shared + "/dir1000/inner") == "inner");
}

TEST_CASE("umask, setgid directories and sticky directories behave as on Unix", "[ops][multiuid]") {
  MountedVault v(PosixOptions());
  GrantPosixUsers(v);
  REQUIRE_SYS(chmod(v.mnt().c_str(), 0755));
  // umask applies to new files and directories.
  umask(027);
  WriteOrDie(v.Path("masked"), "x", 0666);
  CHECK((StatOrDie(v.Path("masked")).st_mode & 07777) == 0640);
  REQUIRE_SYS(mkdir(v.Path("masked-dir").c_str(), 0777));
  CHECK((StatOrDie(v.Path("masked-dir")).st_mode & 07777) == 0750);
  umask(0);

  // A setgid directory passes its group on, and its setgid bit to subdirectories.
  REQUIRE_SYS(mkdir(v.Path("team").c_str(), 0777));
  REQUIRE_SYS(chown(v.Path("team").c_str(), 0, 2000));
  REQUIRE_SYS(chmod(v.Path("team").c_str(), 02777));
  int rc = RunAs(1000, 1000, [&] {
    umask(0);
    if (WriteFile(v.Path("team/file"), "x", 0644) != 0) return 1;
    if (mkdir(v.Path("team/sub").c_str(), 0755) != 0) return 2;
    return 0;
  });
  REQUIRE(rc == 0);
  struct stat file_st = StatOrDie(v.Path("team/file"));
  CHECK(file_st.st_uid == 1000);
  CHECK(file_st.st_gid == 2000);
  struct stat sub_st = StatOrDie(v.Path("team/sub"));
  CHECK(sub_st.st_gid == 2000);
  CHECK((sub_st.st_mode & S_ISGID) != 0);

  // In a sticky directory only the owner (or root) may remove or rename a file.
  REQUIRE_SYS(mkdir(v.Path("sticky").c_str(), 01777));
  REQUIRE_SYS(chmod(v.Path("sticky").c_str(), 01777));
  REQUIRE(RunAs(1000, 1000, [&] { return WriteFile(v.Path("sticky/mine"), "x", 0666); }) == 0);
  int err =
      RunAs(1001, 1001, [&] { return unlink(v.Path("sticky/mine").c_str()) == 0 ? 0 : errno; });
  CHECK((err == EPERM || err == EACCES));
  err = RunAs(1001, 1001, [&] {
    return rename(v.Path("sticky/mine").c_str(), v.Path("sticky/taken").c_str()) == 0 ? 0 : errno;
  });
  CHECK((err == EPERM || err == EACCES));
  CHECK(ReadOrDie(v.Path("sticky/mine")) == "x");
  CHECK(RunAs(1000, 1000, [&] { return unlink(v.Path("sticky/mine").c_str()) == 0 ? 0 : errno; }) ==
        0);
}

TEST_CASE("memory-mapped reads and writes", "[ops]") {
  MountedVault v;
  std::mt19937_64 rng(9);
  std::string data = RandomBytes(3 * kBlockSize + 500, rng);
  WriteOrDie(v.Path("mapped"), data);
  int fd = OpenOrDie(v.Path("mapped"), O_RDWR);
  void* ro = mmap(nullptr, data.size(), PROT_READ, MAP_SHARED, fd, 0);
  REQUIRE(ro != MAP_FAILED);
  CHECK(std::string(static_cast<char*>(ro), data.size()) == data);
  munmap(ro, data.size());

  errno = 0;
  void* rw = mmap(nullptr, data.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (rw == MAP_FAILED) {
    // Shared writable maps may be unsupported (e.g. direct I/O), never half-working.
    INFO("shared writable mmap: " << strerror(errno));
    CHECK(errno == ENODEV);
  } else {
    auto* p = static_cast<char*>(rw);
    std::memcpy(p + 4090, "MAPPED-WRITE", 12);
    data.replace(4090, 12, "MAPPED-WRITE");
    REQUIRE_SYS(msync(rw, data.size(), MS_SYNC));
    munmap(rw, data.size());
    auto r = PRead(fd, 0, data.size());
    REQUIRE(r.err == 0);
    CHECK_BYTES(r.data, data);
  }
  REQUIRE_SYS(close(fd));
  CHECK_BYTES(ReadOrDie(v.Path("mapped")), data);
  v.Unmount();
  v.Mount();
  CHECK_BYTES(ReadOrDie(v.Path("mapped")), data);
}

}  // namespace strongroom::test
