#include "daemon/upstream/key_echo.hpp"

#include "daemon/platform/secure_memory.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace actoken::upstream {
namespace {

// Below this a "key" would match ordinary words and withhold every message.
constexpr std::size_t min_key_size = 4;
// The most characters of an echo that an escape opened just before it can
// swallow: `&#` then up to 7 digits and `;`, or `&` then a 7-letter name and
// `;` (JSON's `\u` takes 4, percent's `%` 2).
constexpr std::size_t max_swallowed = 8;
// What is left of a key to search for is never shorter than this, so that a
// short key is not reduced to a few common characters.
constexpr std::size_t min_needle_size = 12;
constexpr std::size_t max_decimal_digits = 7;  // 1114111 = U+10FFFF
constexpr std::size_t max_hex_digits = 6;      // 10FFFF
constexpr std::uint32_t max_code_point = 0x10FFFF;

// HTML's named references for ASCII marks (WHATWG's list; names compared
// without regard to case, which errs towards withholding).
struct named_reference {
  std::string_view name;
  char value;
};
constexpr std::array<named_reference, 38> named_references{{
    {"amp", '&'},    {"lt", '<'},       {"gt", '>'},     {"quot", '"'},   {"apos", '\''},
    {"tab", '\t'},   {"newline", '\n'}, {"excl", '!'},   {"num", '#'},    {"dollar", '$'},
    {"percnt", '%'}, {"lpar", '('},     {"rpar", ')'},   {"ast", '*'},    {"midast", '*'},
    {"plus", '+'},   {"comma", ','},    {"period", '.'}, {"sol", '/'},    {"colon", ':'},
    {"semi", ';'},   {"equals", '='},   {"quest", '?'},  {"commat", '@'}, {"lsqb", '['},
    {"lbrack", '['}, {"bsol", '\\'},    {"rsqb", ']'},   {"rbrack", ']'}, {"hat", '^'},
    {"lowbar", '_'}, {"grave", '`'},    {"lcub", '{'},   {"lbrace", '{'}, {"verbar", '|'},
    {"vert", '|'},   {"rcub", '}'},     {"rbrace", '}'},
}};
constexpr std::size_t max_name_size = 7;
// The references HTML also reads without a `;` (the legacy ones among the above).
constexpr std::array<named_reference, 4> legacy_references{
    {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}}};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  const auto byte = [&out](std::uint32_t value) { out.push_back(static_cast<char>(value)); };
  if (code_point < 0x80) {
    byte(code_point);
  } else if (code_point < 0x800) {
    byte(0xC0 | (code_point >> 6));
    byte(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    byte(0xE0 | (code_point >> 12));
    byte(0x80 | ((code_point >> 6) & 0x3F));
    byte(0x80 | (code_point & 0x3F));
  } else {
    byte(0xF0 | (code_point >> 18));
    byte(0x80 | ((code_point >> 12) & 0x3F));
    byte(0x80 | ((code_point >> 6) & 0x3F));
    byte(0x80 | (code_point & 0x3F));
  }
}

// Each reader below looks at the escape starting at text[i]; it appends what
// the escape stands for and returns its length, or returns 0 (and appends
// nothing) when there is no whole escape there.

std::size_t read_percent(std::string_view text, std::size_t i, std::string& out) {
  if (i + 2 >= text.size()) return 0;
  const int high = hex_value(text[i + 1]);
  const int low = hex_value(text[i + 2]);
  if (high < 0 || low < 0) return 0;
  out.push_back(static_cast<char>(high * 16 + low));
  return 3;
}

// Four hex digits at text[i], or nothing.
std::optional<std::uint32_t> four_hex(std::string_view text, std::size_t i) {
  if (i + 4 > text.size()) return std::nullopt;
  std::uint32_t value = 0;
  for (std::size_t k = i; k < i + 4; ++k) {
    const int digit = hex_value(text[k]);
    if (digit < 0) return std::nullopt;
    value = value * 16 + static_cast<std::uint32_t>(digit);
  }
  return value;
}

