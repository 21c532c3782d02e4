#include "common/option_name.hpp"

namespace actoken {
namespace {

bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }

bool is_letter(char c) noexcept { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

// Long enough for every real option and command; a key is never this short and this plain.
constexpr std::size_t max_printable_name = 24;

// `name` is a lower-case letter and then lower-case letters, digits or dashes, not too long.
bool plain_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_printable_name || !is_lower(name.front())) {
    return false;
  }
  for (const char c : name) {
    if (!is_lower(c) && !(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<std::string_view> printable_option_name(std::string_view arg) noexcept {
  const auto name = arg.substr(0, arg.find('='));
  if (name.size() == 2 && name[0] == '-' && is_letter(name[1])) {
    return name;
  }
  // A key rarely starts with "--" and is never this short and this plain.
  if (!name.starts_with("--") || !plain_name(name.substr(2))) {
    return std::nullopt;
  }
  return name;
}

std::optional<std::string_view> printable_command_name(std::string_view word) noexcept {
  if (!plain_name(word)) {
    return std::nullopt;
  }
  return word;
}

}  // namespace actoken
