#pragma once

/// @file
/// Small text helpers shared by the daemon and the CLI (STYLE 20).

#include <string>
#include <string_view>
#include <system_error>

namespace actoken {

/// ASCII white space: space, tab, CR, LF, form feed, vertical tab.
inline constexpr std::string_view ascii_space = " \t\r\n\f\v";

/// `text` without leading and trailing characters of `blanks`.
constexpr std::string_view trim(std::string_view text,
                                std::string_view blanks = ascii_space) noexcept {
  const auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

/// A file's permission bits as four octal digits, as `chmod` takes them: "0640".
inline std::string octal_mode(unsigned mode) {
  std::string text = "0000";
  for (auto digit = text.rbegin(); digit != text.rend(); ++digit, mode >>= 3) {
    *digit = static_cast<char>('0' + (mode & 07));
  }
  return text;
}

/// What an `errno` value means, in the C library's words ("Permission denied").
inline std::string errno_text(int error) { return std::generic_category().message(error); }

}  // namespace actoken
