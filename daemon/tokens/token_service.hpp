#pragma once

/// @file
/// The token service (SPEC §3): one cache entry per (organization,
/// sub-organization), one exchange in flight per entry, background refresh,
/// backoff, rest after rejection, an exchange budget per organization and
/// the 429s of each auth server. All state lives on one executor; nothing
/// here locks.

#include "common/error.hpp"
#include "daemon/keys/org_table.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/upstream/auth_codec.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace actoken::tokens {

namespace net = boost::asio;

/// Performs one exchange. The daemon's is `https_exchanger`; unit tests drive
/// the service with a scripted one.
class exchanger {
 public:
  virtual ~exchanger() = default;
  /// Exchanges `org`'s key for a token with `version` (never `automatic`).
  virtual net::awaitable<upstream::exchange_result> exchange(
      std::shared_ptr<const org_settings> org, upstream::api_version version,
      std::string sub_org) = 0;
};

/// Tunables of SPEC §2 that the service uses.
struct service_options {
  seconds refresh_before{900};
  seconds retry_rejected_after{300};
  unsigned max_exchanges_per_minute = 60;  ///< per organization
  std::size_t max_cache_keys_per_org = 100;
};

/// A token as cached and served.
struct cached_token {
  std::string access_token;
  wall_time obtained_at;
  wall_time expires_at;
  wall_time refresh_at;     ///< when a background refresh becomes due
  std::string fingerprint;  ///< first 8 hex digits of SHA-256, for logs
  /// The token's own members of a /v1/token answer, rendered once when it is
  /// cached so that serving it copies bytes instead of escaping a JWT:
  /// `"access_token":"…","token_type":"Bearer","expires_at":"…","obtained_at":"…"`.
  std::string json_members;
  mono_time young_until{};  ///< until then no new exchange starts (SPEC §3 "young")
};

/// Whether no new exchange may start for `token` (SPEC §3): obtained less
/// than min(10 s, half its lifetime) ago.
bool is_young(const cached_token& token, wall_time wall_now, mono_time mono_now);

/// Fills `token.json_members` from its other fields.
void render_json_members(cached_token& token);

/// The `/v1/token` object (SPEC §4) for `token` of `org`, `sub_org_label` as
/// asked ("" for none: null), with `expires_in` whole seconds: the one writer
/// of that object, for the socket and for `json` sinks.
std::string render_token_object(std::string_view org, std::string_view sub_org_label,
                                const cached_token& token, std::int64_t expires_in,
                                bool from_exchange);

/// What a caller asks for.
struct token_request {
  std::string org;
  std::string sub_org;  ///< a GUID (lower case), "" for the organization itself
  seconds min_ttl{60};
  bool fresh = false;  ///< the caller's token was refused downstream
};

/// A token handed out.
struct token_answer {
  std::shared_ptr<const cached_token> token;
  bool from_exchange = false;
};

/// A token, or why there is none.
using token_outcome = std::variant<token_answer, failure>;

/// An exchange a request waits for: what `token_service::lookup` hands back
/// when it cannot answer at once. Awaited once, with `token_service::wait`.
class pending_exchange {
 public:
  struct flight;

 private:
  friend class token_service;
  pending_exchange(std::shared_ptr<flight> f, seconds min_ttl)
      : flight_(std::move(f)), min_ttl_(min_ttl) {}
  // The organization's key_command is still running: the request is looked
  // up again once it has ended (SPEC §2: it waits at most the command's 10 s).
  pending_exchange(std::shared_ptr<key_command_run> command, token_request request)
      : min_ttl_(request.min_ttl), command_(std::move(command)), request_(std::move(request)) {}

  std::shared_ptr<flight> flight_;
  seconds min_ttl_;
  std::shared_ptr<key_command_run> command_;
  token_request request_;
};

/// What one pass over a request finds: a token or a failure now, or an
/// exchange to wait for.
using lookup_result = std::variant<token_answer, failure, pending_exchange>;

/// The last failure of an organization, and when it happened.
struct failure_record {
  failure error;
  wall_time at;  ///< the epoch when nothing failed yet (a missing key)
};

