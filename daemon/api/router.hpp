#pragma once

/// @file
/// The socket API (SPEC §4) as a function from (method, target, body, peer) to
/// a response. No sockets here: the HTTP session feeds it and writes what it
/// returns. Each request passes once (STYLE 17): the router answers at once,
/// or, for a token that needs an exchange, returns what to wait for, which
/// the session awaits once with `finish`. What it reads from the
/// configuration is pushed into it (STYLE 18); it calls nothing above it but
/// the key changes, reload and live status of `daemon_control`.

#include "common/error.hpp"
#include "daemon/api/access_policy.hpp"
#include "daemon/api/key_request.hpp"
#include "daemon/outputs/status_info.hpp"
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
#include <vector>

namespace actoken {
class audit_log;
}  // namespace actoken

namespace actoken::api {

/// One request, as the router needs it.
struct api_request {
  std::string_view method;  ///< "GET", "PUT", ...
  std::string_view target;  ///< path and query
  std::string_view body;
  /// The connection's peer; a reference, so that no request copies its groups.
  const platform::peer_credentials& peer;
};

/// One response. Always JSON except `/metrics`.
struct api_response {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::optional<std::chrono::seconds> retry_after;
};

/// The settings the router reads, pushed at start and on every reload.
struct router_settings {
  std::optional<std::string> default_org;  ///< for token requests that name none
  std::chrono::seconds min_ttl{60};        ///< a request's `min_ttl` replaces it
  /// The config file's path, for `forbidden` messages that say what to edit.
  std::string config_file;
};

/// What the router asks of the daemon around it: key changes, a reload, and
/// the status that changes while it serves.
class daemon_control {
 public:
  virtual ~daemon_control() = default;

  /// A key that was added or replaced.
  struct key_stored {
    bool persisted = false;  ///< written to key_dir
  };
  /// The settings `org` would have with `key` (and the given `auth_url` and
  /// `api_version`), for a trial exchange before the key is kept; the failure
  /// when such a key (`persist` or not) may not be put at all (a config
  /// `key_file` or `key_command`), before any exchange.
  virtual std::variant<std::shared_ptr<const org_settings>, failure> key_trial(
      const std::string& org, const platform::shared_key& key,
      const std::optional<std::string>& auth_url,
      const std::optional<upstream::api_version>& api_version, bool persist) = 0;
  /// Adds or replaces `org`'s key.
  virtual std::variant<key_stored, failure> put_key(
      const std::string& org, platform::secure_buffer key, std::optional<std::string> auth_url,
      std::optional<upstream::api_version> api_version, bool persist) = 0;
  /// Removes `org`'s runtime or key_dir key; the failure when it cannot.
  virtual std::optional<failure> remove_key(const std::string& org) = 0;

  /// Re-reads config and keys as SIGHUP does (`POST /v1/reload`); the
  /// outcome, which is also pushed in with `router::set_last_reload`.
  virtual reload_info reload() = 0;

  /// Open connections right now.
  virtual std::size_t connections() const = 0;
  /// The cache file's state; nullopt when no cache_file is configured.
  virtual std::optional<cache_file_info> cache_file() const = 0;
  /// The sinks of organization `org` and their state (none by default).
  virtual std::vector<sink_info> sinks(const std::string& /*org*/) const { return {}; }
  /// Sink writes (and removals) that failed since start.
  virtual std::uint64_t sink_failures() const { return 0; }
};

/// A `/v1/token` request waiting for an exchange: what `router::handle`
/// returns when it cannot answer at once, for `router::finish`.
class pending_token {
 private:
  friend class router;
  pending_token(tokens::pending_exchange exchange, std::string org, std::string sub_org_label,
                const platform::peer_credentials& peer)
      : exchange_(std::move(exchange)),
        org_(std::move(org)),
        sub_org_label_(std::move(sub_org_label)),
        peer_(&peer) {}

  tokens::pending_exchange exchange_;
  std::string org_;
  std::string sub_org_label_;  // as asked: alias or GUID, "" for none
  // For the audit line: the connection's peer, which outlives the wait (the
  // session awaits `finish` while it holds the connection).
  const platform::peer_credentials* peer_;
};

/// A key `PUT` with `"verify": true` waiting for its one exchange: what
/// `router::handle` returns for it, for `router::finish`.
class pending_key {
 private:
  friend class router;
  pending_key(std::string org, key_request put, std::shared_ptr<const org_settings> trial,
              const platform::peer_credentials& peer)
      : org_(std::move(org)), put_(std::move(put)), trial_(std::move(trial)), peer_(&peer) {}

