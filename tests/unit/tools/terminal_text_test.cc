#include "tools/terminal_text.h"

#include <catch2/catch.hpp>

namespace strongroom::tools {
namespace {

TEST_CASE("escaping: control characters and backslashes", "[tools][escape]") {
  CHECK(EscapeForTerminal("plain name.txt") == "plain name.txt");
  CHECK(EscapeForTerminal("a\nb\tc\rd") == "a\\nb\\tc\\rd");
  CHECK(EscapeForTerminal("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
  CHECK(EscapeForTerminal("back\\slash") == "back\\\\slash");
  CHECK(EscapeForTerminal("del\x7f") == "del\\x7f");
  CHECK(EscapeForTerminal(std::string("nul\0!", 5)) == "nul\\x00!");
  CHECK(EscapeForTerminal("\x01\x1f") == "\\x01\\x1f");
  // An escaped string cannot be mistaken for the escape of another one.
  CHECK(EscapeForTerminal("\\x1b") != EscapeForTerminal("\x1b"));
}

TEST_CASE("escaping: UTF-8 is kept, invalid bytes and hidden controls are not", "[tools][escape]") {
  CHECK(EscapeForTerminal("M\xc3\xbcller \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x92") ==
        "M\xc3\xbcller \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x92");
  CHECK(EscapeForTerminal("\x9b"
                          "31m") == "\\x9b31m");  // lone C1 CSI
  CHECK(EscapeForTerminal("\xc2\x9b"
                          "31m") == "\\xc2\\x9b31m");  // U+009B
  CHECK(EscapeForTerminal("a\xe2\x80\xae"
                          "cod.exe") == "a\\xe2\\x80\\xaecod.exe");  // U+202E
  CHECK(EscapeForTerminal("\xe2\x81\xa6x") == "\\xe2\\x81\\xa6x");   // U+2066
  CHECK(EscapeForTerminal("\xe2\x80\xa8") == "\\xe2\\x80\\xa8");     // U+2028
  CHECK(EscapeForTerminal("\xff\xfe") == "\\xff\\xfe");
  CHECK(EscapeForTerminal("\xc0\xaf") == "\\xc0\\xaf");           // overlong
  CHECK(EscapeForTerminal("\xed\xa0\x80") == "\\xed\\xa0\\x80");  // surrogate
  CHECK(EscapeForTerminal("\xe6\x97") == "\\xe6\\x97");           // truncated
}

TEST_CASE("escaping: UTF-8 validation", "[tools][escape]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("abc \xc3\xa9 \xf4\x8f\xbf\xbf"));
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(IsValidUtf8("\x80"));
  CHECK_FALSE(IsValidUtf8("a\xc3"));
}

TEST_CASE("tables: aligned columns of escaped cells", "[tools][table]") {
  const std::string table = FormatTable({"NAME", "UID", "TEAMS"}, {{"al\nice", "1001", "sales"}, {"b\xc3\xa9", "7"}});
  CHECK(table ==
        "NAME     UID   TEAMS\n"
        "al\\nice  1001  sales\n"
        "b\xc3\xa9       7\n");
  CHECK(FormatTable({"A"}, {}) == "A\n");
  CHECK(FormatFields({{"User", "bob\x1b"}, {"Clearance", "2"}}) ==
        "User       bob\\x1b\n"
        "Clearance  2\n");
}

}  // namespace
}  // namespace strongroom::tools
