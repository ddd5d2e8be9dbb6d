// The one place where Status becomes an errno (PRODUCT.md's errno table).
#pragma once

#include <cerrno>

#include "crypto/status.h"

namespace strongroom::fs {

inline int ToErrno(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk:
      return 0;
    case Status::Code::kNotFound:
      return ENOENT;
    case Status::Code::kDenied:
    case Status::Code::kWrongPassphrase:
      return EACCES;
    case Status::Code::kExists:
      return EEXIST;
    case Status::Code::kIntegrity:
      return EIO;
    case Status::Code::kInvalid:
      return EINVAL;
    case Status::Code::kIo:
      return st.sys_errno() != 0 ? st.sys_errno() : EIO;
  }
  return EIO;
}

}  // namespace strongroom::fs
