#include "daemon/upstream/key_echo.hpp"

#include "common/base64.hpp"
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
  const auto digit_at = [&](std::size_t at) {
    if (at >= text.size()) return -1;
    return hex ? hex_value(text[at]) : (text[at] >= '0' && text[at] <= '9' ? text[at] - '0' : -1);
  };
  // Leading zeros, as many as there are: browsers read `&#0000000043;` as `+`.
  const std::size_t first_digit = k;
  while (digit_at(k) == 0) ++k;
  const std::size_t first_significant = k;
  const std::size_t max_digits = hex ? max_hex_digits : max_decimal_digits;
  std::uint32_t value = 0;
  while (k - first_significant < max_digits && digit_at(k) >= 0) {
    value = value * (hex ? 16U : 10U) + static_cast<std::uint32_t>(digit_at(k));
    ++k;
  }
  // More significant digits than a code point has is not a reference this
  // reads (and keeps what an open `&#` can swallow of an echo bounded).
  if (k == first_digit || digit_at(k) >= 0 || value > max_code_point) return 0;
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

// `+`, space, controls and non-ASCII bytes compare equal: a server may turn
// `+` into a space (form decoding) and the detail shown turns the others into
// spaces, so a key differing only there would still be readable in it. A
// table per byte, the same with letter case folded (hex digits mean the same
// in either case).
struct comparison_table {
  std::array<char, 256> exact{};
  std::array<char, 256> any_case{};
};

constexpr comparison_table make_comparison_table() {
  comparison_table table;
  for (std::size_t i = 0; i < 256; ++i) {
    const auto c = static_cast<char>(i);
    const char same = (c == '+' || i <= 0x20 || i >= 0x7F) ? ' ' : c;
    table.exact[i] = same;
    table.any_case[i] = (same >= 'A' && same <= 'Z') ? static_cast<char>(same - 'A' + 'a') : same;
  }
  return table;
}

constexpr comparison_table comparison = make_comparison_table();

// Knuth-Morris-Pratt over comparable characters: linear in the text whatever
// it holds, where a naive search is quadratic on crafted input. It owns its
// needle (a form of the key, already made comparable) and wipes it.
class key_searcher {
 public:
  key_searcher(std::string_view needle, bool any_case)
      : table_(any_case ? &comparison.any_case : &comparison.exact),
        needle_(needle),
        border_(needle_.size(), 0) {
    char* own = needle_.data();
    for (std::size_t i = 0; i < needle_.size(); ++i) own[i] = compare_as(needle[i]);
    std::size_t k = 0;
    for (std::size_t i = 1; i < needle_.size(); ++i) {
      while (k > 0 && own[i] != own[k]) k = border_[k - 1];
      if (own[i] == own[k]) ++k;
      border_[i] = k;
    }
  }
  ~key_searcher() { platform::secure_wipe(border_.data(), border_.size() * sizeof(std::size_t)); }
  key_searcher(key_searcher&&) = default;
  key_searcher& operator=(key_searcher&&) = delete;
  key_searcher(const key_searcher&) = delete;
  key_searcher& operator=(const key_searcher&) = delete;

  bool found_in(std::string_view text) const {
    const auto* needle = needle_.data();
    const auto* border = border_.data();
    const std::size_t size = needle_.size();
    std::size_t k = 0;
    for (const char c : text) {
      const char x = compare_as(c);
      while (k > 0 && x != needle[k]) k = border[k - 1];
      if (x == needle[k] && ++k == size) return true;
    }
    return false;
  }

 private:
  char compare_as(char c) const noexcept { return (*table_)[static_cast<unsigned char>(c)]; }

  const std::array<char, 256>* table_;
  platform::secure_buffer needle_;   // wiped when freed, like the key it is made of
  std::vector<std::size_t> border_;  // length of the longest proper border of needle_[0..i]
};

// The code points nothing shows: Unicode's format characters (zero-width
// spaces and joiners, bidi marks and isolates, the BOM, tags, ...), the other
// default-ignorable ones (fillers, variation selectors) and the C1 controls.
bool is_invisible(std::uint32_t c) noexcept {
  constexpr std::array<std::pair<std::uint32_t, std::uint32_t>, 20> ranges{{
      {0x80, 0x9F},       {0xAD, 0xAD},       {0x34F, 0x34F},     {0x61C, 0x61C},
      {0x115F, 0x1160},   {0x17B4, 0x17B5},   {0x180B, 0x180F},   {0x200B, 0x200F},
      {0x202A, 0x202E},   {0x2060, 0x206F},   {0x3164, 0x3164},   {0xD800, 0xDFFF},
      {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE0FFF}, {0xFFFE, 0xFFFF},
  }};
  return std::any_of(ranges.begin(), ranges.end(),
                     [c](const auto& range) { return c >= range.first && c <= range.second; });
}

// The UTF-8 sequence at text[i]: its length and code point, or length 0 for
// a byte that starts no whole sequence.
std::pair<std::size_t, std::uint32_t> utf8_at(std::string_view text, std::size_t i) noexcept {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t length = lead >= 0xF0 && lead <= 0xF4   ? 4
                             : lead >= 0xE0 && lead <= 0xEF ? 3
                             : lead >= 0xC2 && lead <= 0xDF ? 2
                                                            : 0;
  if (length == 0 || i + length > text.size()) return {0, 0};
  std::uint32_t c = lead & (0x7FU >> length);
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[i + k]);
    if ((next & 0xC0U) != 0x80U) return {0, 0};
    c = (c << 6U) | (next & 0x3FU);
  }
  return {length, c};
}

