#include "tests/bench/response_scanner.hpp"

#include <charconv>

namespace actoken::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i];
    auto y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

scanned_response scan_response(std::string_view bytes, std::size_t max_head) noexcept {
  using state = scanned_response::state;
  scanned_response out;
  const auto end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    out.result = bytes.size() > max_head ? state::malformed : state::incomplete;
    return out;
  }
  out.head_size = end + 4;
  if (out.head_size > max_head) {
    out.result = state::malformed;
    return out;
  }
  auto head = bytes.substr(0, end);

  // Status line: "HTTP/1.x NNN reason".
  const auto line_end = head.find("\r\n");
  const auto status_line = head.substr(0, line_end);
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    out.result = state::malformed;
    return out;
  }
  const auto code = status_line.substr(9, 3);
  const auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), out.status);
  if (ec != std::errc() || ptr != code.data() + code.size() || out.status < 100) {
    out.result = state::malformed;
    return out;
  }

  bool has_length = false;
  auto rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
  while (!rest.empty()) {
    const auto next = rest.find("\r\n");
    const auto line = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      out.result = state::malformed;
      return out;
    }
    const auto name = line.substr(0, colon);
    const auto value = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::size_t length = 0;
      const auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (e != std::errc() || p != value.data() + value.size() || has_length) {
        out.result = state::malformed;
        return out;
      }
      out.content_length = length;
      has_length = true;
    } else if (iequals(name, "connection")) {
      out.close = iequals(value, "close");
    } else if (iequals(name, "transfer-encoding")) {
      out.result = state::malformed;  // a load generator for Content-Length servers only
      return out;
    }
  }
  if (!has_length) {
    out.result = state::malformed;
    return out;
  }
  out.result = bytes.size() >= out.total() ? state::complete : state::incomplete;
  return out;
}

}  // namespace actoken::bench
