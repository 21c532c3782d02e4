#include "tests/stand_in/echo.hpp"

#include <algorithm>
#include <utility>

namespace actoken::stand_in {
namespace {

constexpr std::array<std::pair<echo_encoding, std::string_view>, 22> encoding_names{{
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
    {echo_encoding::html_dec_zeros, "html_dec_zeros"},
    {echo_encoding::html_hex_zeros, "html_hex_zeros"},
    {echo_encoding::base64, "base64"},
    {echo_encoding::base64url, "base64url"},
    {echo_encoding::base64_offset1, "base64_offset1"},
    {echo_encoding::base64_offset2, "base64_offset2"},
    {echo_encoding::hex_lower, "hex_lower"},
    {echo_encoding::hex_upper, "hex_upper"},
    {echo_encoding::zero_width, "zero_width"},
    {echo_encoding::invisible, "invisible"},
    {echo_encoding::split, "split"},
}};

// The characters `invisible` puts between the key's, in turn: word joiner,
// BOM, left-to-right mark, right-to-left override, soft hyphen, C1 NEL.
constexpr std::array<std::string_view, 6> invisible_marks{
    "\xE2\x81\xA0", "\xEF\xBB\xBF", "\xE2\x80\x8E", "\xE2\x80\xAE", "\xC2\xAD", "\xC2\x85"};

// RFC 4648 base64 of `bytes`: padded (§4), or URL-safe without padding (§5).
std::string base64_of(std::string_view bytes, bool url_safe) {
  static constexpr std::string_view standard =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr std::string_view url =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto alphabet = url_safe ? url : standard;
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    unsigned group = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      group = (group << 8U) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0U);
    }
    for (std::size_t k = 0; k < 4; ++k) {
      if (k <= n) {
        out += alphabet[(group >> (18 - 6 * k)) & 0x3FU];
      } else if (!url_safe) {
        out += '=';
      }
    }
  }
  return out;
}

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

bool is_html_escape(echo_encoding value) noexcept {
  return value == echo_encoding::html_dec || value == echo_encoding::html_hex ||
         value == echo_encoding::html_hex_upper || value == echo_encoding::html_named ||
         value == echo_encoding::html_dec_zeros || value == echo_encoding::html_hex_zeros;
}

bool is_json_escape(echo_encoding value) noexcept {
  return value == echo_encoding::json_slash || value == echo_encoding::json_u ||
         value == echo_encoding::json_u_lower;
}

std::string encode_echo(std::string_view key, echo_encoding encoding) {
  switch (encoding) {
    case echo_encoding::base64:
      return base64_of(key, false);
    case echo_encoding::base64url:
      return base64_of(key, true);
    case echo_encoding::base64_offset1:
      return base64_of("x" + std::string(key), false);
    case echo_encoding::base64_offset2:
      return base64_of("xy" + std::string(key), false);
    default:
      break;
  }
  std::string out;
  std::size_t index = 0;
  for (const char c : key) {
    const bool first = index++ == 0;
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
      case echo_encoding::html_dec_zeros: {
        const auto digits = std::to_string(byte_of(c));
        out += "&#" + std::string(11 - digits.size(), '0') + digits + ";";
        break;
      }
      case echo_encoding::html_hex_zeros:
        out += "&#x" + hex(c, 10, false) + ";";
        break;
      case echo_encoding::hex_lower:
        out += hex(c, 2, false);
        break;
      case echo_encoding::hex_upper:
        out += hex(c, 2, true);
        break;
      case echo_encoding::zero_width:
        out += (first ? "" : "\xE2\x80\x8B") + std::string(1, c);
        break;
      case echo_encoding::invisible:
        // The marks in turn, the first between the first two characters.
        out += (first ? std::string()
                      : std::string(invisible_marks[(index - 2) % invisible_marks.size()])) +
               std::string(1, c);
        break;
      case echo_encoding::split:
      case echo_encoding::base64:
      case echo_encoding::base64url:
      case echo_encoding::base64_offset1:
      case echo_encoding::base64_offset2:
        out += c;
        break;
    }
  }
  return out;
}

}  // namespace actoken::stand_in
