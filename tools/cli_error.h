// CliError: a one-line error and the exit code that goes with it, thrown by
// command code and turned into "strongroom: <message>" and the exit status
// in main().
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

#include "crypto/status.h"
#include "tools/exit_codes.h"

namespace strongroom::tools {

class CliError : public std::runtime_error {
 public:
  CliError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// The exit code a Status from the lower layers stands for.
inline ExitCode ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case Status::Code::kOk:
      return kOk;
    case Status::Code::kNotFound:
      return kNotFound;
    case Status::Code::kDenied:
      return kRefused;
    case Status::Code::kExists:
      return kConflict;
    case Status::Code::kIntegrity:
      return kIntegrity;
    case Status::Code::kWrongPassphrase:
      return kWrongPassphrase;
    case Status::Code::kInvalid:
      return kUsage;
    case Status::Code::kIo:
      return kInternal;
  }
  return kInternal;
}

// The exit code of a failed call on a path the user gave: missing, refused,
// taken; anything else is `otherwise`.
inline ExitCode ExitCodeForErrno(int err, ExitCode otherwise) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return kRefused;
    case EEXIST:
      return kConflict;
    default:
      return otherwise;
  }
}

[[noreturn]] inline void Fail(const Status& st) { throw CliError(ExitCodeFor(st), st.ToString()); }
[[noreturn]] inline void Fail(ExitCode code, const std::string& message) { throw CliError(code, message); }

}  // namespace strongroom::tools
