#include "daemon/upstream/url.hpp"

#include "common/percent_encoding.hpp"
#include "common/text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>

namespace actoken::upstream {
namespace {

constexpr std::uint16_t https_port = 443;
constexpr std::uint16_t http_port = 80;

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_ipv4(std::string_view host) {
  // A NUL would end the C string early: "1.2.3.4\0junk" is not an address.
  if (host.size() >= INET_ADDRSTRLEN || host.find('\0') != std::string_view::npos) return false;
  std::string copy(host);
  in_addr addr{};
  return ::inet_pton(AF_INET, copy.c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view host) {
  // A NUL would end the C string early: "1.2.3.4\0junk" is not an address.
  if (host.size() >= INET6_ADDRSTRLEN || host.find('\0') != std::string_view::npos) return false;
  std::string copy(host);
  in6_addr addr{};
  return ::inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

// A registered name (RFC 3986 §3.2.2), restricted to what DNS can hold:
// letters, digits, '-', '_' and non-empty dot-separated labels.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.front() == '.' || host.front() == '-') return false;
  bool all_numeric = true;
  char previous = '\0';
  for (char c : host) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return false;
    if (c == '.' && previous == '.') return false;
    if (!is_digit(c) && c != '.') all_numeric = false;
    previous = c;
  }
  // "127.1" or "10.0.0.256" would be read by getaddrinfo as something other
  // than what the certificate check compares against: refuse the ambiguity.
  return !all_numeric;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool is_path_char(char c) {
  // Visible ASCII only: a space or control character would let a config value
  // inject into the request line.
  return c > 0x20 && c < 0x7f && c != '?' && c != '#';
}

enum class url_kind { server, proxy };

// The scheme, into `out`, and what follows "://": `https` for a server; `http`
// for a proxy, which may leave it out.
std::optional<std::string_view> take_scheme(std::string_view text, url_kind kind, url& out) {
  std::string_view rest;
  if (auto sep = text.find("://"); sep != std::string_view::npos) {
    out.scheme = lower(text.substr(0, sep));
    rest = text.substr(sep + 3);
  } else if (kind == url_kind::proxy) {
    out.scheme = "http";
    rest = text;
  } else {
    return std::nullopt;
  }
  if (out.scheme != (kind == url_kind::server ? "https" : "http")) return std::nullopt;
  return rest;
}

// "host", "host:port", "[v6]" or "[v6]:port" into `out.host` and `out.port`
// (the scheme's port when none is given).
bool take_host_and_port(std::string_view authority_part, url& out) {
  std::string_view host;
  std::optional<std::string_view> port_text;
  if (!authority_part.empty() && authority_part.front() == '[') {
    const auto close = authority_part.find(']');
    if (close == std::string_view::npos) return false;
    host = authority_part.substr(1, close - 1);
    if (!is_ipv6(host)) return false;
    std::string_view after = authority_part.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority_part.find(':');
    host = authority_part.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority_part.substr(colon + 1);
    if (!is_ipv4(host) && !is_host_name(host)) return false;
  }
  out.host = lower(host);
  if (!port_text) {
    out.port = out.scheme == "https" ? https_port : http_port;
    return true;
  }
  auto port = parse_port(*port_text);
  if (port) out.port = *port;
  return port.has_value();
}

std::optional<url> parse(std::string_view text, url_kind kind) {
  url out;
  const auto rest = take_scheme(trim(text), kind, out);
  if (!rest) return std::nullopt;

  const auto authority_end = rest->find_first_of("/?#");
  std::string_view authority_part = rest->substr(0, authority_end);
  std::string_view path =
      authority_end == std::string_view::npos ? std::string_view{} : rest->substr(authority_end);

  if (auto at = authority_part.rfind('@'); at != std::string_view::npos) {
    if (kind != url_kind::proxy || at == 0) return std::nullopt;
    out.userinfo.append(authority_part.substr(0, at));
    if (!percent_decode_secret(out.userinfo.view())) return std::nullopt;
    authority_part = authority_part.substr(at + 1);
  }
  if (!take_host_and_port(authority_part, out)) return std::nullopt;

  if (!std::all_of(path.begin(), path.end(), is_path_char)) return std::nullopt;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  // A proxy is addressed by host and port only.
  if (kind == url_kind::proxy && !path.empty()) return std::nullopt;
  out.path = std::string(path);
  return out;
}

}  // namespace

std::optional<url> parse_url(std::string_view text) { return parse(text, url_kind::server); }

std::optional<url> parse_proxy_url(std::string_view text) { return parse(text, url_kind::proxy); }

std::optional<auth_server> parse_auth_url(std::string_view text) {
  auto parsed = parse(text, url_kind::server);
  if (!parsed) return std::nullopt;
  text = trim(text);
  while (text.ends_with('/')) text.remove_suffix(1);
  return auth_server{std::string(text), std::move(*parsed)};
}

bool is_ip_literal(std::string_view host) { return is_ipv4(host) || is_ipv6(host); }

std::string bracketed_host(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return "[" + std::string(host) + "]";
  return std::string(host);
}

std::string authority(const url& u) {
  return bracketed_host(u.host) + ":" + std::to_string(u.port);
}

std::string host_header(const url& u) {
  const std::uint16_t default_port = u.scheme == "https" ? https_port : http_port;
  if (u.port == default_port) return bracketed_host(u.host);
  return authority(u);
}

std::optional<platform::secure_buffer> percent_decode_secret(std::string_view text) {
  platform::secure_buffer out;
  out.reserve(text.size());  // no regrowth: no stray copies
  if (!percent_decode_into(text, out, plus_sign::literal)) return std::nullopt;
  return out;
}

std::string redacted(const url& u) { return u.scheme + "://" + authority(u) + u.path; }

}  // namespace actoken::upstream