/// A snapshot of one organization for `/v1/orgs`.
struct org_view {
  std::shared_ptr<const org_settings> settings;
  std::string state;  ///< ok, no_key, rejected, backoff, error
  std::optional<failure_record> last_error;
  seconds clock_skew{0};
  upstream::api_version effective_version;
  std::vector<std::pair<std::string, std::shared_ptr<const cached_token>>> tokens;  ///< by sub_org
};

/// What became of a cache key, for those who keep its token in files (sinks).
struct token_event {
  enum class kind {
    granted,       ///< a new token: `token`
    rejected,      ///< the key was rejected for this cache key (a sub-organization's)
    org_rejected,  ///< the organization's key was rejected: every cache key of it
  };
  kind what = kind::granted;
  const std::string& org;
  const std::string& sub_org;                 ///< GUID, "" for the organization itself
  std::shared_ptr<const cached_token> token;  ///< set for `granted`
};

/// Counters for `/v1/status` and `/metrics`.
struct service_stats {
  std::uint64_t exchanges_total = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t cache_misses = 0;
  std::map<std::pair<std::string, std::string>, std::uint64_t> exchanges;  ///< (org, result)
  std::vector<double> duration_bucket_bounds;                              ///< seconds, ascending
  std::vector<std::uint64_t> duration_buckets;                             ///< cumulative per bound
  std::uint64_t duration_count = 0;
  double duration_sum = 0;
};

/// Hands out tokens; see the file comment.
class token_service {
 public:
  token_service(net::any_io_executor executor, const clock_source& clock, service_options options,
                std::shared_ptr<exchanger> exchanger);
  ~token_service();
  token_service(const token_service&) = delete;
  token_service& operator=(const token_service&) = delete;

  /// Replaces the organizations. Cached tokens survive for organizations whose
  /// key, auth_url, api_version and scope are unchanged; others start afresh.
  /// A `reload` also ends every rest after rejection and every failure held
  /// until reload (the operator acted); without it, those of unchanged
  /// organizations hold on.
  void set_orgs(org_table orgs, bool reload = false);
  /// Replaces the tunables (reload).
  void set_options(service_options options) { options_ = options; }
  /// Replaces the exchanger (reload with a new CA or proxy).
  void set_exchanger(std::shared_ptr<exchanger> exchanger) { exchanger_ = std::move(exchanger); }

  /// One pass over a request (STYLE 17): the cached token or a failure known
  /// at once, or the exchange to wait for, joined or started here. Counts one
  /// cache hit or one miss; a hit past its refresh point starts a background
  /// refresh. Never suspends.
  lookup_result lookup(const token_request& request);

  /// Waits for `pending`'s exchange: its token when it meets the request's
  /// min_ttl, else the failure. Every waiter of one exchange wakes at once.
  net::awaitable<token_outcome> wait(pending_exchange pending);

  /// Keeps a cache key holding a token with no caller asking (SPEC §6 sinks):
  /// starts a background exchange when it holds none or its token is past its
  /// refresh point, under the rules a caller meets (young tokens, one flight,
  /// rests, backoff, 429s, the per-minute budget). Counts no hit or miss.
  /// Returns when to call again: at the token's refresh point, or soon while
  /// an exchange is due but may not start yet.
  mono_clock::duration keep_warm(const std::string& org, const std::string& sub_org);

  /// The token cached for a cache key, or null.
  std::shared_ptr<const cached_token> cached(const std::string& org,
                                             const std::string& sub_org) const;

  /// Called when a cache key gets a new token or its key is rejected (sinks listen).
  void on_token(std::function<void(const token_event&)> listener) {
    on_token_ = std::move(listener);
  }

  /// Evicts one organization's tokens (all when `org` is empty); returns how many.
  std::size_t evict(const std::string& org);

  /// Stores a token restored from the cache file (whose decoding capped it at
  /// 24 h from when it was obtained), unless one is cached already.
  void restore(const std::string& org, const std::string& sub_org, cached_token token);

