// The Status -> errno table (fs/errno_map.h).
#include <catch2/catch.hpp>

#include <cerrno>

#include "fs/errno_map.h"

namespace strongroom::fs {
namespace {

TEST_CASE("errno: every Status code maps to its errno", "[errno]") {
  CHECK(ToErrno(Status::Ok()) == 0);
  CHECK(ToErrno(Status()) == 0);
  CHECK(ToErrno(Status::NotFound("x")) == ENOENT);
  CHECK(ToErrno(Status::Denied("x")) == EACCES);
  CHECK(ToErrno(Status::Exists("x")) == EEXIST);
  CHECK(ToErrno(Status::Integrity("x")) == EIO);
  CHECK(ToErrno(Status::Invalid("x")) == EINVAL);
  CHECK(ToErrno(Status::WrongPassphrase("x")) == EACCES);
}

TEST_CASE("errno: kIo carries the OS errno through", "[errno]") {
  CHECK(ToErrno(Status::Io(ENOSPC, "write")) == ENOSPC);
  CHECK(ToErrno(Status::Io(EDQUOT, "write")) == EDQUOT);
  CHECK(ToErrno(Status::Io(EROFS, "write")) == EROFS);
  CHECK(ToErrno(Status::Io(EACCES, "open")) == EACCES);
  CHECK(ToErrno(Status::Io(ENAMETOOLONG, "open")) == ENAMETOOLONG);
  CHECK(ToErrno(Status::Io(EIO, "read")) == EIO);
  // An Io status without an errno still reports an error.
  CHECK(ToErrno(Status::Io(0, "unknown")) == EIO);
}

TEST_CASE("errno: Status keeps code, errno and message", "[errno]") {
  const Status st = Status::Io(ENOSPC, "write ciphertext");
  CHECK_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kIo);
  CHECK(st.sys_errno() == ENOSPC);
  CHECK(st.message() == "write ciphertext");
  CHECK_FALSE(st.ToString().empty());
  CHECK(Status::Ok().ok());
  CHECK(Status::Integrity("m").code() == Status::Code::kIntegrity);
}

}  // namespace
}  // namespace strongroom::fs
