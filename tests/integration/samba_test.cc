// Samba re-export of a mounted vault (issue 7 part 2, docs/samba.md).
//
// Three Linux users with their own uids (made with useradd for this run and
// removed afterwards) are vault users with `write`, `read` and `view` on
// /team; /secret is granted to none of them. A private smbd serves the
// mount on 127.0.0.1 only, with the share section and global settings taken
// from the ```ini block of docs/samba.md (so the documented configuration
// is the tested one) and the test's own directories, port and log. Through
// smbclient, each user sees exactly what their grants allow: the writer
// puts, gets and removes; the reader gets but cannot put, remove or make a
// folder; the viewer sees the name but the open is refused; nobody sees
// /secret. Strongroom's audit log (queried by the vault admin) names each
// user and smbd, with "copy refused" for the view attempt, and smbd's
// full_audit lines carry user, address and machine.
//
// Needs smbd, smbclient, smbpasswd, useradd and userdel: missing ones skip
// the test (exit 77), or fail it when CI=true.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "integration_assert.h"
#include "mount_fixture.h"

#ifndef SR_SAMBA_DOC
#error "SR_SAMBA_DOC must be defined by the build"
#endif

namespace strongroom::test {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const Identity kAdminId = MountedVault::Admin();
constexpr char kSmbd[] = "/usr/sbin/smbd";
constexpr char kSmbclient[] = "/usr/bin/smbclient";
constexpr char kSmbpasswd[] = "/usr/bin/smbpasswd";
constexpr char kUseradd[] = "/usr/sbin/useradd";
constexpr char kUserdel[] = "/usr/sbin/userdel";
constexpr char kShare[] = "confidential";

std::string Describe(const CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") + "\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

void RequireSamba() {
  RequireMountEnvironment();
  std::string missing;
  for (const char* tool : {kSmbd, kSmbclient, kSmbpasswd, kUseradd, kUserdel}) {
    if (::access(tool, X_OK) != 0) missing += std::string(missing.empty() ? "" : ", ") + tool;
  }
  if (missing.empty()) return;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL("the Samba test needs " << missing << " (scripts/setup.sh installs samba and smbclient)");
  }
  std::printf("skipping: %s missing (apt-get install samba smbclient)\n", missing.c_str());
  std::fflush(stdout);
  std::_Exit(kSkipExitCode);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The ```ini block of docs/samba.md, split into its [global] and share lines.
struct DocConf {
  std::vector<std::string> global;
  std::vector<std::string> share;
};

std::string KeyOf(const std::string& line) {
  const size_t eq = line.find('=');
  std::string key = line.substr(0, eq);
  const size_t b = key.find_first_not_of(" \t");
  const size_t e = key.find_last_not_of(" \t");
  return b == std::string::npos ? "" : key.substr(b, e - b + 1);
}

DocConf ReadDocConf() {
  const std::string doc = Slurp(SR_SAMBA_DOC);
  const size_t start = doc.find("```ini\n");
  REQUIRE(start != std::string::npos);
  const size_t end = doc.find("```", start + 7);
  REQUIRE(end != std::string::npos);
  std::istringstream block(doc.substr(start + 7, end - start - 7));
  DocConf conf;
  std::vector<std::string>* section = nullptr;
  std::string line;
  while (std::getline(block, line)) {
    if (line.find("[global]") != std::string::npos) {
      section = &conf.global;
    } else if (line.find(std::string("[") + kShare + "]") != std::string::npos) {
      section = &conf.share;
    } else if (section != nullptr && !KeyOf(line).empty()) {
      section->push_back(line);
    }
  }
  REQUIRE(!conf.global.empty());
  REQUIRE(!conf.share.empty());
  return conf;
}

// A Linux user made for this run (useradd with its own group), removed on
// destruction.
struct LinuxUser {
  std::string name;
  uid_t uid = 0;
  std::string password;

