// ISO 8601 dates for --until and for printing times. Local time is the time
// zone of this process (the server's: the CLI runs where the daemon runs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strongroom::tools {

// Parses one of
//   YYYY-MM-DD                      the end of that day (23:59:59), local time
//   YYYY-MM-DDTHH:MM[:SS]           local time
//   YYYY-MM-DDTHH:MM[:SS]Z          UTC
//   YYYY-MM-DDTHH:MM[:SS]+HH:MM     (or +HHMM, +HH, and the same with -)
// into seconds since the epoch. A space may stand for the T (the form the CLI
// prints). Local times go through mktime with tm_isdst = -1, so a time that
// does not exist or exists twice around a DST change gets mktime's choice.
// Anything else, or a field out of range, gives nullopt.
std::optional<int64_t> ParseIsoDate(std::string_view text);

// "YYYY-MM-DD HH:MM:SS" in local time.
std::string FormatLocalTime(int64_t epoch_seconds);

// Days since 1970-01-01 of a proleptic Gregorian date (no time zone).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace strongroom::tools
