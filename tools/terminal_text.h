// Text for the terminal: escaping of untrusted strings (names are user input
// and may carry escape sequences) and aligned tables.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strongroom::tools {

// Makes `s` safe to print: a backslash becomes \\, newline, tab and carriage
// return become \n, \t, \r, other bytes below 0x20 and 0x7f become \xNN
// (\x1b for ESC). Bytes that are not valid UTF-8 become \xNN too, and so do
// valid encodings of C1 controls (U+0080..U+009F), line and paragraph
// separators and the bidirectional overrides and isolates (U+202A..U+202E,
// U+2066..U+2069), which could reorder what is shown. Other text is kept.
std::string EscapeForTerminal(std::string_view s);

// A byte count for people: "512 B", "1.5 KiB", "3.2 GiB".
std::string HumanBytes(double bytes);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates).
bool IsValidUtf8(std::string_view s);

// Columns `s` takes, counting one per code point (wide characters are not
// measured).
size_t DisplayWidth(std::string_view s);

// A table: the header and rows in columns separated by two spaces, every
// cell escaped with EscapeForTerminal, the last column not padded. Rows
// shorter than the header are padded with empty cells.
std::string FormatTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// "Key  value" lines with the values aligned and escaped.
std::string FormatFields(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace strongroom::tools
