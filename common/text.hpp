#pragma once

/// @file
/// Small text helpers shared by the daemon's readers (STYLE 20).

#include <string_view>

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

}  // namespace actoken
