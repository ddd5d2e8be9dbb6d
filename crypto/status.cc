#include "crypto/status.h"

#include <cstring>

namespace strongroom {

std::string Status::ToString() const {
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kIo:
      return message_ + ": " + std::strerror(errno_);
    default:
      return message_;
  }
}

}  // namespace strongroom