std::size_t read_json(std::string_view text, std::size_t i, std::string& out) {
  if (i + 1 >= text.size()) return 0;
  switch (text[i + 1]) {
    case '"':
    case '\\':
    case '/':
      out.push_back(text[i + 1]);
      return 2;
    case 'b':
      out.push_back('\b');
      return 2;
    case 'f':
      out.push_back('\f');
      return 2;
    case 'n':
      out.push_back('\n');
      return 2;
    case 'r':
      out.push_back('\r');
      return 2;
    case 't':
      out.push_back('\t');
      return 2;
    case 'u':
      break;
    default:
      return 0;
  }
  const auto unit = four_hex(text, i + 2);
  if (!unit) return 0;
  // A high surrogate followed by a low one is one code point; a lone one is
  // kept as its own (invalid) three bytes, which compare like any non-ASCII.
  if (*unit >= 0xD800 && *unit <= 0xDBFF && i + 7 < text.size() && text[i + 6] == '\\' &&
      text[i + 7] == 'u') {
    const auto next = four_hex(text, i + 8);
    if (next && *next >= 0xDC00 && *next <= 0xDFFF) {
      append_utf8(out, 0x10000 + ((*unit - 0xD800) << 10) + (*next - 0xDC00));
      return 12;
    }
  }
  append_utf8(out, *unit);
  return 6;
}

std::size_t read_numeric_reference(std::string_view text, std::size_t i, std::string& out) {
  std::size_t k = i + 2;  // past "&#"
  const bool hex = k < text.size() && (text[k] == 'x' || text[k] == 'X');
  if (hex) ++k;
  const std::size_t first_digit = k;
  const std::size_t max_digits = hex ? max_hex_digits : max_decimal_digits;
  std::uint32_t value = 0;
  while (k < text.size() && k - first_digit < max_digits) {
    const int digit =
        hex ? hex_value(text[k]) : (text[k] >= '0' && text[k] <= '9' ? text[k] - '0' : -1);
    if (digit < 0) break;
    value = value * (hex ? 16U : 10U) + static_cast<std::uint32_t>(digit);
    ++k;
  }
  // More digits than a code point has is not a reference this reads (and
  // keeps what an open `&#` can swallow of an echo bounded).
  const bool more_digits =
      k < text.size() && (hex ? hex_value(text[k]) >= 0 : (text[k] >= '0' && text[k] <= '9'));
  if (k == first_digit || more_digits || value > max_code_point) return 0;
  if (k < text.size() && text[k] == ';') ++k;
  append_utf8(out, value);
  return k - i;
}

std::size_t read_named_reference(std::string_view text, std::size_t i, std::string& out) {
  std::size_t k = i + 1;  // past "&"
  while (k < text.size() && k - (i + 1) <= max_name_size &&
         ((text[k] >= 'a' && text[k] <= 'z') || (text[k] >= 'A' && text[k] <= 'Z'))) {
    ++k;
  }
  const auto name = text.substr(i + 1, k - (i + 1));
  if (k < text.size() && text[k] == ';') {
    for (const auto& reference : named_references) {
      if (equal_ignoring_case(name, reference.name)) {
        out.push_back(reference.value);
        return name.size() + 2;
      }
    }
  }
  for (const auto& reference : legacy_references) {
    if (name.size() >= reference.name.size() &&
        equal_ignoring_case(name.substr(0, reference.name.size()), reference.name)) {
      out.push_back(reference.value);
      return reference.name.size() + 1;
    }
  }
  return 0;
}

std::size_t read_html(std::string_view text, std::size_t i, std::string& out) {
  if (i + 1 >= text.size()) return 0;
  return text[i + 1] == '#' ? read_numeric_reference(text, i, out)
                            : read_named_reference(text, i, out);
}

bool undoes(escape_kind kind, escape_kind one) noexcept {
  return kind == escape_kind::all || kind == one;
}

// Upstream text that may hold the key: wiped when done with, like the key.
class scrubbed_text {
 public:
  explicit scrubbed_text(std::string text) : text_(std::move(text)) {}
  ~scrubbed_text() { platform::secure_wipe(text_.data(), text_.size()); }
  scrubbed_text(const scrubbed_text&) = delete;
  scrubbed_text& operator=(const scrubbed_text&) = delete;
  std::string_view view() const noexcept { return text_; }

 private:
  std::string text_;
};

