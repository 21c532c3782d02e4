#pragma once

/// @file
/// The auth client: the only code that talks HTTPS (STYLE "The shape"). One
/// POST of a form body to an auth server, directly or through a CONNECT proxy,
/// under one deadline from connect to last byte, with the key written only
/// after the server's certificate has verified. Transport failures come back
/// classified (SPEC §3); interpreting the answer is the codec's job
/// (auth_codec.hpp).

#include "common/paths.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/upstream/auth_codec.hpp"
#include "daemon/upstream/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace actoken::upstream {

namespace net = boost::asio;

/// What the auth client needs from the configuration (SPEC §2).
struct auth_client_options {
  /// PEM file of extra trusted CAs, added to the system store.
  std::optional<std::filesystem::path> ca_file;
  /// `http://[user:pass@]host:port` CONNECT proxy; "" = `$HTTPS_PROXY`, then
  /// `$https_proxy`. `$NO_PROXY`/`$no_proxy` apply either way. In locked
  /// memory: it may hold a password (SPEC §6).
  platform::secure_buffer proxy;
  /// The environment to read those variables from; empty = the process's.
  actoken::env_lookup env;
  /// Larger response bodies are refused as `bad_upstream_response`.
  std::size_t max_response_body = std::size_t{1} << 20;
};

/// A complete HTTP response, or a classified transport failure.
using post_result = std::variant<raw_response, failure>;

/// Posts forms to auth servers over HTTPS. Cheap to construct: the TLS context
/// (OpenSSL's system store costs tens of ms and MiBs) is built at the first
/// exchange and reused. Like the rest of the daemon it lives on one thread:
/// several exchanges may be in progress at once, interleaved at their
/// suspension points, and nothing locks. The client must outlive each
/// `post_form` it starts.
class auth_client {
 public:
  /// Reads the proxy settings from `opts` and its environment once, here.
  auth_client(net::any_io_executor ex, auth_client_options opts);
  ~auth_client();
  auth_client(const auth_client&) = delete;
  auth_client& operator=(const auth_client&) = delete;

  /// POSTs `body` as `application/x-www-form-urlencoded` to `server.path +
  /// target` (`target` is the path below the base URL, e.g.
  /// `token_path(api_version::v3)`), with `timeout` covering everything from
  /// resolving to the last byte. Returns the status, body, `Date` and
  /// `Retry-After` of the answer whatever its status, or:
  /// `upstream_unavailable` (DNS, refused, reset, closed early, proxy refusal),
  /// `upstream_timeout` (the deadline), `upstream_tls` (certificate, host name,
  /// handshake, a refused renegotiation, unreadable `ca_file`), `bad_upstream_response` (not HTTP,
  /// body over `max_response_body`). The body is written straight from `body`'s locked memory, and
  /// only once the certificate has verified. `server` and `body` must stay alive until the returned
  /// awaitable completes.
  net::awaitable<post_result> post_form(const url& server, std::string target,
                                        const platform::secure_buffer& body,
                                        std::chrono::milliseconds timeout);

  /// The proxy a request to `server` goes through; nullopt for a direct
  /// connection (none configured, or `NO_PROXY` matches).
  std::optional<url> proxy_for(const url& server) const;

 private:
  /// Builds the shared TLS context on first use; why it cannot be built otherwise.
  std::optional<failure> prepare_tls_context();

  net::any_io_executor executor_;
  std::optional<std::filesystem::path> ca_file_;
  std::size_t max_response_body_;
  std::optional<url> proxy_;  ///< parsed proxy, if one is set and valid
  std::string proxy_error_;   ///< why the configured proxy is unusable ("" if it is fine)
  std::string no_proxy_;      ///< `$NO_PROXY` / `$no_proxy`
  std::unique_ptr<boost::asio::ssl::context> context_;
};

}  // namespace actoken::upstream
