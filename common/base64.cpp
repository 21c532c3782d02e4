#include "common/base64.hpp"

namespace actoken {
namespace {

// The value of a base64 digit in either alphabet, or -1.
int digit_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Decodes the digits of `text` (no padding); false on a character that is
// not a digit of `alphabet` (both alphabets when `lenient`).
bool decode_digits(std::string_view text, bool lenient, std::string& out) {
  std::uint32_t buffer = 0;
  unsigned bits = 0;
  for (const char c : text) {
    const int value = digit_value(c);
    if (value < 0 || (!lenient && (c == '-' || c == '_'))) return false;
    buffer = (buffer << 6U) | static_cast<std::uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFFU));
    }
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  append_base64(bytes, out);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  if (!decode_digits(text.substr(0, text.size() - padding), false, out)) return std::nullopt;
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  if (!decode_digits(text.substr(0, text.find('=')), true, out)) return std::nullopt;
  return out;
}

}  // namespace actoken
