#pragma once

/// @file
/// The token service (SPEC §3): one cache entry per (organization,
/// sub-organization), one exchange in flight per entry, background refresh,
/// backoff, rest after rejection, an exchange budget per organization and
/// the 429s of each auth server. All state lives on one executor; nothing
/// here locks.

#include "common/error.hpp"
#include "daemon/clock.hpp"
#include "daemon/keys.hpp"
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
};

/// Fills `token.json_members` from its other fields.
void render_json_members(cached_token& token);

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

using token_outcome = std::variant<token_answer, failure>;

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
  token_service(net::any_io_executor executor, const clock& clock, service_options options,
                std::shared_ptr<exchanger> exchanger);
  ~token_service();
  token_service(const token_service&) = delete;
  token_service& operator=(const token_service&) = delete;

  /// Replaces the organizations. Cached tokens survive for organizations whose
  /// key, auth_url, api_version and scope are unchanged; others start afresh.
  /// A `reload` also ends every rest after rejection (the operator acted).
  void set_orgs(org_table orgs, bool reload = false);
  /// Replaces the tunables (reload).
  void set_options(service_options options) { options_ = options; }
  /// Replaces the exchanger (reload with a new CA or proxy).
  void set_exchanger(std::shared_ptr<exchanger> exchanger) { exchanger_ = std::move(exchanger); }

  /// The fast path: the answer when it needs no exchange to wait for (a cache
  /// hit, or an error known at once); nullopt when the caller must `get`.
  std::optional<token_outcome> try_get(const token_request& request);

  /// The full path: waits for the exchange in flight, or starts one.
  net::awaitable<token_outcome> get(token_request request);

  /// Evicts one organization's tokens (all when `org` is empty); returns how many.
  std::size_t evict(const std::string& org);

  /// Stores a token restored from the cache file, unless one is cached already
  /// (its expiry capped at obtained_at + 24 h, as a new token's is).
  void restore(const std::string& org, const std::string& sub_org, cached_token token);

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

  struct flight;
  struct slot;
  struct org_state;
  struct server_state;

 private:
  std::optional<token_outcome> serve_or_block(org_state& org, slot& entry,
                                              const token_request& request);
  std::optional<failure> blocked(org_state& org, const slot& entry);
  /// Forgets the cache keys that hold no token and whose rest or backoff has
  /// ended, so that failed requests cannot fill an organization's cache keys.
  void forget_idle_slots(org_state& org);
  void maybe_refresh(org_state& org, slot& entry, const std::string& sub_org);
  std::shared_ptr<flight> start_flight(org_state& org, slot& entry, const std::string& sub_org);
  net::awaitable<void> run_flight(std::shared_ptr<flight> f);
  void record(const std::string& org, const std::string& sub_org, const upstream::exchange_result&,
              std::chrono::steady_clock::duration elapsed);
  double draw();

  net::any_io_executor executor_;
  const clock& clock_;
  service_options options_;
  std::shared_ptr<exchanger> exchanger_;
  std::map<std::string, std::unique_ptr<org_state>, std::less<>> orgs_;
  std::map<std::string, server_state, std::less<>> servers_;
  service_stats stats_;
  std::mt19937_64 random_;
  std::function<void()> on_change_;
};

/// First 8 hex digits of the SHA-256 of `token`: what logs show instead of it.
std::string fingerprint(std::string_view token);

}  // namespace actoken::tokens
