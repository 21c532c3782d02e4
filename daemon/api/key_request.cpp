#include "daemon/api/key_request.hpp"

#include "common/json_text.hpp"
#include "common/text.hpp"
#include "daemon/upstream/url.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace actoken::api {
namespace {

const std::string not_json = "the body is not valid JSON";

// Reads JSON text front to back; each read_* consumes what it recognised.
class json_cursor {
 public:
  explicit json_cursor(std::string_view text) : rest_(text) {}

  void skip_space() {
    while (!rest_.empty() && (rest_.front() == ' ' || rest_.front() == '\t' ||
                              rest_.front() == '\n' || rest_.front() == '\r')) {
      rest_.remove_prefix(1);
    }
  }
  bool at_end() const noexcept { return rest_.empty(); }
  char peek() const noexcept { return rest_.empty() ? '\0' : rest_.front(); }
  bool consume(char c) {
    if (rest_.empty() || rest_.front() != c) return false;
    rest_.remove_prefix(1);
    return true;
  }
  bool consume(std::string_view word) {
    if (!rest_.starts_with(word)) return false;
    rest_.remove_prefix(word.size());
    return true;
  }

  /// Reads a string literal, appending its decoded bytes to `out` (a
  /// std::string, or a secure_buffer for the key: byte by byte, no copy of
  /// the text elsewhere). False when malformed.
  template <class Out>
  bool read_string(Out& out) {
    if (!consume('"')) return false;
    while (!rest_.empty()) {
      const auto c = static_cast<unsigned char>(rest_.front());
      if (c == '"') {
        rest_.remove_prefix(1);
        return true;
      }
      if (c < 0x20) return false;  // raw control characters are not JSON
      if (c == '\\') {
        if (!read_escape(out)) return false;
        continue;
      }
      const auto length = detail::utf8_sequence_length(rest_);
      if (length == 0) return false;
      for (std::size_t i = 0; i < length; ++i) out.push_back(rest_[i]);
      rest_.remove_prefix(length);
    }
    return false;
  }

 private:
  template <class Out>
  bool read_escape(Out& out) {
    rest_.remove_prefix(1);  // the backslash
    if (rest_.empty()) return false;
    const char c = rest_.front();
    rest_.remove_prefix(1);
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out.push_back(c);
        return true;
      case 'b':
        out.push_back('\b');
        return true;
      case 'f':
        out.push_back('\f');
        return true;
      case 'n':
        out.push_back('\n');
        return true;
      case 'r':
        out.push_back('\r');
        return true;
      case 't':
        out.push_back('\t');
        return true;
      case 'u':
        return read_code_point(out);
      default:
        return false;
    }
  }

  // Four hex digits; -1 when malformed.
  std::int32_t read_hex4() {
    if (rest_.size() < 4) return -1;
    std::int32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = rest_[static_cast<std::size_t>(i)];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        value |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        value |= c - 'A' + 10;
      } else {
        return -1;
      }
    }
    rest_.remove_prefix(4);
    return value;
  }

  // After "\u": one code point (a surrogate pair counts as one), as UTF-8.
  template <class Out>
  bool read_code_point(Out& out) {
    std::int32_t point = read_hex4();
    if (point < 0 || (point >= 0xDC00 && point <= 0xDFFF)) return false;
    if (point >= 0xD800 && point <= 0xDBFF) {
      if (!consume("\\u")) return false;
      const auto low = read_hex4();
      if (low < 0xDC00 || low > 0xDFFF) return false;
      point = 0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00);
    }
    const auto byte = [](std::int32_t value) { return static_cast<char>(value); };
    if (point < 0x80) {
      out.push_back(byte(point));
    } else if (point < 0x800) {
      out.push_back(byte(0xC0 | (point >> 6)));
      out.push_back(byte(0x80 | (point & 0x3F)));
    } else if (point < 0x10000) {
      out.push_back(byte(0xE0 | (point >> 12)));
      out.push_back(byte(0x80 | ((point >> 6) & 0x3F)));
      out.push_back(byte(0x80 | (point & 0x3F)));
    } else {
      out.push_back(byte(0xF0 | (point >> 18)));
      out.push_back(byte(0x80 | ((point >> 12) & 0x3F)));
      out.push_back(byte(0x80 | ((point >> 6) & 0x3F)));
      out.push_back(byte(0x80 | (point & 0x3F)));
    }
    return true;
  }

  std::string_view rest_;
};