  std::string org_;
  key_request put_;
  std::shared_ptr<const org_settings> trial_;  // the settings the key is tried with
  // For the audit line: the connection's peer, which outlives the wait.
  const platform::peer_credentials* peer_;
};

/// An answer now, or a request to finish.
using route_result = std::variant<api_response, pending_token, pending_key>;

/// Routes requests; see the file comment.
class router {
 public:
  router(tokens::token_service& tokens, daemon_control& control, const clock_source& clock,
         access_policy access, router_settings settings, wall_time started_at);

  /// The one pass over a request: every endpoint, and cached tokens, answer
  /// here without suspending; a token that needs an exchange comes back as a
  /// `pending_token`.
  route_result handle(const api_request& request);

  /// The answer to a token request once its exchange is done.
  boost::asio::awaitable<api_response> finish(pending_token pending);

  /// The answer to a verified key `PUT` once its trial exchange is done: the
  /// key is kept (and its token cached) only when the exchange succeeded.
  boost::asio::awaitable<api_response> finish(pending_key pending);

  /// Replaces the settings (reload).
  void set_settings(router_settings settings) { settings_ = std::move(settings); }
  /// Replaces the access policy (reload).
  void set_access(access_policy access) { access_ = std::move(access); }
  /// Records the outcome of a reload.
  void set_last_reload(reload_info reload) { last_reload_ = std::move(reload); }
  /// Where token answers, key changes, flushes and reloads are audited (SPEC
  /// §6); the log decides whether it is on. Unset: nothing is audited.
  void set_audit(audit_log& log) noexcept { audit_ = &log; }

  /// The JSON error response for `failure` (also used by the session for
  /// 400/413): the one place a failure becomes an HTTP status.
  static api_response error_response(const failure& failure);

 private:
  struct token_query;
  route_result get_token(const api_request& request, std::string_view query);
  std::optional<failure> parse_token_query(const api_request& request, std::string_view query,
                                           token_query& token) const;
  std::optional<failure> resolve_org(const api_request& request, token_query& token) const;
  /// The `bad_request` for a `sub_org` of `org` that is neither an alias nor a
  /// GUID: the label repeated only when it looks like an alias (never a pasted
  /// key), and the nearest alias `peer` may use (`no sub-organization mobil in
  /// acme; did you mean mobile?`), else those it may use.
  failure unknown_alias(const platform::peer_credentials& peer, const org_settings& org,
                        const std::string& label) const;
  api_response render_token(const std::string& org, const std::string& sub_org_label,
                            const tokens::token_answer& answer) const;
  route_result answer(const api_request& request, std::string_view path, std::string_view query,
                      std::string_view& endpoint);
  api_response health(const api_request& request, std::string_view query);
  api_response status(const api_request& request, std::string_view query);
  api_response metrics(const api_request& request, std::string_view query);
  api_response list_orgs(const api_request& request, std::string_view query);
  api_response whoami(const api_request& request, std::string_view query);
  api_response reload(const api_request& request, std::string_view query);
  api_response delete_tokens(const api_request& request, std::string_view query);
  route_result key(const api_request& request, std::string_view path, std::string_view org_text);
  route_result put_key(const api_request& request, const std::string& org);
  api_response key_answer(const platform::peer_credentials& peer, const std::string& org,
                          std::variant<daemon_control::key_stored, failure> result, bool verified);
  api_response delete_key(const api_request& request, const std::string& org);
  // `endpoint` is a string literal: the counters keep the view.
  api_response count(std::string_view endpoint, api_response response);
  /// One audit line, when an audit log is on. `result`: "ok" or an error code.
  void audit(const platform::peer_credentials* peer, std::string_view action, std::string_view org,
             std::string_view result, std::string_view sub_org = {},
             const tokens::token_answer* answer = nullptr) const;
  /// Audits a refusal of `action` and answers it.
  api_response refuse(const api_request& request, std::string_view action, std::string_view org,
                      const failure& refused) const;
  /// The audit line of a `/v1/token` answer: the organization and
  /// sub-organization as far as they were valid, the result, and for a
  /// served token its source and fingerprint.
  void audit_token(const platform::peer_credentials& peer, const token_query& token,
                   const failure* refused, const tokens::token_answer* answer) const;

  tokens::token_service& tokens_;
  daemon_control& control_;
  const clock_source& clock_;
  access_policy access_;
  router_settings settings_;
  wall_time started_at_;
  reload_info last_reload_;
  // requests_total{endpoint,code}.
  std::map<std::pair<std::string_view, unsigned>, std::uint64_t> request_counts_;
  std::uint64_t requests_total_ = 0;
  audit_log* audit_ = nullptr;
};

}  // namespace actoken::api
