// ViewerGate (fs/viewer_gate.h) and the program checks of `viewer add`
// (fs/viewer_program.h) without a mount: the refusals that need no setgid
// program. The full path (a setgid viewer, real uids) is in
// tests/integration/viewonly_test.cc.
#include <catch2/catch.hpp>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "crypto/primitives.h"
#include "fs/viewer_gate.h"
#include "fs/viewer_program.h"
#include "tests/unit/test_util.h"

namespace strongroom::fs {
namespace {

acl::PolicySnapshot Snapshot(std::optional<acl::ViewerGroup> group, bool with_viewer) {
  acl::PolicyData data;
  data.viewer_group = std::move(group);
  if (with_viewer) {
    acl::Viewer v;
    v.id = 1;
    v.path = "/opt/viewers/pdfview";
    v.label = "pdfview";
    v.sha256.fill(0x5a);
    data.viewers.push_back(v);
  }
  return acl::PolicySnapshot(std::move(data), [](const acl::ObjectId&) { return std::nullopt; }, 1);
}

pid_t Tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

std::string Refusal(ViewerGate& gate, pid_t tid, gid_t gid, const acl::PolicySnapshot& policy) {
  const acl::Viewer* viewer = reinterpret_cast<const acl::Viewer*>(1);
  const Status st = gate.Check(tid, gid, policy, &viewer);
  CHECK(viewer == nullptr);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kDenied);
  CHECK(st.message().rfind("copy refused: ", 0) == 0);
  return st.message();
}

TEST_CASE("viewer gate: refusals before any program is looked at", "[viewer]") {
  ViewerGate gate;
  const auto policy = Snapshot(acl::ViewerGroup{65533, "strongroom-viewers"}, true);
  CHECK_THAT(Refusal(gate, 0, 65533, policy), Catch::Contains("pid 0"));
  CHECK_THAT(Refusal(gate, -1, 65533, policy), Catch::Contains("pid 0"));
  CHECK_THAT(Refusal(gate, Tid(), 65533, Snapshot(std::nullopt, false)), Catch::Contains("no allow-listed viewer"));
  CHECK_THAT(Refusal(gate, Tid(), 65533, Snapshot(acl::ViewerGroup{65533, "v"}, false)),
             Catch::Contains("no allow-listed viewer"));
  // A thread that does not exist (pid_max is at most 2^22).
  CHECK_THAT(Refusal(gate, 1 << 23, 65533, policy), Catch::Contains("is gone"));
  CHECK(gate.hashes() == 0);
}

TEST_CASE("viewer gate: this test program is not a viewer", "[viewer]") {
  ViewerGate gate;
  // Another group than the request's: named, with the program.
  const auto policy = Snapshot(acl::ViewerGroup{65533, "strongroom-viewers"}, true);
  const std::string msg = Refusal(gate, Tid(), ::getegid(), policy);
  CHECK_THAT(msg, Catch::Contains("does not run setgid to the viewer group strongroom-viewers"));
  CHECK_THAT(msg, Catch::Contains("unit_tests"));
  // The request's group is the viewer group, but only because it is this
  // process's real group (or, when not root, it is dumpable): never through
  // a setgid viewer.
  const auto own = Snapshot(acl::ViewerGroup{static_cast<acl::Gid>(::getegid()), "own"}, true);
  const std::string own_msg = Refusal(gate, Tid(), ::getegid(), own);
  CHECK((own_msg.find("real group") != std::string::npos || own_msg.find("dumpable") != std::string::npos));
  CHECK(gate.hashes() == 0);
}

TEST_CASE("viewer gate: a file's digest is its SHA-256", "[viewer]") {
  testing::TempDir dir;
  const std::string path = dir.Sub("program");
  const std::string content(3 << 20, 'v');  // more than one read
  testing::WriteAll(path, crypto::AsBytes(content));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  Result<acl::Sha256Digest> digest = Sha256OfFile(fd);
  ::close(fd);
  REQUIRE(digest.ok());
  acl::Sha256Digest want;
  crypto::Sha256(crypto::AsBytes(content), want.data());
  CHECK(*digest == want);
}

TEST_CASE("viewer add: bad programs and group names", "[viewer]") {
  const acl::ViewerGroup group{65533, "strongroom-viewers"};
  CHECK(InspectViewerProgram("relative/viewer", group).status().code() == Status::Code::kInvalid);
  CHECK(InspectViewerProgram("/nonexistent/viewer", group).status().code() == Status::Code::kNotFound);
  const Status sh = InspectViewerProgram("/bin/sh", group).status();
  CHECK(sh.code() == Status::Code::kDenied);
  CHECK_THAT(sh.message(), Catch::Contains("shell"));
  const Status cat = InspectViewerProgram("/bin/cat", group).status();
  CHECK(cat.code() == Status::Code::kDenied);
  CHECK_THAT(cat.message(), Catch::Contains("copies"));
  // A program that is fine by name but not set up as a viewer: every fix.
  const Status ls = InspectViewerProgram("/bin/ls", group).status();
  CHECK(ls.code() == Status::Code::kDenied);
  CHECK_THAT(ls.message(), Catch::Contains("chgrp strongroom-viewers") && Catch::Contains("chmod g+s"));
  CHECK(ValidGroupName("strongroom-viewers"));
  CHECK(ValidGroupName("viewers_2"));
  CHECK_FALSE(ValidGroupName(""));
  CHECK_FALSE(ValidGroupName("-x"));
  CHECK_FALSE(ValidGroupName("a b"));
  CHECK_FALSE(ValidGroupName(std::string(33, 'a')));
  CHECK(ResolveViewerGroup("root", false)->gid == 0);
  CHECK(ResolveViewerGroup("no-such-group-7f3a", false).status().code() == Status::Code::kNotFound);
  CHECK(ResolveViewerGroup("bad name", true).status().code() == Status::Code::kInvalid);
}

}  // namespace
}  // namespace strongroom::fs
