// Client-side checks of the policy commands' arguments, so that a typo is a
// usage error with a clear message rather than a round trip to the daemon.
// Each returns the value to send or throws CliError(kUsage).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strongroom::tools {

// staff, admin or auditor.
std::string CheckRole(std::string_view role);
// 1, 2 or 3 (clearance or label level); `what` names it in the message.
int CheckLevel(std::string_view level, std::string_view what);
// none, view, read, write or manage.
std::string CheckMode(std::string_view mode);
// A user name: not empty, valid UTF-8, no NUL, not starting with "@".
std::string CheckUserName(std::string_view name);
// A team name, with or without its leading "@"; returned without it.
std::string CheckTeamName(std::string_view name);
// A user name or "@team".
std::string CheckSubject(std::string_view subject);
// A uid: decimal, 0..4294967294.
int64_t CheckUid(std::string_view uid);
// A request id: a positive decimal integer.
int64_t CheckRequestId(std::string_view id);
// A reason: not empty, valid UTF-8.
std::string CheckReason(std::string_view reason);
// --until: an ISO 8601 date (see ParseIsoDate) as epoch seconds.
int64_t CheckUntil(std::string_view date);

}  // namespace strongroom::tools
