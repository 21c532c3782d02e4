#pragma once

/// @file
/// A small reader of JSON text, front to back, for the few places where a
/// secret must not pass through a general JSON library (its lexer's token
/// buffer, the DOM's strings and their freed copies sit in ordinary heap
/// memory): a key PUT's body (daemon/api/key_request.cpp) and the config
/// file's proxy URL (daemon/settings/config.cpp). A string is decoded straight
/// into the caller's buffer, locked memory for a secret. Header-only, no
/// allocation of its own.

#include "common/json_text.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace actoken {

/// Reads JSON text front to back; each read_* and skip_* consumes what it
/// recognised. With `comments`, `//` and `/* */` comments count as white
/// space (as the config file allows).
class json_cursor {
 public:
  explicit json_cursor(std::string_view text, bool comments = false)
      : text_(text), rest_(text), comments_(comments) {}

  /// Skips white space (and comments, when they are allowed). False when a
  /// comment is left open.
  bool skip_space() {
    for (;;) {
      while (!rest_.empty() && (rest_.front() == ' ' || rest_.front() == '\t' ||
                                rest_.front() == '\n' || rest_.front() == '\r')) {
        rest_.remove_prefix(1);
      }
      if (!comments_ || rest_.size() < 2 || rest_.front() != '/') return true;
      if (rest_[1] == '/') {
        const auto end = rest_.find('\n');
        rest_.remove_prefix(end == std::string_view::npos ? rest_.size() : end);
      } else if (rest_[1] == '*') {
        const auto end = rest_.find("*/", 2);
        if (end == std::string_view::npos) return false;
        rest_.remove_prefix(end + 2);
      } else {
        return true;
      }
    }
  }
  /// How far into the text the cursor is.
  std::size_t offset() const noexcept { return text_.size() - rest_.size(); }
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

  /// Skips one value of any kind (nested at most `depth` deep). False when
  /// malformed.
  bool skip_value(int depth = 512) {
    if (depth == 0) return false;
    if (peek() == '"') {
      null_output ignored;
      return read_string(ignored);
    }
    if (consume('{')) return skip_members(depth);
    if (consume('[')) return skip_elements(depth);
    // A number, true, false or null: the characters they are made of.
    const auto end = rest_.find_first_not_of("0123456789+-.eEtrufalsn");
    const auto length = end == std::string_view::npos ? rest_.size() : end;
    rest_.remove_prefix(length);
    return length > 0;
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

  // Where a skipped string's bytes go.
  struct null_output {
    void push_back(char /*c*/) noexcept {}
  };

  bool skip_members(int depth) {
    if (!skip_space()) return false;
    if (consume('}')) return true;
    for (;;) {
      null_output name;
      if (!skip_space() || !read_string(name) || !skip_space() || !consume(':') || !skip_space() ||
          !skip_value(depth - 1) || !skip_space()) {
        return false;
      }
      if (consume('}')) return true;
      if (!consume(',')) return false;
    }
  }

  bool skip_elements(int depth) {
    if (!skip_space()) return false;
    if (consume(']')) return true;
    for (;;) {
      if (!skip_space() || !skip_value(depth - 1) || !skip_space()) return false;
      if (consume(']')) return true;
      if (!consume(',')) return false;
    }
  }

  std::string_view text_;
  std::string_view rest_;
  bool comments_;
};

}  // namespace actoken
