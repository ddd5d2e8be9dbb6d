// Status and Result<T>: the error values every layer below fs/ returns.
// fs/ maps them to errno in one place (fs/errno_map.h).
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace strongroom {

class Status {
 public:
  enum class Code {
    kOk,
    kNotFound,         // no such object
    kDenied,           // refused by policy
    kExists,           // already exists / not empty / busy
    kIntegrity,        // authentication failed, tampering, corrupt store
    kIo,               // an OS error; errno() says which
    kInvalid,          // bad argument or unsupported request
    kWrongPassphrase,  // the key wrap did not open
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, 0, std::move(msg)); }
  static Status Denied(std::string msg) { return Status(Code::kDenied, 0, std::move(msg)); }
  static Status Exists(std::string msg) { return Status(Code::kExists, 0, std::move(msg)); }
  static Status Integrity(std::string msg) { return Status(Code::kIntegrity, 0, std::move(msg)); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, 0, std::move(msg)); }
  static Status WrongPassphrase(std::string msg) {
    return Status(Code::kWrongPassphrase, 0, std::move(msg));
  }
  // Captures an errno value; pass errno at once, before any other call.
  static Status Io(int err, std::string msg) { return Status(Code::kIo, err, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int sys_errno() const { return errno_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, int err, std::string msg) : code_(code), errno_(err), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

// A value or a non-ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace strongroom

// Return early from the enclosing function when a Status is not ok.
#define SR_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::strongroom::Status sr_status_ = (expr);  \
    if (!sr_status_.ok()) return sr_status_;   \
  } while (0)
