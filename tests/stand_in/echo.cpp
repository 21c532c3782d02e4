#include "tests/stand_in/echo.hpp"

#include <utility>

namespace actoken::stand_in {
namespace {

constexpr std::array<std::pair<echo_encoding, std::string_view>, 11> encoding_names{{
    {echo_encoding::raw, "raw"},
    {echo_encoding::percent_lower, "percent_lower"},
    {echo_encoding::percent_upper, "percent_upper"},
    {echo_encoding::plus, "plus"},
    {echo_encoding::json_slash, "json_slash"},
    {echo_encoding::json_u, "json_u"},
    {echo_encoding::json_u_lower, "json_u_lower"},
    {echo_encoding::html_dec, "html_dec"},
    {echo_encoding::html_hex, "html_hex"},
    {echo_encoding::html_hex_upper, "html_hex_upper"},
    {echo_encoding::html_named, "html_named"},
}};

bool is_alnum(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_unreserved(char c) noexcept {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

unsigned byte_of(char c) noexcept { return static_cast<unsigned char>(c); }

// `c` as `digits` hex digits, in upper or lower case.
std::string hex(char c, std::size_t digits, bool upper) {
  static constexpr std::string_view lower_digits = "0123456789abcdef";
  static constexpr std::string_view upper_digits = "0123456789ABCDEF";
  const auto alphabet = upper ? upper_digits : lower_digits;
  std::string out(digits, '0');
  unsigned value = byte_of(c);
  for (std::size_t i = digits; i-- > 0 && value != 0; value >>= 4U) out[i] = alphabet[value & 0xFU];
  return out;
}

std::string_view html_name(char c) noexcept {
  switch (c) {
    case '+':
      return "&plus;";
    case '/':
      return "&sol;";
    case '=':
      return "&equals;";
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '%':
      return "&percnt;";
    case '#':
      return "&num;";
    case ';':
      return "&semi;";
    case '\\':
      return "&bsol;";
    default:
      return {};
  }
}

}  // namespace

std::string_view to_string(echo_encoding value) noexcept {
  for (const auto& [candidate, name] : encoding_names) {
    if (candidate == value) return name;
  }
  return "raw";
}

std::optional<echo_encoding> parse_echo_encoding(std::string_view name) noexcept {
  for (const auto& [value, candidate] : encoding_names) {
    if (candidate == name) return value;
  }
  return std::nullopt;
}

bool is_json_escape(echo_encoding value) noexcept {
  return value == echo_encoding::json_slash || value == echo_encoding::json_u ||
         value == echo_encoding::json_u_lower;
}

std::string encode_echo(std::string_view key, echo_encoding encoding) {
  std::string out;
  for (const char c : key) {
    switch (encoding) {
      case echo_encoding::raw:
        out += c;
        break;
      case echo_encoding::percent_lower:
        out += is_unreserved(c) ? std::string(1, c) : "%" + hex(c, 2, false);
        break;
      case echo_encoding::percent_upper:
        out += is_unreserved(c) ? std::string(1, c) : "%" + hex(c, 2, true);
        break;
      case echo_encoding::plus:
        out += c == '+' ? ' ' : c;
        break;
      case echo_encoding::json_slash:
        if (c == '/' || c == '"' || c == '\\') out += '\\';
        out += c;
        break;
      case echo_encoding::json_u:
        out += is_alnum(c) ? std::string(1, c) : "\\u" + hex(c, 4, true);
        break;
      case echo_encoding::json_u_lower:
        out += is_alnum(c) ? std::string(1, c) : "\\u" + hex(c, 4, false);
        break;
      case echo_encoding::html_dec:
        out += is_alnum(c) ? std::string(1, c) : "&#" + std::to_string(byte_of(c)) + ";";
        break;
      case echo_encoding::html_hex:
        out += is_alnum(c) ? std::string(1, c) : "&#x" + hex(c, 2, false) + ";";
        break;
      case echo_encoding::html_hex_upper:
        out += is_alnum(c) ? std::string(1, c) : "&#X" + hex(c, 2, true) + ";";
        break;
      case echo_encoding::html_named: {
        const auto name = html_name(c);
        out += name.empty() ? std::string(1, c) : std::string(name);
        break;
      }
    }
  }
  return out;
}

}  // namespace actoken::stand_in
