#pragma once

/// @file
/// `NO_PROXY` matching (SPEC §2 `proxy`): which hosts bypass the CONNECT proxy.
/// There is no standard; this follows curl and Go, the two readings most
/// users' environments are written for. Pure: no I/O.

#include <cstdint>
#include <string_view>

namespace actoken::upstream {

/// True when a request to `host` (without brackets) on `port` should bypass the
/// proxy according to `no_proxy_list`, a comma- or space-separated list of:
/// - `*`: every host;
/// - a host name or domain (`example.com`, `.example.com`, `*.example.com`):
///   the name itself and every name below it;
/// - an IP address (`127.0.0.1`, `::1`, `[::1]`): that address only;
/// - a CIDR range (`10.0.0.0/8`, `fd00::/8`): addresses in it;
/// each optionally followed by `:port` (IPv6 only in brackets), which then
/// restricts the entry to that port. Names compare case-insensitively; a name
/// entry never matches an IP literal host, nor an address entry a host name
/// (no DNS lookups here). An empty list matches nothing.
bool no_proxy_matches(std::string_view no_proxy_list, std::string_view host, std::uint16_t port);

}  // namespace actoken::upstream
