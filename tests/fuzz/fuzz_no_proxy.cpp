// NO_PROXY matching and URL parsing (daemon/upstream/no_proxy.hpp, url.hpp).
// The input is text, one field a line:
//
//   NO_PROXY list \n host \n port \n URL...
//
// Properties: nothing crashes; `*` matches everything and "" nothing; adding
// an entry or separators never loses a match; letter case changes nothing; a
// host name or address listed as itself (or its domain, or itself with its
// port) matches, and with another port does not. A parsed URL is canonical:
// scheme, lower-case printable host, explicit port, path without trailing
// slash, and it parses again to itself; a proxy URL's user info never reaches `redacted`.
#include "daemon/upstream/no_proxy.hpp"
#include "daemon/upstream/url.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace actoken;
using upstream::no_proxy_matches;

std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::uint16_t parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return 443;
  return static_cast<std::uint16_t>(value);
}

// A plain DNS-ish name: what the self-match properties are stated for.
bool plain_name(std::string_view host) {
  bool letter = false;
  for (const char c : host) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alpha && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.') return false;
    letter = letter || alpha;
  }
  return letter && host.size() <= 253;
}

bool is_address(int family, std::string_view host) {
  // inet_pton stops at a NUL: "::1\0x" would pass for "::1" here.
  if (host.size() >= INET6_ADDRSTRLEN || host.find('\0') != std::string_view::npos) return false;
  const std::string copy(host);
  unsigned char buffer[sizeof(in6_addr)];
  return ::inet_pton(family, copy.c_str(), buffer) == 1;
}

void check_no_proxy(std::string_view list, std::string_view host, std::uint16_t port) {
  const bool match = no_proxy_matches(list, host, port);
  ACTOKEN_FUZZ_CHECK(no_proxy_matches("*", host, port), "* does not match");
  ACTOKEN_FUZZ_CHECK(!no_proxy_matches("", host, port), "an empty list matches");
  const std::string longer = std::string(list) + ",nothing.invalid";
  ACTOKEN_FUZZ_CHECK(!match || no_proxy_matches(longer, host, port), "an added entry lost a match");
  const std::string spaced = " ," + std::string(list) + ", ";
  ACTOKEN_FUZZ_CHECK(match == no_proxy_matches(spaced, host, port), "separators changed a match");
  ACTOKEN_FUZZ_CHECK(match == no_proxy_matches(upper(list), host, port),
                     "an upper-case list matched differently");
  ACTOKEN_FUZZ_CHECK(match == no_proxy_matches(list, upper(host), port),
                     "an upper-case host matched differently");

  const std::string other_port = std::to_string(port == 65535 ? 1 : port + 1);
  if (plain_name(host) && !is_address(AF_INET, host)) {
    const std::string name(host);
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(name, host, port), "a name does not match itself");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches("x." + name, "x." + name, port),
                       "a sub-domain does not match itself");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(name, "x." + name, port),
                       "a domain does not match a name below it");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches("." + name, "x." + name, port),
                       "a .domain does not match a name below it");
    if (port != 0) {
      ACTOKEN_FUZZ_CHECK(no_proxy_matches(name + ":" + std::to_string(port), host, port),
                         "name:port does not match its port");
    }
    ACTOKEN_FUZZ_CHECK(!no_proxy_matches(name + ":" + other_port, host, port),
                       "name:port matches another port");
  } else if (is_address(AF_INET, host)) {
    const std::string address(host);
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(address, host, port), "an address does not match itself");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(address + "/32", host, port),
                       "an address is not in its /32");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches("0.0.0.0/0", host, port), "an address is not in /0");
    ACTOKEN_FUZZ_CHECK(!no_proxy_matches(address + ":" + other_port, host, port),
                       "address:port matches another port");
  } else if (is_address(AF_INET6, host)) {
    const std::string address(host);
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(address, host, port), "an address does not match itself");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches("[" + address + "]", host, port),
                       "[address] does not match");
    ACTOKEN_FUZZ_CHECK(no_proxy_matches(address + "/128", host, port),
                       "an address is not in its /128");
    ACTOKEN_FUZZ_CHECK(!no_proxy_matches("[" + address + "]:" + other_port, host, port),
                       "[address]:port matches another port");
  }
}

void check_canonical(const upstream::url& u, std::string_view scheme) {
  ACTOKEN_FUZZ_CHECK(u.scheme == scheme, "a URL with another scheme");
  ACTOKEN_FUZZ_CHECK(!u.host.empty(), "a URL without a host");
  ACTOKEN_FUZZ_CHECK(u.host.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos,
                     "a host not in lower case");
  for (const char c : u.host) {
    ACTOKEN_FUZZ_CHECK(c > 0x20 && c < 0x7f, "a host with a control character, space or NUL");
  }
  ACTOKEN_FUZZ_CHECK(u.port != 0, "a URL without a port");
  ACTOKEN_FUZZ_CHECK(u.path.empty() || (u.path.front() == '/' && u.path.back() != '/'),
                     "a path not canonical");
  ACTOKEN_FUZZ_CHECK(u.host.find(':') == std::string::npos || upstream::is_ip_literal(u.host),
                     "a host with ':' that is not an IPv6 address");
  ACTOKEN_FUZZ_CHECK(!upstream::host_header(u).empty(), "an empty Host header");
}

void check_urls(std::string_view text) {
  if (const auto u = upstream::parse_url(text)) {
    check_canonical(*u, "https");
    ACTOKEN_FUZZ_CHECK(u->userinfo.empty(), "an auth_url with user info");
    const auto again = upstream::parse_url("https://" + upstream::authority(*u) + u->path);
    ACTOKEN_FUZZ_CHECK(
        again && again->host == u->host && again->port == u->port && again->path == u->path,
        "a parsed auth_url does not parse to itself");
  }
  if (const auto u = upstream::parse_proxy_url(text)) {
    check_canonical(*u, "http");
    ACTOKEN_FUZZ_CHECK(u->path.empty(), "a proxy URL with a path");
    // No path, and a host has no '@': an '@' could only come from user info.
    ACTOKEN_FUZZ_CHECK(upstream::redacted(*u).find('@') == std::string::npos,
                       "user info in the redacted proxy URL");
    ACTOKEN_FUZZ_CHECK(u->userinfo.empty() || upstream::percent_decode_secret(u->userinfo.view()),
                       "proxy user info that does not decode");
    const auto again = upstream::parse_proxy_url("http://" + upstream::authority(*u));
    ACTOKEN_FUZZ_CHECK(again && again->host == u->host && again->port == u->port,
                       "a parsed proxy URL does not parse to itself");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [list, host, port, url_text] =
      fuzz::split_fields<4>({reinterpret_cast<const char*>(data), size});
  check_no_proxy(list, host, parse_port(port));
  check_urls(url_text);
  check_urls(list);
  (void)upstream::is_ip_literal(host);
  return 0;
}
