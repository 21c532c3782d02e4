#include "client/http_request.hpp"

#include "common/version.hpp"

namespace actoken::client {

std::string percent_encode(std::string_view text) {
  constexpr std::string_view hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[byte >> 4U]);
      out.push_back(hex[byte & 0x0FU]);
    }
  }
  return out;
}

std::string make_target(std::string_view path, const std::vector<query_param>& query) {
  std::string target(path);
  char separator = '?';
  for (const auto& [name, value] : query) {
    target.push_back(separator);
    target += percent_encode(name);
    target.push_back('=');
    target += percent_encode(value);
    separator = '&';
  }
  return target;
}

std::string format_request_head(std::string_view method, std::string_view target,
                                std::size_t body_size, bool has_body) {
  std::string head;
  head.reserve(160 + target.size());
  head.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  head.append("Host: localhost\r\n");
  head.append("Connection: close\r\n");
  head.append("Accept: application/json\r\n");
  head.append("User-Agent: actoken/").append(actoken::version).append("\r\n");
  if (has_body) {
    head.append("Content-Type: application/json\r\n");
  }
  if (has_body || method == "PUT" || method == "POST") {
    head.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
  }
  head.append("\r\n");
  return head;
}

}  // namespace actoken::client