  LinuxUser(const std::string& n, uid_t id) : name(n), uid(id), password("Pw-" + RandomHex(8)) {
    const CommandResult r = RunCommand({kUseradd, "--no-create-home", "--uid", std::to_string(uid), "--user-group",
                                        "--shell", "/usr/sbin/nologin", name},
                                       30s);
    INFO("useradd " << name << ": " << Describe(r));
    REQUIRE(r.exit_code == 0);
  }
  ~LinuxUser() { RunCommand({kUserdel, name}, 30s); }
  LinuxUser(const LinuxUser&) = delete;
  LinuxUser& operator=(const LinuxUser&) = delete;
  Identity id() const { return {uid, uid}; }
};

// `count` consecutive uids (each also free as a gid) from a random start.
uid_t FreeUids(int count) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uid_t base = 46000 + static_cast<uid_t>(std::stoul(RandomHex(1), nullptr, 16)) * 40;
    bool free = true;
    for (int i = 0; i < count && free; ++i) {
      free = ::getpwuid(base + i) == nullptr && ::getgrgid(base + i) == nullptr;
    }
    if (free) return base;
  }
  FAIL("no free uids");
  return 0;
}

int FreePort() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE_SYS(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
  socklen_t len = sizeof a;
  REQUIRE_SYS(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len));
  ::close(s);
  return ntohs(a.sin_port);
}

bool PortAnswers(int port) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

// smbd in the foreground, in its own process group; the group is stopped
// (SIGTERM, then SIGKILL) and reaped on destruction.
class Smbd {
 public:
  Smbd(const std::string& conf, const std::string& log) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) _exit(126);
      ::setpgid(0, 0);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      ::dup2(null_fd, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kSmbd, kSmbd, "-F", "--no-process-group", "-s", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ::setpgid(pid_, pid_);  // also from here, so the group exists before we return
    ::close(fd);
  }
  ~Smbd() { Stop(); }
  Smbd(const Smbd&) = delete;
  Smbd& operator=(const Smbd&) = delete;

  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      ::kill(-pid_, SIGKILL);  // its children, if any
      pid_ = -1;
      return false;
    }
    return true;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    int status;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    // smbd's children leave with it; make sure no straggler keeps the mount
    // busy, and wait (up to 2 s) until the whole group is gone.
    ::kill(-pid_, SIGKILL);
    const auto gone = std::chrono::steady_clock::now() + 2s;
    while (::kill(-pid_, 0) == 0 && std::chrono::steady_clock::now() < gone) std::this_thread::sleep_for(10ms);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

struct SambaVault {
  MountedVault v;
  const std::string tag = RandomHex(3);
  const uid_t base = FreeUids(3);
  LinuxUser writer{"srsmb" + tag + "w", base};
  LinuxUser reader{"srsmb" + tag + "r", base + 1};
  LinuxUser viewer{"srsmb" + tag + "v", base + 2};
  const std::string dir = v.root() + "/samba";
  const std::string conf = dir + "/smb.conf";
  const std::string smbd_log = dir + "/smbd.log";
  const std::string local = v.root() + "/local";  // files smbclient puts and gets
  const int port = FreePort();
  const std::string doc = "team report: " + RandomHex(16) + "\n";
  std::unique_ptr<Smbd> smbd;