// `+`, space, controls and non-ASCII bytes compare equal: a server may turn
// `+` into a space (form decoding) and the detail shown turns the others into
// spaces, so a key differing only there would still be readable in it.
char comparable(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return (c == '+' || u <= 0x20 || u >= 0x7F) ? ' ' : c;
}

// Knuth-Morris-Pratt over `comparable` characters: linear in the text
// whatever it holds, where a naive search is quadratic on crafted input.
class key_searcher {
 public:
  explicit key_searcher(std::string_view needle) : needle_(needle), border_(needle.size(), 0) {
    std::size_t k = 0;
    for (std::size_t i = 1; i < needle_.size(); ++i) {
      while (k > 0 && comparable(needle_[i]) != comparable(needle_[k])) k = border_[k - 1];
      if (comparable(needle_[i]) == comparable(needle_[k])) ++k;
      border_[i] = k;
    }
  }
  ~key_searcher() { platform::secure_wipe(border_.data(), border_.size() * sizeof(std::size_t)); }
  key_searcher(const key_searcher&) = delete;
  key_searcher& operator=(const key_searcher&) = delete;

  bool found_in(std::string_view text) const {
    std::size_t k = 0;
    for (const char c : text) {
      while (k > 0 && comparable(c) != comparable(needle_[k])) k = border_[k - 1];
      if (comparable(c) == comparable(needle_[k])) ++k;
      if (k == needle_.size()) return true;
    }
    return false;
  }

 private:
  std::string_view needle_;
  std::vector<std::size_t> border_;  // length of the longest proper border of needle_[0..i]
};

}  // namespace

std::optional<std::string> unescape(std::string_view text, escape_kind kind) {
  std::string out;
  bool changed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!changed) {
      // Most text has no escape at all: look for the next candidate first.
      const auto next = text.find_first_of("%\\&", i);
      if (next == std::string_view::npos) break;
      out.reserve(text.size());
      out.append(text.substr(i, next - i));
      i = next;
    }
    std::size_t used = 0;
    switch (text[i]) {
      case '%':
        if (undoes(kind, escape_kind::percent)) used = read_percent(text, i, out);
        break;
      case '\\':
        if (undoes(kind, escape_kind::json)) used = read_json(text, i, out);
        break;
      case '&':
        if (undoes(kind, escape_kind::html)) used = read_html(text, i, out);
        break;
      default:
        break;
    }
    if (used == 0) {
      out.push_back(text[i]);
      used = 1;
    } else {
      changed = true;
    }
    i += used;
  }
  if (!changed) {
    platform::secure_wipe(out.data(), out.size());
    return std::nullopt;
  }
  return out;
}

bool echoes_key(std::string_view text, std::string_view key) {
  if (key.size() < min_key_size) return false;
  // The key without the first characters an open escape may have swallowed;
  // finding that is finding the key, give or take a few characters.
  const std::size_t skip =
      key.size() > min_needle_size ? std::min(max_swallowed, key.size() - min_needle_size) : 0;
  const key_searcher searcher(key.substr(skip));
  if (searcher.found_in(text)) return true;

  constexpr std::array<escape_kind, 3> single{escape_kind::percent, escape_kind::json,
                                              escape_kind::html};
  // Each encoding alone and each one inside another (a percent-encoded key in
  // a JSON string, HTML in JSON, ...), so that a key with a literal `%`, `\`
  // or `&` of its own is still found when only one layer was applied to it.
  for (const auto first : single) {
    auto once = unescape(text, first);
    if (!once) continue;
    const scrubbed_text decoded(std::move(*once));
    if (searcher.found_in(decoded.view())) return true;
    for (const auto second : single) {
      if (second == first) continue;
      if (auto twice = unescape(decoded.view(), second)) {
        const scrubbed_text decoded_twice(std::move(*twice));
        if (searcher.found_in(decoded_twice.view())) return true;
      }
    }
  }
  // Everything at once, three layers deep (`%252B`, `\u0026#43;`, ...).
  std::optional<scrubbed_text> layer;
  for (int depth = 0; depth < 3; ++depth) {
    auto next = unescape(layer ? layer->view() : text, escape_kind::all);
    if (!next) break;
    layer.emplace(std::move(*next));
    if (searcher.found_in(layer->view())) return true;
  }
  return false;
}

}  // namespace actoken::upstream