// The forms of the key searched for: the key itself, its base64 (standard
// and URL-safe) at each of the three byte alignments it can have inside a
// longer base64 text, and its hex. Each without the first characters an
// escape left open before it may swallow (at most `max_swallowed`, keeping
// `min_needle_size`); an encoded form shorter than that is not searched.
std::vector<key_searcher> key_forms(std::string_view key) {
  std::vector<key_searcher> forms;
  forms.reserve(8);  // never moved: each form stays where it was made
  const auto add = [&forms](std::string_view form, bool any_case, bool always) {
    if (!always && form.size() < min_needle_size) return;
    const std::size_t skip =
        form.size() > min_needle_size ? std::min(max_swallowed, form.size() - min_needle_size) : 0;
    forms.emplace_back(form.substr(skip), any_case);
  };
  add(key, false, true);
  for (std::size_t offset = 0; offset < 3; ++offset) {
    // The key after `offset` bytes of something else: only the characters
    // made of its bits alone are fixed, whatever came before and after it.
    platform::secure_buffer bytes;
    bytes.reserve(offset + key.size());
    bytes.resize(offset);
    bytes.append(key);
    platform::secure_buffer encoded;
    encoded.reserve((bytes.size() + 2) / 3 * 4);
    append_base64(bytes.view(), encoded);
    const std::size_t first = (8 * offset + 5) / 6;
    const std::size_t last = 8 * (offset + key.size()) / 6;  // one past
    const auto standard = encoded.view().substr(first, last - first);
    add(standard, false, false);
    platform::secure_buffer url_safe(standard);
    for (std::size_t i = 0; i < url_safe.size(); ++i) {
      auto& c = url_safe.data()[i];
      c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    add(url_safe.view(), false, false);
  }
  static constexpr std::string_view digits = "0123456789abcdef";
  platform::secure_buffer hex;
  hex.reserve(2 * key.size());
  for (const char c : key) {
    hex.push_back(digits[static_cast<unsigned char>(c) >> 4U]);
    hex.push_back(digits[static_cast<unsigned char>(c) & 0xFU]);
  }
  add(hex.view(), true, false);
  return forms;
}

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

scrubbed_text::~scrubbed_text() { platform::secure_wipe(text_.data(), text_.size()); }

std::optional<std::string> without_invisible(std::string_view text) {
  std::string out;
  bool removed = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    std::size_t length = 1;
    bool drop = u < 0x20 || u == 0x7F;
    if (u >= 0x80) {
      const auto [sequence, code_point] = utf8_at(text, i);
      // A byte that starts no whole sequence shows as nothing readable either.
      drop = sequence == 0 || is_invisible(code_point);
      length = std::max<std::size_t>(sequence, 1);
    }
    if (drop && !removed) {
      removed = true;
      out.reserve(text.size());
      out.append(text.substr(0, i));
    } else if (!drop && removed) {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  if (!removed) return std::nullopt;
  return out;
}

struct key_finder::forms {
  std::vector<key_searcher> searchers;
};

key_finder::key_finder(std::string_view key) {
  if (key.size() < min_key_size) return;
  forms_ = std::make_unique<const forms>(forms{key_forms(key)});
}

key_finder::~key_finder() = default;

bool key_finder::any_form_in(std::string_view text) const {
  const auto in = [&](std::string_view t) {
    return std::any_of(forms_->searchers.begin(), forms_->searchers.end(),
                       [t](const key_searcher& form) { return form.found_in(t); });
  };
  if (in(text)) return true;
  // Characters nothing shows may sit between the key's (`A\u200BB...`).
  if (auto visible = without_invisible(text)) {
    const scrubbed_text shown(std::move(*visible));
    return in(shown.view());
  }
  return false;
}

bool key_finder::in_layers(std::string_view text) const {
  if (any_form_in(text)) return true;
  constexpr std::array<escape_kind, 3> single{escape_kind::percent, escape_kind::json,
                                              escape_kind::html};
  // Each encoding alone and each one inside another (a percent-encoded key in
  // a JSON string, HTML in JSON, ...), so that a key with a literal `%`, `\`
  // or `&` of its own is still found when only one layer was applied to it.
  for (const auto first : single) {
    auto once = unescape(text, first);
    if (!once) continue;
    const scrubbed_text decoded(std::move(*once));
    if (any_form_in(decoded.view())) return true;
    for (const auto second : single) {
      if (second == first) continue;
      if (auto twice = unescape(decoded.view(), second)) {
        const scrubbed_text decoded_twice(std::move(*twice));
        if (any_form_in(decoded_twice.view())) return true;
      }
    }
  }
  // Everything at once, three layers deep (`%252B`, `\u0026#43;`, ...).
  std::optional<scrubbed_text> layer;
  for (int depth = 0; depth < 3; ++depth) {
    auto next = unescape(layer ? layer->view() : text, escape_kind::all);
    if (!next) break;
    layer.emplace(std::move(*next));
    if (any_form_in(layer->view())) return true;
  }
  return false;
}

bool key_finder::found_in(std::string_view text) const {
  if (!forms_) return false;
  if (in_layers(text)) return true;
  // Characters nothing shows may also break up an escape (`%\u200B2B`).
  if (auto visible = without_invisible(text)) {
    const scrubbed_text shown(std::move(*visible));
    return in_layers(shown.view());
  }
  return false;
}

bool echoes_key(std::string_view text, std::string_view key) {
  return key_finder(key).found_in(text);
}

}  // namespace actoken::upstream