  SambaVault() {
    // The vault: /team for the three users, /secret for none of them.
    for (const LinuxUser* u : {&writer, &reader, &viewer}) {
      v.Policy(kAdminId, {"user", "add", u->name, "--uid", std::to_string(u->uid)});
    }
    REQUIRE_SYS(::mkdir(v.Path("team").c_str(), 0755));
    REQUIRE_SYS(::mkdir(v.Path("secret").c_str(), 0755));
    WriteOrDie(v.Path("team/doc.txt"), doc);
    WriteOrDie(v.Path("secret/hidden.txt"), "nobody here\n");
    v.Policy(kAdminId, {"grant", v.Path("team"), writer.name, "write"});
    v.Policy(kAdminId, {"grant", v.Path("team"), reader.name, "read"});
    v.Policy(kAdminId, {"grant", v.Path("team"), viewer.name, "view"});

    REQUIRE_SYS(::mkdir(local.c_str(), 0777));
    REQUIRE_SYS(::chmod(local.c_str(), 01777));
    WriteOrDie(local + "/upload.txt", "uploaded over SMB\n");
    REQUIRE_SYS(::mkdir(dir.c_str(), 0700));
    WriteConf();
    for (const LinuxUser* u : {&writer, &reader, &viewer}) {
      const CommandResult r = RunCommand(
          {"/bin/sh", "-c", "printf '%s\\n%s\\n' \"$1\" \"$1\" | \"$2\" -c \"$3\" -a -s \"$4\"", "sh", u->password,
           kSmbpasswd, conf, u->name},
          30s);
      INFO("smbpasswd " << u->name << ": " << Describe(r));
      REQUIRE(r.exit_code == 0);
    }
    smbd = std::make_unique<Smbd>(conf, smbd_log);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!PortAnswers(port)) {
      if (!smbd->Running() || std::chrono::steady_clock::now() > deadline) {
        FAIL("smbd did not listen on 127.0.0.1:" << port << "; log:\n" << Slurp(smbd_log));
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  ~SambaVault() {
    if (smbd) smbd->Stop();
  }

  void WriteConf() {
    const DocConf doc_conf = ReadDocConf();
    // Global settings of the doc, except those this private instance sets.
    const std::vector<std::string> ours = {"smb ports",     "interfaces",      "bind interfaces only", "log file",
                                           "log level",     "private dir",     "lock directory",       "state directory",
                                           "cache directory", "pid directory", "ncalrpc dir",          "passdb backend"};
    std::string text = "[global]\n";
    for (const std::string& line : doc_conf.global) {
      if (std::find(ours.begin(), ours.end(), KeyOf(line)) == ours.end()) text += line + "\n";
    }
    for (const char* d : {"private", "lock", "state", "cache", "pid", "ncalrpc"}) {
      REQUIRE_SYS(::mkdir((dir + "/" + d).c_str(), 0700));
    }
    text += "  smb ports = " + std::to_string(port) + "\n";
    text += "  interfaces = 127.0.0.1\n  bind interfaces only = yes\n";
    text += "  log file = " + smbd_log + "\n  log level = 1\n  max log size = 0\n";
    text += "  private dir = " + dir + "/private\n  lock directory = " + dir + "/lock\n";
    text += "  state directory = " + dir + "/state\n  cache directory = " + dir + "/cache\n";
    text += "  pid directory = " + dir + "/pid\n  ncalrpc dir = " + dir + "/ncalrpc\n";
    text += "  passdb backend = tdbsam:" + dir + "/private/passdb.tdb\n";
    text += std::string("\n[") + kShare + "]\n";
    bool has_path = false;
    for (const std::string& line : doc_conf.share) {
      if (KeyOf(line) == "path") {
        text += "  path = " + v.mnt() + "\n";
        has_path = true;
      } else {
        text += line + "\n";
      }
    }
    REQUIRE(has_path);
    // Audit lines into smbd's log rather than syslog, to read them here.
    text += "  full_audit:syslog = no\n";
    WriteOrDie(conf, text, 0600);
  }

  // smbclient as `u` running `commands`.
  CommandResult Smb(const LinuxUser& u, const std::string& commands) {
    return RunCommand({kSmbclient, std::string("//127.0.0.1/") + kShare, "-p", std::to_string(port), "-U",
                       u.name + "%" + u.password, "-s", conf, "-c", commands},
                      30s);
  }

  std::vector<json> Audit(const LinuxUser& u) {
    const CommandResult r = RunStrongroomAs(
        kAdminId, {"audit", "--user", u.name, "--json", "--limit", "1000", "--mount", v.mnt()}, 30s);
    INFO(Describe(r));
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out).at("records").get<std::vector<json>>();
  }
};

bool Has(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

// Names in an smbclient `ls` listing (first column), except . and ..
std::vector<std::string> Listed(const std::string& out) {
  std::vector<std::string> names;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 3 || line.compare(0, 2, "  ") != 0) continue;
    std::istringstream words(line);
    std::string name;
    words >> name;
    if (!name.empty() && name != "." && name != ".." && line.find("blocks of size") == std::string::npos) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool SmbdRecord(const json& r, const std::string& op, int result, const std::string& path) {
  const std::string exe = r.value("exe", "");
  return r.value("op", "") == op && r.value("result", -1) == result && r.value("path", "") == path &&
         exe.size() >= 5 && exe.compare(exe.size() - 5, 5, "/smbd") == 0;
}

// ---------------------------------------------------------------------------

// The settings docs/samba.md gives that keep grants meaningful: without
// them the mounted test below could still pass.
TEST_CASE("the documented smb.conf keeps grants meaningful: no guest, no forced user, no client caching",
          "[samba]") {
  const DocConf conf = ReadDocConf();
  auto value = [](const std::vector<std::string>& lines, const std::string& key) -> std::optional<std::string> {
    for (const std::string& line : lines) {
      if (KeyOf(line) != key) continue;
      std::string v = line.substr(line.find('=') + 1);
      const size_t b = v.find_first_not_of(" \t");
      return b == std::string::npos ? std::string() : v.substr(b, v.find_last_not_of(" \t") - b + 1);
    }
    return std::nullopt;
  };
  CHECK(value(conf.global, "map to guest") == "never");
  CHECK(value(conf.global, "server smb encrypt") == "required");
  CHECK(value(conf.global, "smb2 leases") == "no");
  CHECK(value(conf.share, "guest ok") == "no");
  CHECK(value(conf.share, "oplocks") == "no");
  CHECK(value(conf.share, "level2 oplocks") == "no");
  CHECK(value(conf.share, "csc policy") == "disable");
  CHECK(value(conf.share, "store dos attributes") == "no");
  const std::optional<std::string> vfs = value(conf.share, "vfs objects");
  REQUIRE(vfs.has_value());
  CHECK(vfs->find("full_audit") != std::string::npos);
  const std::optional<std::string> prefix = value(conf.share, "full_audit:prefix");
  REQUIRE(prefix.has_value());
  CHECK(prefix->find("%I") != std::string::npos);  // client address
  CHECK(prefix->find("%m") != std::string::npos);  // client machine
  for (const std::vector<std::string>* section : {&conf.global, &conf.share}) {
    for (const char* key : {"force user", "force group", "guest only", "guest account"}) {
      INFO(key);
      CHECK_FALSE(value(*section, key).has_value());
    }
  }
}

TEST_CASE("a vault shared by Samba: each user gets what their grants allow, view is refused, the audit log names them",
          "[samba]") {
  RequireSamba();
  SambaVault t;

  // Everyone sees /team and nothing of /secret.
  for (const LinuxUser* u : {&t.writer, &t.reader, &t.viewer}) {
    const CommandResult root = t.Smb(*u, "ls");
    INFO(u->name << " ls: " << Describe(root));
    CHECK(root.exit_code == 0);
    CHECK(Listed(root.out) == std::vector<std::string>{"team"});
    const CommandResult team = t.Smb(*u, "cd team; ls");
    INFO(u->name << " ls team: " << Describe(team));
    CHECK(team.exit_code == 0);
    CHECK(Listed(team.out) == std::vector<std::string>{"doc.txt"});
    const CommandResult secret = t.Smb(*u, "cd secret; ls");
    INFO(u->name << " cd secret: " << Describe(secret));
    CHECK((Has(secret.out + secret.err, "NT_STATUS_OBJECT_NAME_NOT_FOUND") ||
           Has(secret.out + secret.err, "NT_STATUS_OBJECT_PATH_NOT_FOUND")));
  }

  // The writer: put, get, remove.
  {
    const CommandResult put =
        t.Smb(t.writer, "cd team; put " + t.local + "/upload.txt new.txt; get doc.txt " + t.local + "/w-doc.txt");
    INFO(Describe(put));
    CHECK(put.exit_code == 0);
    CHECK_FALSE(Has(put.out + put.err, "NT_STATUS_"));
    CHECK(ReadOrDie(t.local + "/w-doc.txt") == t.doc);
    CHECK(ReadOrDie(t.v.Path("team/new.txt")) == "uploaded over SMB\n");
    // Created as the writer's own uid: smbd acted as that user.
    CHECK(StatOrDie(t.v.Path("team/new.txt")).st_uid == t.writer.uid);
    const CommandResult back = t.Smb(t.writer, "cd team; get new.txt " + t.local + "/w-new.txt; rm new.txt");
    INFO(Describe(back));
    CHECK(back.exit_code == 0);
    CHECK_FALSE(Has(back.out + back.err, "NT_STATUS_"));
    CHECK(ReadOrDie(t.local + "/w-new.txt") == "uploaded over SMB\n");
    CHECK(ReadFile(t.v.Path("team/new.txt")).err == ENOENT);
  }

  // The reader: get, but no put, rm or mkdir.
  {
    const CommandResult get = t.Smb(t.reader, "cd team; get doc.txt " + t.local + "/r-doc.txt");
    INFO(Describe(get));
    CHECK(get.exit_code == 0);
    CHECK(ReadOrDie(t.local + "/r-doc.txt") == t.doc);
    for (const std::string& cmd :
         {"cd team; put " + t.local + "/upload.txt r-new.txt", std::string("cd team; rm doc.txt"),
          std::string("cd team; mkdir r-dir")}) {
      const CommandResult r = t.Smb(t.reader, cmd);
      INFO("reader: " << cmd << ": " << Describe(r));
      CHECK(Has(r.out + r.err, "NT_STATUS_ACCESS_DENIED"));
    }
    CHECK(ReadOrDie(t.v.Path("team/doc.txt")) == t.doc);
    CHECK(ReadFile(t.v.Path("team/r-new.txt")).err == ENOENT);
    CHECK(ReadFile(t.v.Path("team/r-dir")).err == ENOENT);
  }

  // The viewer: sees the name, cannot open the file, nor change anything.
  {
    const CommandResult get = t.Smb(t.viewer, "cd team; get doc.txt " + t.local + "/v-doc.txt");
    INFO(Describe(get));
    CHECK(Has(get.out + get.err, "NT_STATUS_ACCESS_DENIED"));
    const ReadResult copy = ReadFile(t.local + "/v-doc.txt");
    CHECK((copy.err != 0 || copy.data.empty()));
    const CommandResult put = t.Smb(t.viewer, "cd team; put " + t.local + "/upload.txt v-new.txt");
    INFO(Describe(put));
    CHECK(Has(put.out + put.err, "NT_STATUS_ACCESS_DENIED"));
    CHECK(ReadFile(t.v.Path("team/v-new.txt")).err == ENOENT);
  }

  // Strongroom's audit log, queried by the vault admin: smbd's opens under
  // each user's own name and uid.
  {
    const std::vector<json> w = t.Audit(t.writer);
    bool created = false, read_doc = false;
    for (const json& r : w) {
      CHECK(r.value("user", "") == t.writer.name);
      CHECK(r.value("uid", -1) == static_cast<int>(t.writer.uid));
      created = created || SmbdRecord(r, "create", 0, "/team/new.txt");
      read_doc = read_doc || SmbdRecord(r, "open", 0, "/team/doc.txt");
    }
    INFO(json(w).dump(1));
    CHECK(created);
    CHECK(read_doc);
  }
  {
    const std::vector<json> r_recs = t.Audit(t.reader);
    bool read_doc = false, refused = false;
    for (const json& r : r_recs) {
      CHECK(r.value("user", "") == t.reader.name);
      CHECK(r.value("uid", -1) == static_cast<int>(t.reader.uid));
      read_doc = read_doc || SmbdRecord(r, "open", 0, "/team/doc.txt");
      refused = refused || (r.value("result", 0) == EACCES && Has(r.value("exe", ""), "smbd"));
    }
    INFO(json(r_recs).dump(1));
    CHECK(read_doc);
    CHECK(refused);
  }
  {
    const std::vector<json> v_recs = t.Audit(t.viewer);
    bool copy_refused = false, opened = false;
    for (const json& r : v_recs) {
      CHECK(r.value("user", "") == t.viewer.name);
      CHECK(r.value("uid", -1) == static_cast<int>(t.viewer.uid));
      if (SmbdRecord(r, "open", EACCES, "/team/doc.txt") && Has(r.value("reason", ""), "copy refused")) {
        copy_refused = true;
      }
      opened = opened || SmbdRecord(r, "open", 0, "/team/doc.txt");
    }
    INFO(json(v_recs).dump(1));
    CHECK(copy_refused);
    CHECK_FALSE(opened);
  }

  // smbd's full_audit lines: user|address|machine, and the refused open.
  const std::string log = Slurp(t.smbd_log);
  INFO(log);
  CHECK(Has(log, t.viewer.name + "|127.0.0.1|"));
  CHECK(Has(log, "|create_file|fail (Permission denied)|"));
  CHECK(Has(log, t.writer.name + "|127.0.0.1|"));
}

}  // namespace
}  // namespace strongroom::test
