#include "tools/policy_args.h"

#include <catch2/catch.hpp>

#include "tests/unit/tools/cli_test_util.h"
#include "tools/policy_output.h"

namespace strongroom::tools {
namespace {

using testing::OutcomeOf;

TEST_CASE("policy args: enums are checked before asking the daemon", "[tools][args]") {
  CHECK(CheckRole("auditor") == "auditor");
  CHECK(CheckLevel("3", "clearance") == 3);
  CHECK(CheckMode("manage") == "manage");
  const auto role = OutcomeOf([] { CheckRole("Admin"); });
  CHECK(role.code == kUsage);
  CHECK(role.message == "invalid role 'Admin' (expected staff, admin or auditor)");
  for (const char* bad : {"0", "4", "01", "", " 1", "one"}) {
    CHECK(OutcomeOf([&] { CheckLevel(bad, "level"); }).code == kUsage);
  }
  for (const char* bad : {"", "rw", "READ", "admin"}) CHECK(OutcomeOf([&] { CheckMode(bad); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckMode("\x1b[2J"); }).message.find('\x1b') == std::string::npos);
}

TEST_CASE("policy args: names, subjects, numbers", "[tools][args]") {
  CHECK(CheckUserName("o'brien \"x\"") == "o'brien \"x\"");
  CHECK(OutcomeOf([] { CheckUserName(""); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckUserName("@sales"); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckUserName("\xff"); }).code == kUsage);
  CHECK(CheckTeamName("sales") == "sales");
  CHECK(CheckTeamName("@sales") == "sales");
  CHECK(OutcomeOf([] { CheckTeamName("@"); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckTeamName("@@x"); }).code == kUsage);
  CHECK(CheckSubject("@sales") == "@sales");
  CHECK(CheckSubject("bob") == "bob");
  CHECK(OutcomeOf([] { CheckSubject("@"); }).code == kUsage);

  CHECK(CheckUid("0") == 0);
  CHECK(CheckUid("4294967294") == 4294967294LL);
  for (const char* bad : {"", "-1", "4294967295", "1e3", "12a", "+5", "99999999999999999999"}) {
    CHECK(OutcomeOf([&] { CheckUid(bad); }).code == kUsage);
  }
  CHECK(CheckRequestId("42") == 42);
  CHECK(OutcomeOf([] { CheckRequestId("0"); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckRequestId("abc"); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckReason(""); }).code == kUsage);
  CHECK(OutcomeOf([] { CheckUntil("2026-02-30"); }).message.rfind("invalid date '2026-02-30'", 0) == 0);
}

TEST_CASE("policy output: strings from the daemon are escaped", "[tools][output]") {
  const nlohmann::json users = {{"users",
                                 {{{"name", "eve\x1b]0;owned\x07"},
                                   {"uid", 1002},
                                   {"role", "staff"},
                                   {"clearance", 1},
                                   {"enabled", false},
                                   {"teams", {"a\nb", "c"}}}}}};
  const std::string out = RenderUserList(users);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(out.find('\x07') == std::string::npos);
  CHECK(out.find("eve\\x1b]0;owned\\x07") != std::string::npos);
  CHECK(out.find("a\\nb, c") != std::string::npos);
  CHECK(out.rfind("NAME", 0) == 0);
  // Missing or odd fields do not throw.
  CHECK_NOTHROW(RenderAccess(nlohmann::json{{"grants", {{{"path", 3}}}}, {"effective", "x"}}));
  CHECK_NOTHROW(RenderRequests(nlohmann::json(), true));
  CHECK(FieldText(nlohmann::json{{"until", nullptr}}, "until") == "-");
  const std::string access = RenderAccess(
      {{"path", "/a"}, {"level", 1}, {"grants", {{{"path", "/"}, {"until", 0}, {"expired", true}, {"inherited", true}}}}});
  CHECK(access.find("(expired)") != std::string::npos);
  CHECK(access.find("inherited") != std::string::npos);
}

}  // namespace
}  // namespace strongroom::tools