  /// One exchange for `org`'s root token with `settings` — a key not (yet)
  /// kept, for a key `PUT` with `"verify": true` (SPEC §4) — outside any cache
  /// key: no waiter joins it, no rest or backoff follows a failure, nothing is
  /// cached. Counted in the exchange metrics like any other.
  net::awaitable<std::variant<std::shared_ptr<const cached_token>, failure>> verify(
      std::string org, std::shared_ptr<const org_settings> settings);

  /// Caches `token`, got by `verify` with `tried`, as `org`'s root token when
  /// the organization now has exactly those settings (its key was kept) and
  /// holds no root token yet.
  void adopt(const std::string& org, const org_settings& tried,
             std::shared_ptr<const cached_token> token);

  /// The organizations as `/v1/orgs` shows them.
  std::vector<org_view> view() const;
  /// The current settings of one organization, or null.
  std::shared_ptr<const org_settings> find_org(const std::string& org) const;
  /// The names of all organizations.
  std::vector<std::string> org_names() const;
  /// Number of cached tokens.
  std::size_t cached_tokens() const;
  /// Counters.
  const service_stats& stats() const noexcept { return stats_; }
  /// Called whenever the cached tokens change: a new token, or an eviction
  /// (the cache file writer listens).
  void on_change(std::function<void()> listener) { on_change_ = std::move(listener); }
  /// Called when the key of an organization whose key came from a
  /// key_command was rejected, with how long the organization now rests: the
  /// command runs again after the rest (key_admin listens).
  void on_command_key_rejected(
      std::function<void(const std::string& org, mono_clock::duration rest)> listener) {
    on_command_key_rejected_ = std::move(listener);
  }

  struct slot;
  struct org_state;
  struct server_state;

 private:
  using flight = pending_exchange::flight;
  /// The org and cache key a flight's result goes to; null when they changed meanwhile.
  struct flight_target {
    org_state* org = nullptr;
    slot* entry = nullptr;
  };
  /// An exchange's result and the API version that gave it.
  struct exchange_attempt {
    upstream::exchange_result result;
    upstream::api_version version;
    bool probed = false;  ///< `auto` with no version settled: a success settles it
  };

  slot* slot_for(org_state& org, const std::string& sub_org);
  lookup_result serve(org_state& org, slot& entry, const token_request& request);
  std::optional<failure> blocked(const org_state& org, const slot& entry) const;
  /// Forgets the cache keys that hold no token and whose rest or backoff has
  /// ended, so that failed requests cannot fill an organization's cache keys.
  void forget_idle_slots(org_state& org);
  void maybe_refresh(org_state& org, slot& entry, const std::string& sub_org);
  std::shared_ptr<flight> start_flight(org_state& org, slot& entry, const std::string& sub_org);

  // run_flight's steps.
  net::awaitable<void> run_flight(std::shared_ptr<flight> f);
  std::optional<upstream::api_version> settled_version(const flight& f) const;
  upstream::api_version choose_version(const flight& f) const;
  net::awaitable<exchange_attempt> exchange_with_fallback(std::shared_ptr<flight> f);
  flight_target target_of(const flight& f);
  std::shared_ptr<cached_token> make_token(upstream::token_grant& grant);
  std::shared_ptr<const cached_token> cache_grant(const flight& f, flight_target target,
                                                  exchange_attempt& attempt,
                                                  mono_clock::duration elapsed);
  failure apply_failure(const flight& f, flight_target target, failure failed,
                        mono_clock::duration elapsed);
  void land(flight& f);

  void record(const std::string& org, const upstream::exchange_result& result,
              mono_clock::duration elapsed);
  double draw();

  net::any_io_executor executor_;
  const clock_source& clock_;
  service_options options_;
  std::shared_ptr<exchanger> exchanger_;
  std::map<std::string, std::unique_ptr<org_state>, std::less<>> orgs_;
  std::map<std::string, server_state, std::less<>> servers_;
  service_stats stats_;
  std::mt19937_64 random_;
  std::function<void()> on_change_;
  std::function<void(const token_event&)> on_token_;
  std::function<void(const std::string&, mono_clock::duration)> on_command_key_rejected_;
};

/// First 8 hex digits of the SHA-256 of `token`: what logs show instead of it.
std::string fingerprint(std::string_view token);

}  // namespace actoken::tokens
