#include "daemon/upstream/no_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>

namespace actoken::upstream {
namespace {

/// An IPv4 or IPv6 address as bytes (IPv4 uses the first 4).
struct ip_address {
  std::array<unsigned char, 16> bytes{};
  unsigned bits = 0;  // 32 or 128
};

std::optional<ip_address> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN ||
      text.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  const std::string copy(text);
  ip_address out;
  in_addr v4{};
  if (::inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
    std::memcpy(out.bytes.data(), &v4, sizeof v4);
    out.bits = 32;
    return out;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, copy.c_str(), &v6) == 1) {
    std::memcpy(out.bytes.data(), &v6, sizeof v6);
    out.bits = 128;
    return out;
  }
  return std::nullopt;
}

// True when the first `prefix` bits of `a` and `b` agree (same family).
bool same_prefix(const ip_address& a, const ip_address& b, unsigned prefix) {
  if (a.bits != b.bits || prefix > a.bits) return false;
  std::size_t i = 0;
  for (; prefix >= 8; prefix -= 8, ++i) {
    if (a.bytes[i] != b.bytes[i]) return false;
  }
  if (prefix == 0) return true;
  const auto mask = static_cast<unsigned char>(0xffU << (8U - prefix));
  return (a.bytes[i] & mask) == (b.bytes[i] & mask);
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

bool ends_with_ci(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && iequals(text.substr(text.size() - suffix.size()), suffix);
}

std::optional<unsigned> parse_number(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value > max) return std::nullopt;
  return value;
}

// One entry split into what it names and the port it is restricted to.
struct entry {
  std::string name;                   // host, domain, address or CIDR range
  std::optional<std::uint16_t> port;  // nullopt: any port
  bool valid = true;                  // false: malformed, matches nothing
};

entry split_port(std::string_view text) {
  const entry invalid{{}, std::nullopt, false};
  entry out;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return invalid;
    out.name = std::string(text.substr(1, close - 1));
    std::string_view after = text.substr(close + 1);
    // A CIDR range may be written with brackets too: "[fd00::]/8".
    if (!after.empty() && after.front() == '/') {
      out.name += after;
      return out;
    }
    if (after.empty()) return out;
    if (after.front() != ':') return invalid;
    auto port = parse_number(after.substr(1), 65535);
    if (!port || *port == 0) return invalid;
    out.port = static_cast<std::uint16_t>(*port);
    return out;
  }
  // More than one ':' without brackets: a bare IPv6 address or range, no port.
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos) {
    out.name = std::string(text);
    return out;
  }
  out.name = std::string(text.substr(0, colon));
  auto port = parse_number(text.substr(colon + 1), 65535);
  if (!port || *port == 0) return invalid;
  out.port = static_cast<std::uint16_t>(*port);
  return out;
}

bool entry_matches(std::string_view text, std::string_view host,
                   const std::optional<ip_address>& host_ip, std::uint16_t port) {
  if (text == "*") return true;
  const entry e = split_port(text);
  if (!e.valid || e.name.empty()) return false;
  const std::string_view name = e.name;
  if (e.port && *e.port != port) return false;

  if (host_ip) {
    // An address host matches only address and range entries.
    if (auto slash = name.find('/'); slash != std::string_view::npos) {
      auto network = parse_ip(name.substr(0, slash));
      if (!network) return false;
      auto prefix = parse_number(name.substr(slash + 1), network->bits);
      return prefix && same_prefix(*host_ip, *network, *prefix);
    }
    auto address = parse_ip(name);
    return address && same_prefix(*host_ip, *address, host_ip->bits);
  }

  // A name host: domain suffix match. "*.example.com" and ".example.com" read
  // as "example.com", which also matches every name below it.
  std::string_view domain = name;
  if (domain.starts_with("*.")) domain.remove_prefix(1);
  while (!domain.empty() && domain.front() == '.') domain.remove_prefix(1);
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty()) return false;
  if (iequals(host, domain)) return true;
  return host.size() > domain.size() && ends_with_ci(host, domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

}  // namespace

bool no_proxy_matches(std::string_view no_proxy_list, std::string_view host, std::uint16_t port) {
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!host.empty() && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const auto host_ip = parse_ip(host);

  std::size_t pos = 0;
  while (pos < no_proxy_list.size()) {
    const auto end = no_proxy_list.find_first_of(", \t\r\n", pos);
    const auto item = no_proxy_list.substr(pos, end - pos);
    if (!item.empty() && entry_matches(item, host, host_ip, port)) return true;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return false;
}

}  // namespace actoken::upstream
