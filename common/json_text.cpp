#include "common/json_text.hpp"

#include <charconv>

namespace actoken {
namespace {

bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c >= 0x7F; }

// Appends `value` with at least `width` digits (zero-padded).
void append_number(std::string& out, long long value, int width) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  (void)ec;  // 24 bytes hold any long long
  for (auto n = end - buffer; n < width; ++n) out.push_back('0');
  out.append(buffer, end);
}

}  // namespace

namespace detail {

// Overlong forms, surrogates and values past U+10FFFF are not well-formed
// (Unicode 15, table 3-7).
std::size_t utf8_sequence_length(std::string_view text) noexcept {
  if (text.empty()) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto lead = byte(0);
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < low || byte(1) > high) {
    return 0;
  }
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

void append_escaped(std::string_view text, void (*append)(void*, std::string_view), void* out) {
  static constexpr char hex[] = "0123456789abcdef";
  append(out, "\"");
  while (!text.empty()) {
    // The common case, a run of printable ASCII, goes in at once.
    std::size_t plain = 0;
    while (plain < text.size() && !needs_escape(static_cast<unsigned char>(text[plain]))) ++plain;
    if (plain > 0) append(out, text.substr(0, plain));
    text.remove_prefix(plain);
    if (text.empty()) break;

    const auto c = static_cast<unsigned char>(text.front());
    if (c == '"' || c == '\\') {
      const char escaped[2] = {'\\', static_cast<char>(c)};
      append(out, {escaped, 2});
      text.remove_prefix(1);
    } else if (c < 0x20 || c == 0x7F) {
      const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4U], hex[c & 0x0FU]};
      append(out, {escaped, 6});
      text.remove_prefix(1);
    } else if (const auto length = utf8_sequence_length(text); length > 0) {
      append(out, text.substr(0, length));
      text.remove_prefix(length);
    } else {
      append(out, "\\ufffd");
      text.remove_prefix(1);
    }
  }
  append(out, "\"");
}

}  // namespace detail

void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto second = floor<seconds>(t);
  const auto day = floor<days>(second);
  const year_month_day date{day};
  const hh_mm_ss<seconds> time{second - day};
  append_number(out, static_cast<int>(date.year()), 4);
  out.push_back('-');
  append_number(out, static_cast<unsigned>(date.month()), 2);
  out.push_back('-');
  append_number(out, static_cast<unsigned>(date.day()), 2);
  out.push_back('T');
  append_number(out, time.hours().count(), 2);
  out.push_back(':');
  append_number(out, time.minutes().count(), 2);
  out.push_back(':');
  append_number(out, time.seconds().count(), 2);
  out.push_back('Z');
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::string out;
  out.reserve(20);
  append_rfc3339(out, t);
  return out;
}

}  // namespace actoken
