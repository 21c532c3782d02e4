#include "client/http_response.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

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
  // Find the end of the head: an empty line. Lines end in CRLF; a bare LF is tolerated.
  std::size_t head_end = std::string_view::npos;  // index of the first body byte
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < data.size() && pos <= limits.max_head) {
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
      if (lines.empty()) {
        return invalid("empty status line");
      }
      head_end = pos;
      break;
    }
    lines.push_back(line);
  }
  if (head_end == std::string_view::npos || head_end > limits.max_head) {
    if (pos > limits.max_head || data.size() > limits.max_head) {
      return invalid("response head is larger than " + std::to_string(limits.max_head) + " bytes");
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

  parse_result result;
  auto& response = result.response;
  if (!parse_status_line(lines.front(), response)) {
    return invalid("malformed status line");
  }

  std::optional<std::uint64_t> content_length;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto line = lines[i];
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return invalid("malformed header line");
    }
    const auto name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) {
      return invalid("malformed header name");
    }
    const auto value = trim_ows(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      std::uint64_t length = 0;
      const auto* end = value.data() + value.size();
      const auto [ptr, ec] = std::from_chars(value.data(), end, length);
      if (value.empty() || ec != std::errc() || ptr != end) {
        return invalid("malformed Content-Length");
      }
      if (content_length && *content_length != length) {
        return invalid("conflicting Content-Length headers");
      }
      content_length = length;
    } else if (iequals(name, "Transfer-Encoding")) {
      return invalid("unsupported Transfer-Encoding (expected Content-Length)");
    }
    response.headers.emplace_back(std::string(name), std::string(value));
  }

  const auto available = data.size() - head_end;
  // 1xx, 204 and 304 answers have no body whatever the headers say (RFC 9112 §6.3).
  const bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  if (bodiless) {
    result.state = parse_state::complete;
    return result;
  }
  if (content_length) {
    if (*content_length > limits.max_body) {
      return invalid("response body is larger than " + std::to_string(limits.max_body) + " bytes");
    }
    const auto length = static_cast<std::size_t>(*content_length);
    if (available < length) {
      if (at_eof) {
        return invalid("connection closed in the middle of the response body");
      }
      return {};
    }
    response.body = std::string(data.substr(head_end, length));
    result.state = parse_state::complete;
    return result;
  }
  // No length: the body runs to the end of the connection.
  if (available > limits.max_body) {
    return invalid("response body is larger than " + std::to_string(limits.max_body) + " bytes");
  }
  if (!at_eof) {
    return {};
  }
  response.body = std::string(data.substr(head_end));
  result.state = parse_state::complete;
  return result;
}

}  // namespace actoken::client
