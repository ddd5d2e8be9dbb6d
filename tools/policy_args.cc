// Argument checks for the policy commands.
#include "tools/policy_args.h"

#include <limits>
#include <optional>

#include "tools/cli_error.h"
#include "tools/iso_date.h"
#include "tools/terminal_text.h"

namespace strongroom::tools {
namespace {

std::string Quoted(std::string_view s) { return "'" + EscapeForTerminal(s) + "'"; }

std::optional<int64_t> ParseDecimal(std::string_view s, int64_t max) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

void CheckText(std::string_view s, std::string_view what) {
  if (s.empty()) Fail(kUsage, std::string(what) + " cannot be empty");
  if (s.find('\0') != std::string_view::npos) Fail(kUsage, std::string(what) + " cannot contain a NUL byte");
  if (!IsValidUtf8(s)) Fail(kUsage, std::string(what) + " " + Quoted(s) + " is not valid UTF-8");
}

}  // namespace

std::string CheckRole(std::string_view role) {
  if (role == "staff" || role == "admin" || role == "auditor") return std::string(role);
  Fail(kUsage, "invalid role " + Quoted(role) + " (expected staff, admin or auditor)");
}

int CheckLevel(std::string_view level, std::string_view what) {
  if (level == "1" || level == "2" || level == "3") return level[0] - '0';
  Fail(kUsage, "invalid " + std::string(what) + " " + Quoted(level) + " (expected 1, 2 or 3)");
}

std::string CheckMode(std::string_view mode) {
  if (mode == "none" || mode == "view" || mode == "read" || mode == "write" || mode == "manage") {
    return std::string(mode);
  }
  Fail(kUsage, "invalid mode " + Quoted(mode) + " (expected none, view, read, write or manage)");
}

std::string CheckUserName(std::string_view name) {
  CheckText(name, "a user name");
  if (name.front() == '@') Fail(kUsage, "a user name cannot start with @ (@NAME names a team)");
  return std::string(name);
}

std::string CheckTeamName(std::string_view name) {
  if (!name.empty() && name.front() == '@') name.remove_prefix(1);
  CheckText(name, "a team name");
  if (name.front() == '@') Fail(kUsage, "invalid team name " + Quoted(name));
  return std::string(name);
}

std::string CheckSubject(std::string_view subject) {
  if (!subject.empty() && subject.front() == '@') return "@" + CheckTeamName(subject);
  return CheckUserName(subject);
}

int64_t CheckUid(std::string_view uid) {
  const auto value = ParseDecimal(uid, 4294967294LL);
  if (!value) Fail(kUsage, "invalid uid " + Quoted(uid) + " (expected a number from 0 to 4294967294)");
  return *value;
}

int64_t CheckRequestId(std::string_view id) {
  const auto value = ParseDecimal(id, std::numeric_limits<int64_t>::max());
  if (!value || *value == 0) Fail(kUsage, "invalid request id " + Quoted(id) + " (expected a positive number)");
  return *value;
}

std::string CheckReason(std::string_view reason) {
  CheckText(reason, "the reason");
  return std::string(reason);
}

int64_t CheckUntil(std::string_view date) {
  const auto when = ParseIsoDate(date);
  if (!when) {
    Fail(kUsage, "invalid date " + Quoted(date) +
                     " (expected YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, optionally with Z or +HH:MM)");
  }
  return *when;
}

}  // namespace strongroom::tools
