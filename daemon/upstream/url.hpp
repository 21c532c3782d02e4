#pragma once

/// @file
/// The two kinds of URL the daemon reads: an auth server's base URL
/// (`https://host[:port][/base]`, SPEC §2 `auth_url`) and a CONNECT proxy's URL
/// (`http://[user:pass@]host:port`, SPEC §2 `proxy`). Pure: no I/O, no Boost.
/// A proxy's user info is a password: it is held like a key, in locked, wiped
/// memory (SPEC §6 "Secrets").

#include "daemon/platform/secure_memory.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::upstream {

/// A parsed URL, reduced to what an HTTP client needs.
struct url {
  std::string scheme;                ///< "https", or "http" for a proxy; lower case
  std::string host;                  ///< lower case; an IPv6 literal without its brackets
  std::uint16_t port = 0;            ///< explicit, else 443 for https and 80 for http
  std::string path;                  ///< base path without trailing slash, "" if none
  platform::secure_buffer userinfo;  ///< "user:pass" as written (percent-encoded); proxies only
};

/// Parses an auth server's base URL: `https://host[:port][/base/path]`. Only
/// https; no user info, query or fragment. Trailing slashes are dropped from
/// the path. Host names are lower-cased; IPv6 literals go in brackets.
std::optional<url> parse_url(std::string_view text);

/// An auth server's base URL (SPEC §2 `auth_url`) as the config, a key PUT or
/// a key's `<org>.json` gives it, checked by the one rule every one of them
/// goes through (`parse_url`) when it is loaded.
struct auth_server {
  std::string text;  ///< as given, without surrounding white space or trailing slashes
  url parsed;        ///< what an exchange connects to
};

/// Checks and parses an `auth_url`; nullopt when it is not
/// `https://host[:port][/base/path]`.
std::optional<auth_server> parse_auth_url(std::string_view text);

/// Parses a CONNECT proxy's URL: `http://[user:pass@]host[:port][/]`. A URL
/// without a scheme is taken as http, as curl and most tools do. https (TLS to
/// the proxy itself) is not supported and gives nullopt.
std::optional<url> parse_proxy_url(std::string_view text);

/// True when `host` (without brackets) is an IPv4 or IPv6 address literal.
bool is_ip_literal(std::string_view host);

/// `host` as it goes into a `Host` header or a CONNECT target: IPv6 literals
/// get their brackets back.
std::string bracketed_host(std::string_view host);

/// `host:port` for a CONNECT request target (the port is always present).
std::string authority(const url& u);

/// The `Host` header value: the host, plus `:port` when it is not the
/// scheme's default.
std::string host_header(const url& u);

/// Percent-decodes a secret (a proxy's user info, RFC 3986: `+` is itself)
/// into locked, wiped memory; nullopt on a malformed escape.
std::optional<platform::secure_buffer> percent_decode_secret(std::string_view text);

/// The URL without user info, for log lines and error messages (a proxy's
/// password must not leak into either).
std::string redacted(const url& u);

}  // namespace actoken::upstream
