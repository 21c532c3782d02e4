#include "client/http_response.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace actoken::client {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u) != 0) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

parse_result invalid(std::string message) {
  parse_result result;
  result.state = parse_state::invalid;
  result.error = std::move(message);
  return result;
}

// "HTTP/1.1 200 OK" -> status and reason.
bool parse_status_line(std::string_view line, http_response& response) {
  constexpr std::string_view prefix = "HTTP/1.";
  if (line.size() < prefix.size() + 5 || line.substr(0, prefix.size()) != prefix ||
      std::isdigit(static_cast<unsigned char>(line[prefix.size()])) == 0 ||
      line[prefix.size() + 1] != ' ') {
    return false;
  }
  const auto code = line.substr(prefix.size() + 2, 3);
  if (!std::all_of(code.begin(), code.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return false;
  }
  const auto rest = line.substr(prefix.size() + 5);
  if (!rest.empty() && rest.front() != ' ') {
    return false;
  }
  unsigned status = 0;
  std::from_chars(code.data(), code.data() + code.size(), status);
  if (status < 100) {
    return false;
  }
  response.status = status;
  response.reason = std::string(trim_ows(rest));
  return true;
}

// The head of an answer, as far as it has arrived: its lines (CRLF or a bare
// LF ends each) up to the empty line that ends it.
struct head_scan {
  std::vector<std::string_view> lines;
  std::size_t body_start = std::string_view::npos;  ///< the first body byte; npos: incomplete
  std::size_t scanned = 0;                          ///< bytes looked at
  bool empty_status_line = false;                   ///< the empty line came first
};

head_scan scan_head(std::string_view data, std::size_t max_head) {
  head_scan head;
  std::size_t& pos = head.scanned;
  while (pos < data.size() && pos <= max_head) {
    const auto newline = data.find('\n', pos);
    if (newline == std::string_view::npos) {
      break;
    }
    auto line = data.substr(pos, newline - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    pos = newline + 1;
    if (line.empty()) {
      head.empty_status_line = head.lines.empty();
      head.body_start = pos;
      break;
    }
    head.lines.push_back(line);
  }
  return head;
}

// A head not (yet) complete: too large, not HTTP, cut off, or still arriving.
parse_result incomplete_head(std::string_view data, std::size_t scanned, bool at_eof,
                             std::size_t max_head) {
  if (scanned > max_head || data.size() > max_head) {
    return invalid("response head is larger than " + std::to_string(max_head) + " bytes");
  }
  // Reject garbage early instead of waiting for a head that never comes.
  constexpr std::string_view prefix = "HTTP/";
  const auto seen = data.substr(0, std::min(data.size(), prefix.size()));
  if (seen != prefix.substr(0, seen.size())) {
    return invalid("not an HTTP response");
  }
  if (at_eof) {
    return invalid(data.empty() ? "connection closed without an answer"
                                : "connection closed in the middle of the response head");
  }
  return {};
}

// The header lines after the status line into `response`, and the one
// Content-Length they agree on; why they are refused, if they are.
std::optional<std::string> parse_header_lines(const std::vector<std::string_view>& lines,
                                              http_response& response,
                                              std::optional<std::uint64_t>& content_length) {
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto line = lines[i];
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return "malformed header line";
    }
    const auto name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) {
      return "malformed header name";
    }
    const auto value = trim_ows(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      std::uint64_t length = 0;
      const auto* end = value.data() + value.size();
      const auto [ptr, ec] = std::from_chars(value.data(), end, length);
      if (value.empty() || ec != std::errc() || ptr != end) {
        return "malformed Content-Length";
      }
      if (content_length && *content_length != length) {
        return "conflicting Content-Length headers";
      }
      content_length = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      return "unsupported Transfer-Encoding (expected Content-Length)";
    }
    response.headers.emplace_back(std::string(name), std::string(value));
  }
  return std::nullopt;
}

// `result`'s head parsed: its body from `rest` (the bytes after the head),
// complete, still arriving, or refused.
parse_result with_body(parse_result result, std::string_view rest,
                       std::optional<std::uint64_t> content_length, bool at_eof,
                       std::size_t max_body) {
  const unsigned status = result.response.status;
  // 1xx, 204 and 304 answers have no body whatever the headers say (RFC 9112 §6.3).
  if (status < 200 || status == 204 || status == 304) {
    result.state = parse_state::complete;
    return result;
  }
  const std::string too_large =
      "response body is larger than " + std::to_string(max_body) + " bytes";
  if (content_length) {
    if (*content_length > max_body) {
      return invalid(too_large);
    }
    const auto length = static_cast<std::size_t>(*content_length);
    if (rest.size() < length) {
      return at_eof ? invalid("connection closed in the middle of the response body")
                    : parse_result{};
    }
    rest = rest.substr(0, length);
  } else if (rest.size() > max_body) {
    // No length: the body runs to the end of the connection.
    return invalid(too_large);
  } else if (!at_eof) {
    return {};
  }
  result.response.body = std::string(rest);
  result.state = parse_state::complete;
  return result;
}

}  // namespace

std::optional<std::string_view> http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

parse_result parse_http_response(std::string_view data, bool at_eof, const parse_limits& limits) {
  const head_scan head = scan_head(data, limits.max_head);
  if (head.empty_status_line) {
    return invalid("empty status line");
  }
  if (head.body_start == std::string_view::npos || head.body_start > limits.max_head) {
    return incomplete_head(data, head.scanned, at_eof, limits.max_head);
  }
  parse_result result;
  if (!parse_status_line(head.lines.front(), result.response)) {
    return invalid("malformed status line");
  }
  std::optional<std::uint64_t> content_length;
  if (auto problem = parse_header_lines(head.lines, result.response, content_length)) {
    return invalid(std::move(*problem));
  }
  return with_body(std::move(result), data.substr(head.body_start), content_length, at_eof,
                   limits.max_body);
}

}  // namespace actoken::client
