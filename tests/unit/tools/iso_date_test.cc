#include "tools/iso_date.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <ctime>
#include <optional>
#include <string>

namespace strongroom::tools {
namespace {

// Sets TZ for the test's lifetime (POSIX rules: no tz database needed).
class ScopedTz {
 public:
  explicit ScopedTz(const char* tz) {
    if (const char* old = ::getenv("TZ")) old_ = old;
    ::setenv("TZ", tz, 1);
    ::tzset();
  }
  ~ScopedTz() {
    if (old_) {
      ::setenv("TZ", old_->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::optional<std::string> old_;
};

// 2026-12-31T23:59:59Z, the example in docs/control-protocol.md.
constexpr int64_t kEndOf2026 = 1798761599;

TEST_CASE("dates: days from the civil calendar", "[tools][date]") {
  CHECK(DaysFromCivil(1970, 1, 1) == 0);
  CHECK(DaysFromCivil(2000, 3, 1) == 11017);
  CHECK(DaysFromCivil(1969, 12, 31) == -1);
  CHECK(DaysFromCivil(2026, 12, 31) * 86400 + 86399 == kEndOf2026);
}

TEST_CASE("dates: a date alone means the end of that day, local time", "[tools][date]") {
  {
    ScopedTz tz("UTC0");
    CHECK(ParseIsoDate("2026-12-31") == kEndOf2026);
    CHECK(ParseIsoDate("2024-02-29") == DaysFromCivil(2024, 2, 29) * 86400 + 86399);
  }
  {
    ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");
    CHECK(ParseIsoDate("2026-12-31") == kEndOf2026 + 5 * 3600);
    CHECK(ParseIsoDate("2026-07-01") == DaysFromCivil(2026, 7, 1) * 86400 + 86399 + 4 * 3600);
  }
}

TEST_CASE("dates: times, local and with offsets", "[tools][date]") {
  ScopedTz tz("EST5EDT,M3.2.0,M11.1.0");
  const int64_t six_pm_utc = kEndOf2026 - 5 * 3600 - 59 * 60 - 59;  // 2026-12-31T18:00:00Z
  CHECK(ParseIsoDate("2026-12-31T18:00Z") == six_pm_utc);
  CHECK(ParseIsoDate("2026-12-31T18:00:30Z") == six_pm_utc + 30);
  CHECK(ParseIsoDate("2026-12-31T18:00+02:00") == six_pm_utc - 2 * 3600);
  CHECK(ParseIsoDate("2026-12-31T18:00:30+02:00") == six_pm_utc + 30 - 2 * 3600);
  CHECK(ParseIsoDate("2026-12-31T18:00-0500") == six_pm_utc + 5 * 3600);
  CHECK(ParseIsoDate("2026-12-31T18:00+05:30") == six_pm_utc - 5 * 3600 - 30 * 60);
  CHECK(ParseIsoDate("2026-12-31T18:00+00") == six_pm_utc);
  // Local: EST in winter, EDT in summer.
  CHECK(ParseIsoDate("2026-12-31T18:00") == six_pm_utc + 5 * 3600);
  CHECK(ParseIsoDate("2026-12-31 18:00:00") == six_pm_utc + 5 * 3600);
  CHECK(ParseIsoDate("2026-07-01T12:00") == DaysFromCivil(2026, 7, 1) * 86400 + 16 * 3600);
}

TEST_CASE("dates: anything else is refused", "[tools][date]") {
  ScopedTz tz("UTC0");
  for (const char* bad : {"",
                          "tomorrow",
                          "2026",
                          "2026-12",
                          "26-12-31",
                          "2026-1-01",
                          "2026/12/31",
                          "2026-12-31Z",
                          "2026-12-31+02:00",
                          "2026-13-01",
                          "2026-00-10",
                          "2026-12-00",
                          "2026-12-32",
                          "2026-02-29",
                          "2026-04-31",
                          "2026-12-31T",
                          "2026-12-31T18",
                          "2026-12-31T18:0",
                          "2026-12-31T24:00",
                          "2026-12-31T18:60",
                          "2026-12-31T18:00:60",
                          "2026-12-31T18:00:5",
                          "2026-12-31T18:00:00.5",
                          "2026-12-31T18:00 ",
                          " 2026-12-31",
                          "2026-12-31x",
                          "2026-12-31T18:00+2",
                          "2026-12-31T18:00+02:0",
                          "2026-12-31T18:00+0200x",
                          "2026-12-31T18:00+24:00",
                          "2026-12-31T18:00+02:60",
                          "2026-12-31T18:00z",
                          "2026-12-31t18:00",
                          "+2026-12-31",
                          "2026-12-31T18:00ZZ",
                          "２０２６-12-31"}) {
    INFO(bad);
    CHECK_FALSE(ParseIsoDate(bad).has_value());
  }
  CHECK_FALSE(ParseIsoDate(std::string("2026-12-31\0", 11)).has_value());
}

TEST_CASE("dates: printed as local time, and read back", "[tools][date]") {
  {
    ScopedTz tz("UTC0");
    CHECK(FormatLocalTime(kEndOf2026) == "2026-12-31 23:59:59");
    CHECK(FormatLocalTime(0) == "1970-01-01 00:00:00");
    CHECK(ParseIsoDate(FormatLocalTime(kEndOf2026 - 12345)) == kEndOf2026 - 12345);
  }
  ScopedTz tz("CET-1CEST,M3.5.0,M10.5.0/3");
  CHECK(FormatLocalTime(kEndOf2026) == "2027-01-01 00:59:59");
  CHECK(ParseIsoDate("2027-01-01 00:59:59") == kEndOf2026);
}

}  // namespace
}  // namespace strongroom::tools
