#include "common/option_name.hpp"

namespace actoken {
namespace {

bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }

bool is_letter(char c) noexcept { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::optional<std::string_view> printable_option_name(std::string_view arg) noexcept {
  const auto name = arg.substr(0, arg.find('='));
  if (name.size() == 2 && name[0] == '-' && is_letter(name[1])) {
    return name;
  }
  // Long enough for every real option; a key rarely starts with "--" and is
  // never this short and this plain.
  constexpr std::size_t max_long_name = 24;
  if (!name.starts_with("--") || name.size() < 3 || name.size() - 2 > max_long_name ||
      !is_lower(name[2])) {
    return std::nullopt;
  }
  for (const char c : name.substr(2)) {
    if (!is_lower(c) && !(c >= '0' && c <= '9') && c != '-') {
      return std::nullopt;
    }
  }
  return name;
}

}  // namespace actoken
