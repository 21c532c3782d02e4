#pragma once

/// @file
/// The socket API (SPEC §4) as a function from (method, target, body, peer) to
/// a response. No sockets here: the HTTP session feeds it and writes what it
/// returns. Only a token that needs an exchange makes it wait.

#include "common/error.hpp"
#include "daemon/api/access_policy.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace actoken::api {

/// One request, as the router needs it.
struct api_request {
  std::string_view method;  ///< "GET", "PUT", ...
  std::string_view target;  ///< path and query
  std::string_view body;
  platform::peer_credentials peer;
};

/// One response. Always JSON except `/metrics`.
struct api_response {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::optional<std::chrono::seconds> retry_after;
};

/// What the router asks of the daemon around it: key changes and status.
class daemon_control {
 public:
  virtual ~daemon_control() = default;

  /// A key that was added or replaced.
  struct key_stored {
    bool persisted = false;  ///< written to key_dir
  };
  /// Adds or replaces `org`'s key.
  virtual std::variant<key_stored, failure> put_key(
      const std::string& org, platform::secure_buffer key, std::optional<std::string> auth_url,
      std::optional<upstream::api_version> api_version, bool persist) = 0;
  /// Removes `org`'s runtime or key_dir key; the failure when it cannot.
  virtual std::optional<failure> remove_key(const std::string& org) = 0;

  /// The last reload, for `/v1/status`.
  struct reload_info {
    wall_time at;
    bool ok = true;
    std::string message;
  };
  virtual reload_info last_reload() const = 0;
  /// Open connections right now.
  virtual std::size_t connections() const = 0;
  /// When the daemon started.
  virtual wall_time started_at() const = 0;
  /// The configured default organization, if any.
  virtual std::optional<std::string> default_org() const = 0;
  /// The configured min_ttl (a request's `min_ttl` replaces it).
  virtual std::chrono::seconds default_min_ttl() const = 0;

  /// The cache file, for `/v1/status` (SPEC §6 `cache_file`).
  struct cache_file_info {
    std::string path;
    std::string state;    ///< "ok", "off" (refused: not written until a reload) or "error"
    std::string message;  ///< why it is off or failed, "" when ok
  };
  /// nullopt when no cache_file is configured.
  virtual std::optional<cache_file_info> cache_file() const { return std::nullopt; }
};

/// Routes requests; see the file comment.
class router {
 public:
  router(tokens::token_service& tokens, access_policy& access, daemon_control& control,
         const clock& clock);

  /// The answer when it is ready without waiting (every endpoint, and cached
  /// tokens); nullopt when `handle_async` must wait for an exchange.
  std::optional<api_response> handle(const api_request& request);

  /// The answer to a `/v1/token` request that needs an exchange.
  boost::asio::awaitable<api_response> handle_async(api_request request);

  /// Replaces the access policy (reload).
  void set_access(access_policy& access) { access_ = &access; }

  /// requests_total{endpoint,code}.
  const std::map<std::pair<std::string_view, unsigned>, std::uint64_t>& request_counts()
      const noexcept {
    return request_counts_;
  }
  /// All requests answered.
  std::uint64_t requests_total() const noexcept { return requests_total_; }

  /// The JSON error response for `failure` (also used by the session for
  /// 400/413): the one place a failure becomes an HTTP status.
  static api_response error_response(const failure& failure);

 private:
  struct token_query;
  std::optional<api_response> dispatch(const api_request& request, std::string_view& endpoint);
  std::variant<token_query, api_response> parse_token_query(const api_request& request);
  api_response render_token(const token_query& query, const tokens::token_outcome& outcome);
  api_response list_orgs(const api_request& request);
  api_response put_key(const api_request& request, const std::string& org);
  api_response delete_key(const api_request& request, const std::string& org);
  api_response delete_tokens(const api_request& request, std::string_view query);
  api_response status();
  api_response metrics();
  // `endpoint` is one of dispatch's string literals: the counters keep the view.
  api_response count(std::string_view endpoint, api_response response);

  tokens::token_service& tokens_;
  access_policy* access_;
  daemon_control& control_;
  const clock& clock_;
  std::map<std::pair<std::string_view, unsigned>, std::uint64_t> request_counts_;
  std::uint64_t requests_total_ = 0;
};

/// Decodes %XX and `+` (as space) in a query component; nullopt when malformed.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace actoken::api
