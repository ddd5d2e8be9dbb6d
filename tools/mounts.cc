// Mounts: parsing of /proc/self/mountinfo (see proc(5)).
#include "tools/mounts.h"

#include <fstream>
#include <iterator>

namespace strongroom::tools {
namespace {

bool IsOctal(char c) { return c >= '0' && c <= '7'; }

// Splits a line on single spaces (mountinfo's separator; spaces inside
// fields are escaped as \040).
std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (start <= line.size()) {
    const size_t end = line.find(' ', start);
    const size_t stop = end == std::string_view::npos ? line.size() : end;
    if (stop > start) fields.push_back(line.substr(start, stop - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return fields;
}

}  // namespace

std::string UnescapeMountinfo(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && IsOctal(field[i + 1]) && IsOctal(field[i + 2]) &&
        IsOctal(field[i + 3])) {
      const int value = (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
      if (value <= 0xff) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<MountEntry> ParseMountinfo(std::string_view text) {
  std::vector<MountEntry> entries;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::vector<std::string_view> f = SplitFields(text.substr(pos, eol - pos));
    pos = eol + 1;
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    if (f.size() < 8) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 1 >= f.size()) continue;
    MountEntry e;
    e.devno = std::string(f[2]);
    e.mountpoint = UnescapeMountinfo(f[4]);
    e.fstype = UnescapeMountinfo(f[dash + 1]);
    if (dash + 2 < f.size()) e.source = UnescapeMountinfo(f[dash + 2]);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<MountEntry> VisibleMounts(const std::vector<MountEntry>& entries) {
  std::vector<MountEntry> visible;
  for (const MountEntry& e : entries) {
    bool replaced = false;
    for (MountEntry& v : visible) {
      if (v.mountpoint == e.mountpoint) {
        v = e;
        replaced = true;
        break;
      }
    }
    if (!replaced) visible.push_back(e);
  }
  return visible;
}

std::vector<MountEntry> StrongroomMounts(const std::vector<MountEntry>& entries) {
  std::vector<MountEntry> vaults;
  for (const MountEntry& e : VisibleMounts(entries)) {
    if (e.fstype == kStrongroomFsType) vaults.push_back(e);
  }
  return vaults;
}

std::vector<MountEntry> ReadMountinfo() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return {};
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseMountinfo(text);
}

std::optional<MountEntry> FindMount(const std::string& mountpoint) {
  std::optional<MountEntry> found;
  for (const MountEntry& e : ReadMountinfo()) {
    if (e.mountpoint == mountpoint) found = e;  // the last one listed is the top of the stack
  }
  return found;
}

std::optional<MountEntry> MountOfVault(const std::string& dir) {
  for (const MountEntry& m : StrongroomMounts(ReadMountinfo())) {
    if (m.source == kSourcePrefix + dir) return m;
  }
  return std::nullopt;
}

}  // namespace strongroom::tools
