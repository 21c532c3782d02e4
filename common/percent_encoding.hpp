#pragma once

/// @file
/// The one percent-decoder (STYLE 20). RFC 3986 §2.1 decodes `%XX` and leaves
/// `+` alone: that is how a URL's path and user info read. A query in the
/// `application/x-www-form-urlencoded` form (HTML's URL-encoded form, which
/// the socket API's query strings are) also reads `+` as a space.

#include <optional>
#include <string>
#include <string_view>

namespace actoken {

/// How a `+` reads.
enum class plus_sign {
  literal,  ///< RFC 3986: a path segment, user info
  space,    ///< application/x-www-form-urlencoded: a query's names and values
};

namespace detail {
/// The value of hex digit `c`, or -1.
constexpr int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace detail

/// Appends the decoded `text` to `out` (a std::string, or a secure buffer for
/// a secret: anything with `push_back(char)`). False on a `%` not followed by
/// two hex digits; `out` then holds part of the text.
template <class Output>
bool percent_decode_into(std::string_view text, Output& out, plus_sign plus) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus == plus_sign::space) {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= text.size()) return false;
      const int high = detail::hex_digit(text[i + 1]);
      const int low = detail::hex_digit(text[i + 2]);
      if (high < 0 || low < 0) return false;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    }
  }
  return true;
}

/// Decodes a path segment or user info (RFC 3986: `+` stays `+`); nullopt
/// on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

/// Decodes a name or value of an `application/x-www-form-urlencoded` query
/// (`+` is a space); nullopt on a malformed escape.
std::optional<std::string> form_decode(std::string_view text);

}  // namespace actoken