// ASCII controls and space, DEL, and the C1 controls (U+0080..U+009F, which
// UTF-8 writes as C2 80..C2 9F): none belongs inside a key.
bool has_space_or_control(std::string_view key) noexcept {
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c <= 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

// A field name fit to quote in a reason: short, letters, digits and '_' (a
// name could be anything the client sent, a pasted key included).
std::string quoted_name(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 32 &&
                     name.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
  return plain ? name : "(a field name not shown)";
}

// Reads the value of "key" into `out.key`, trimmed of surrounding white space.
std::optional<std::string> read_key(json_cursor& in, key_request& out, std::size_t capacity) {
  if (in.peek() != '"') return "key must be a string";
  platform::secure_buffer raw;
  raw.reserve(capacity);  // decoding never grows it: no copy is left behind
  if (!in.read_string(raw)) return not_json;
  const auto text = trim(raw.view());
  if (text.empty()) return "the key is empty";
  if (has_space_or_control(text)) {
    return "the key has white space or a control character inside (check what was pasted)";
  }
  out.key.reserve(text.size());
  out.key.append(text);
  return std::nullopt;
}

std::optional<std::string> read_auth_url(json_cursor& in, key_request& out,
                                         std::size_t /*capacity*/) {
  std::string url;
  if (in.peek() != '"') return "auth_url must be a string";
  if (!in.read_string(url)) return not_json;
  auto server = upstream::parse_auth_url(url);  // the rule the config's auth_url follows
  if (!server) return "auth_url must be an https:// URL";
  out.auth_url = std::move(server->text);
  return std::nullopt;
}

std::optional<std::string> read_api_version(json_cursor& in, key_request& out,
                                            std::size_t /*capacity*/) {
  std::string text;
  if (in.peek() != '"' || !in.read_string(text) ||
      !(out.api_version = upstream::parse_api_version(text))) {
    return R"(api_version must be "v1", "v2", "v3" or "auto")";
  }
  return std::nullopt;
}

// `true` or `false` into `out`; the reason names `field` otherwise.
std::optional<std::string> read_bool(json_cursor& in, bool& out, std::string_view field) {
  if (in.consume("true")) {
    out = true;
  } else if (in.consume("false")) {
    out = false;
  } else {
    return std::string(field) + " must be true or false";
  }
  return std::nullopt;
}

std::optional<std::string> read_persist(json_cursor& in, key_request& out,
                                        std::size_t /*capacity*/) {
  return read_bool(in, out.persist, "persist");
}

std::optional<std::string> read_verify(json_cursor& in, key_request& out,
                                       std::size_t /*capacity*/) {
  return read_bool(in, out.verify, "verify");
}

// The fields a key PUT may carry and how each is read; `capacity` is the
// body's size, enough for any string in it.
using field_reader = std::optional<std::string> (*)(json_cursor& in, key_request& out,
                                                    std::size_t capacity);
struct field {
  std::string_view name;
  field_reader read;
};
constexpr std::array<field, 5> fields{{{"key", read_key},
                                       {"auth_url", read_auth_url},
                                       {"api_version", read_api_version},
                                       {"persist", read_persist},
                                       {"verify", read_verify}}};

}  // namespace

std::variant<key_request, std::string> parse_key_request(std::string_view body) {
  json_cursor in(body);
  key_request out;
  in.skip_space();
  if (!in.consume('{')) return std::string("the body must be a JSON object with a key");
  in.skip_space();
  std::array<bool, fields.size()> seen{};
  if (!in.consume('}')) {
    for (;;) {
      in.skip_space();
      std::string name;
      if (!in.read_string(name)) return not_json;
      in.skip_space();
      if (!in.consume(':')) return not_json;
      in.skip_space();
      const auto* it = std::find_if(fields.begin(), fields.end(),
                                    [&](const field& f) { return f.name == name; });
      if (it == fields.end()) return "unexpected field: " + quoted_name(name);
      auto& given = seen[static_cast<std::size_t>(it - fields.begin())];
      if (given) return name + " is given twice";
      given = true;
      const auto problem = it->read(in, out, body.size());
      if (problem) return *problem;
      in.skip_space();
      if (in.consume(',')) continue;
      if (in.consume('}')) break;
      return not_json;
    }
  }
  in.skip_space();
  if (!in.at_end()) return not_json;
  if (!seen[0]) return std::string("the body has no key");
  return out;
}

}  // namespace actoken::api
