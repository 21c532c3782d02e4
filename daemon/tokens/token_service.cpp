#include "daemon/tokens/token_service.hpp"

#include "common/json_text.hpp"
#include "daemon/tokens/refresh_policy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>

namespace actoken::tokens {
namespace {

using upstream::api_version;
using upstream::token_grant;

constexpr auto rate_window = std::chrono::seconds{60};
constexpr std::array<double, 10> duration_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30};

std::string who(const std::string& org, const std::string& sub_org) {
  return sub_org.empty() ? "organization " + org
                         : "organization " + org + " (sub-organization " + sub_org + ")";
}

seconds ceil_seconds(mono_clock::duration d) {
  return std::max(seconds{1}, std::chrono::ceil<seconds>(d));
}

}  // namespace

/// One exchange in flight for one cache key; every caller that needs it waits here.
struct token_service::flight {
  flight(net::any_io_executor executor, std::string org_name, std::string sub,
         std::shared_ptr<const org_settings> org_settings)
      : done(std::move(executor), mono_clock::time_point::max()),
        org(std::move(org_name)),
        sub_org(std::move(sub)),
        settings(std::move(org_settings)) {}

  net::steady_timer done;  // cancelled when `outcome` is set: a broadcast to waiters
  std::string org;
  std::string sub_org;
  std::shared_ptr<const org_settings> settings;
  std::optional<std::variant<std::shared_ptr<const cached_token>, failure>> outcome;
};

/// The cache entry of one (organization, sub-organization).
struct token_service::slot {
  std::shared_ptr<const cached_token> token;
  std::shared_ptr<flight> in_flight;
  unsigned failures = 0;         // consecutive transient failures
  mono_time retry_not_before{};  // backoff, or a sub-org's rest after rejection
  std::optional<failure> blocking_error;
};

/// Everything known about one organization; replaced when its inputs change.
struct token_service::org_state {
  std::shared_ptr<const org_settings> settings;
  std::map<std::string, slot> slots;  // by sub-org GUID, "" for the root
  mono_time rejected_until{};         // a rejected root key rests the organization
  std::optional<failure> permanent;   // endpoint_not_found / upstream_tls until reload
  std::optional<failure_record> last_error;
  seconds clock_skew{0};
  std::optional<api_version> resolved_version;  // what `auto` settled on
  // Exchange starts within the last minute: max_exchanges_per_minute is this
  // organization's own, so its callers cannot use up another's (SPEC §3).
  std::deque<mono_time> recent_exchanges;
};

/// What one auth server asked of every organization that uses it.
struct token_service::server_state {
  mono_time limited_until{};  // a 429's Retry-After
};

token_service::token_service(net::any_io_executor executor, const clock& clock,
                             service_options options, std::shared_ptr<exchanger> exchanger)
    : executor_(std::move(executor)),
      clock_(clock),
      options_(options),
      exchanger_(std::move(exchanger)),
      random_(std::random_device{}()) {
  stats_.duration_bucket_bounds.assign(duration_bounds.begin(), duration_bounds.end());
  stats_.duration_buckets.assign(duration_bounds.size(), 0);
}

token_service::~token_service() = default;

double token_service::draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }

void token_service::set_orgs(org_table orgs, bool reload) {
  std::map<std::string, std::unique_ptr<org_state>, std::less<>> next;
  for (auto& [name, settings] : orgs) {
    auto old = orgs_.find(name);
    if (old != orgs_.end() && old->second->settings->same_exchange_inputs(*settings)) {
      // Same key, server, version and scope: tokens stay valid. Errors that
      // hold "until reload" are forgotten; a rejection rests on.
      auto state = std::move(old->second);
      state->settings = settings;
      state->permanent.reset();
      if (reload) {
        state->rejected_until = {};
        for (auto& [sub, entry] : state->slots) {
          if (entry.blocking_error && entry.blocking_error->code == errc::key_rejected) {
            entry.retry_not_before = {};
            entry.blocking_error.reset();
          }
        }
      }
      next.emplace(name, std::move(state));
    } else {
      auto state = std::make_unique<org_state>();
      state->settings = settings;
      // New inputs start afresh, but not with a fresh budget.
      if (old != orgs_.end()) state->recent_exchanges = std::move(old->second->recent_exchanges);
      next.emplace(name, std::move(state));
    }
  }
  orgs_ = std::move(next);
}

void render_json_members(cached_token& token) {
  auto& out = token.json_members;
  out.clear();
  out.reserve(token.access_token.size() + 120);
  out += R"("access_token":)";
  append_json_string(out, token.access_token);
  out += R"(,"token_type":"Bearer","expires_at":")";
  append_rfc3339(out, token.expires_at);
  out += R"(","obtained_at":")";
  append_rfc3339(out, token.obtained_at);
  out += '"';
}

std::shared_ptr<const org_settings> token_service::find_org(const std::string& org) const {
  const auto it = orgs_.find(org);
  return it == orgs_.end() ? nullptr : it->second->settings;
}

std::vector<std::string> token_service::org_names() const {
  std::vector<std::string> names;
  for (const auto& [name, state] : orgs_) names.push_back(name);
  return names;
}

std::size_t token_service::cached_tokens() const {
  std::size_t n = 0;
  for (const auto& [name, state] : orgs_) {
    for (const auto& [sub, entry] : state->slots) n += entry.token ? 1U : 0U;
  }
  return n;
}

std::size_t token_service::evict(const std::string& org) {
  std::size_t n = 0;
  for (auto& [name, state] : orgs_) {
    if (!org.empty() && name != org) continue;
    for (auto& [sub, entry] : state->slots) {
      n += entry.token ? 1U : 0U;
      entry.token.reset();
    }
  }
  if (n > 0 && on_change_) on_change_();
  return n;
}

void token_service::restore(const std::string& org, const std::string& sub_org,
                            cached_token token) {
  // The same cap as a new token's, whatever the file says (SPEC §3, §6).
  token.expires_at = std::min(token.expires_at, token.obtained_at + upstream::max_token_lifetime);
  const auto it = orgs_.find(org);
  if (it == orgs_.end() || token.expires_at <= clock_.wall_now()) return;
  auto& entry = it->second->slots[sub_org];
  if (!entry.token) {
    token.refresh_at =
        refresh_point(token.obtained_at, token.expires_at, options_.refresh_before, draw());
    render_json_members(token);
    entry.token = std::make_shared<const cached_token>(std::move(token));
  }
}

std::optional<failure> token_service::blocked(org_state& org, const slot& entry) {
  const auto now = clock_.mono_now();
  if (org.permanent) {
    return org.permanent;
  }
  if (now < org.rejected_until && org.last_error) {
    return failure{errc::key_rejected, org.last_error->error.message, std::nullopt};
  }
  if (now < entry.retry_not_before && entry.blocking_error) {
    auto error = *entry.blocking_error;
    if (carries_retry_after(error.code))
      error.retry_after = ceil_seconds(entry.retry_not_before - now);
    return error;
  }
  auto& server = servers_[org.settings->auth_url];
  if (now < server.limited_until) {
    return failure{errc::rate_limited,
                   "organization " + org.settings->name + ": the auth server " +
                       org.settings->auth_url + " asked us to slow down",
                   ceil_seconds(server.limited_until - now)};
  }
  auto& recent = org.recent_exchanges;
  while (!recent.empty() && now - recent.front() >= rate_window) {
    recent.pop_front();
  }
  if (recent.size() >= options_.max_exchanges_per_minute) {
    return failure{errc::rate_limited,
                   "organization " + org.settings->name + ": over " +
                       std::to_string(options_.max_exchanges_per_minute) +
                       " exchanges per minute (max_exchanges_per_minute)",
                   ceil_seconds(recent.front() + rate_window - now)};
  }
  return std::nullopt;
}

std::optional<token_outcome> token_service::try_get(const token_request& request) {
  const auto it = orgs_.find(request.org);
  if (it == orgs_.end()) {
    return failure{errc::unknown_org, "no organization named " + request.org, std::nullopt};
  }
  auto& org = *it->second;
  if (!org.settings->key) {
    return failure{
        errc::no_key,
        "organization " + request.org + " has no usable key: " + org.settings->key_problem,
        std::nullopt};
  }
  if (!request.sub_org.empty() && org.settings->api_version == api_version::v1) {
    return failure{errc::bad_request,
                   "organization " + request.org + " uses API v1, which has no sub-organizations",
                   std::nullopt};
  }
  auto entry_it = org.slots.find(request.sub_org);
  if (entry_it == org.slots.end()) {
    forget_idle_slots(org);
    if (org.slots.size() >= options_.max_cache_keys_per_org) {
      return failure{errc::bad_request,
                     "organization " + request.org + " has too many sub-organization tokens (" +
                         std::to_string(options_.max_cache_keys_per_org) + ")",
                     std::nullopt};
    }
    entry_it = org.slots.emplace(request.sub_org, slot{}).first;
  }
  return serve_or_block(org, entry_it->second, request);
}

std::optional<token_outcome> token_service::serve_or_block(org_state& org, slot& entry,
                                                           const token_request& request) {
  const auto now = clock_.wall_now();
  const auto& token = entry.token;
  const bool usable = token && token->expires_at - now >= request.min_ttl;
  const bool young = token && now - token->obtained_at < fresh_guard;

  // Served from the cache unless the caller forces a refresh of a token old
  // enough to be refreshed.
  if (usable && !(request.fresh && !young)) {
    ++stats_.cache_hits;
    maybe_refresh(org, entry, request.sub_org);
    return token_answer{token, false};
  }
  ++stats_.cache_misses;
  if (young) {
    // A token under 10 s old is never exchanged anew: a crowd of `fresh=1`
    // makes no exchanges, and a min_ttl it cannot meet will not be met.
    const auto left = std::chrono::floor<seconds>(token->expires_at - now).count();
    return failure{errc::ttl_unsatisfiable,
                   who(org.settings->name, request.sub_org) + ": the newest token has " +
                       std::to_string(left) + " s left, less than the " +
                       std::to_string(request.min_ttl.count()) + " s asked for",
                   std::nullopt};
  }
  if (entry.in_flight) {
    return std::nullopt;  // join it
  }
  if (auto error = blocked(org, entry)) {
    if (usable) {
      return token_answer{token, false};  // a forced refresh while we may not: keep serving
    }
    return token_outcome{std::move(*error)};
  }
  return std::nullopt;  // start one
}

void token_service::forget_idle_slots(org_state& org) {
  const auto now = clock_.mono_now();
  std::erase_if(org.slots, [now](const auto& item) {
    const slot& entry = item.second;
    return !entry.token && !entry.in_flight && entry.retry_not_before <= now;
  });
}

void token_service::maybe_refresh(org_state& org, slot& entry, const std::string& sub_org) {
  const auto now = clock_.wall_now();
  if (entry.in_flight || now < entry.token->refresh_at ||
      now - entry.token->obtained_at < fresh_guard || blocked(org, entry)) {
    return;
  }
  spdlog::debug("{}: refreshing token {} in the background", who(org.settings->name, sub_org),
                entry.token->fingerprint);
  start_flight(org, entry, sub_org);
}

std::shared_ptr<token_service::flight> token_service::start_flight(org_state& org, slot& entry,
                                                                   const std::string& sub_org) {
  org.recent_exchanges.push_back(clock_.mono_now());
  auto f = std::make_shared<flight>(executor_, org.settings->name, sub_org, org.settings);
  entry.in_flight = f;
  net::co_spawn(executor_, run_flight(f), net::detached);
  return f;
}

net::awaitable<token_outcome> token_service::get(token_request request) {
  if (auto answer = try_get(request)) {
    co_return std::move(*answer);
  }
  auto& org = *orgs_.find(request.org)->second;
  auto& entry = org.slots[request.sub_org];
  auto f = entry.in_flight ? entry.in_flight : start_flight(org, entry, request.sub_org);
  while (!f->outcome) {
    co_await f->done.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (const auto* error = std::get_if<failure>(&*f->outcome)) {
    co_return *error;
  }
  auto token = std::get<std::shared_ptr<const cached_token>>(*f->outcome);
  const auto left = token->expires_at - clock_.wall_now();
  if (left < request.min_ttl) {
    co_return failure{errc::ttl_unsatisfiable,
                      who(request.org, request.sub_org) + ": a new token has " +
                          std::to_string(std::chrono::floor<seconds>(left).count()) +
                          " s left, less than the " + std::to_string(request.min_ttl.count()) +
                          " s asked for",
                      std::nullopt};
  }
  co_return token_answer{std::move(token), true};
}

net::awaitable<void> token_service::run_flight(std::shared_ptr<flight> f) {
  const auto settings = f->settings;
  const auto started = mono_clock::now();

  auto version = settings->api_version;
  bool probing = false;
  if (version == api_version::automatic) {
    const auto it = orgs_.find(f->org);
    const auto resolved = it == orgs_.end() ? std::nullopt : it->second->resolved_version;
    probing = !resolved;
    version = resolved.value_or(api_version::v3);
    // A server that settled on v1 for the root has no sub-organizations
    // there; v2 is the legacy endpoint that takes them.
    if (!f->sub_org.empty() && version == api_version::v1) version = api_version::v2;
  }

  upstream::exchange_result result;
  try {
    auto exchanger = exchanger_;  // a reload may replace it meanwhile
    result = co_await exchanger->exchange(settings, version, f->sub_org);
    // `auto`: v3 first, then v1 (v2 when a sub-organization is asked).
    const auto* error = std::get_if<failure>(&result);
    if (probing && error != nullptr && error->code == errc::endpoint_not_found) {
      version = f->sub_org.empty() ? api_version::v1 : api_version::v2;
      result = co_await exchanger->exchange(settings, version, f->sub_org);
    }
  } catch (const std::exception& e) {
    result =
        failure{errc::internal_error, std::string("exchange failed: ") + e.what(), std::nullopt};
  }
  const auto elapsed = mono_clock::now() - started;
  record(f->org, f->sub_org, result, elapsed);

  // Apply the result, unless the organization's key or settings changed meanwhile.
  const auto it = orgs_.find(f->org);
  org_state* org = (it != orgs_.end() && it->second->settings->key == settings->key &&
                    it->second->settings->same_exchange_inputs(*settings))
                       ? it->second.get()
                       : nullptr;
  slot* entry = nullptr;
  if (org != nullptr) {
    auto slot_it = org->slots.find(f->sub_org);
    if (slot_it != org->slots.end() && slot_it->second.in_flight == f) entry = &slot_it->second;
  }
  const auto now = clock_.wall_now();
  const auto mono_now = clock_.mono_now();
  const auto subject = who(f->org, f->sub_org);

  if (auto* grant = std::get_if<token_grant>(&result)) {
    auto token = std::make_shared<cached_token>();
    token->access_token = std::move(grant->access_token);
    token->obtained_at = grant->obtained_at;
    token->expires_at = grant->expires_at;
    token->refresh_at =
        refresh_point(token->obtained_at, token->expires_at, options_.refresh_before, draw());
    token->fingerprint = fingerprint(token->access_token);
    render_json_members(*token);
    spdlog::info("exchange org={} sub_org={} result=ok duration_ms={} token={} expires_in={}s",
                 f->org, f->sub_org.empty() ? "-" : f->sub_org,
                 std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
                 token->fingerprint,
                 std::chrono::duration_cast<seconds>(token->expires_at - now).count());
    if (grant->ignored_skew) {
      spdlog::warn(
          "organization {}: ignoring the auth server's Date header: it is {} s from our clock, "
          "more than 24 h",
          f->org, grant->ignored_skew->count());
    }
    if (org != nullptr) {
      if (grant->clock_skew != org->clock_skew &&
          std::chrono::abs(grant->clock_skew) > seconds{30}) {
        spdlog::warn("organization {}: the auth server's clock differs from ours by {} s", f->org,
                     grant->clock_skew.count());
      }
      org->clock_skew = grant->clock_skew;
      org->last_error.reset();
      if (probing && f->sub_org.empty()) org->resolved_version = version;
      if (probing && !f->sub_org.empty() && version == api_version::v3) {
        org->resolved_version = version;
      }
    }
    if (entry != nullptr) {
      entry->token = token;
      entry->failures = 0;
      entry->retry_not_before = {};
      entry->blocking_error.reset();
      if (on_change_) on_change_();
    } else {
      spdlog::info("{}: not caching token {}: the key or settings changed during the exchange",
                   subject, token->fingerprint);
    }
    f->outcome = std::shared_ptr<const cached_token>(std::move(token));
  } else {
    auto& failed = std::get<failure>(result);
    failure error{failed.code, subject + ": " + failed.message, failed.retry_after};
    spdlog::warn("exchange org={} sub_org={} result={} duration_ms={}: {}", f->org,
                 f->sub_org.empty() ? "-" : f->sub_org, code_name(failed.code),
                 std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
                 failed.message);
    if (org != nullptr && entry != nullptr) {
      org->last_error = failure_record{error, now};
      switch (error.code) {
        case errc::key_rejected:
          if (f->sub_org.empty()) {
            org->rejected_until = mono_now + options_.retry_rejected_after;
          } else {
            entry->retry_not_before = mono_now + options_.retry_rejected_after;
            entry->blocking_error = error;
          }
          break;
        case errc::endpoint_not_found:
        case errc::upstream_tls:
          org->permanent = error;
          break;
        case errc::rate_limited: {
          const auto wait =
              failed.retry_after
                  ? std::chrono::duration_cast<mono_clock::duration>(*failed.retry_after)
                  : std::chrono::duration_cast<mono_clock::duration>(
                        backoff_delay(entry->failures + 1, draw()));
          servers_[settings->auth_url].limited_until = mono_now + wait;
          error.retry_after = ceil_seconds(wait);
          break;
        }
        default: {
          // Transient: back off this cache key, honouring a longer Retry-After.
          ++entry->failures;
          auto wait = std::chrono::duration_cast<mono_clock::duration>(
              backoff_delay(entry->failures, draw()));
          if (failed.retry_after) {
            wait = std::max(wait,
                            std::chrono::duration_cast<mono_clock::duration>(*failed.retry_after));
          }
          entry->retry_not_before = mono_now + wait;
          entry->blocking_error = error;
          error.retry_after = ceil_seconds(wait);
          break;
        }
      }
      if (error.code == errc::upstream_unavailable || error.code == errc::rate_limited) {
        if (!error.retry_after) error.retry_after = seconds{1};
      }
    }
    f->outcome = std::move(error);
  }
  if (entry != nullptr) entry->in_flight.reset();
  f->done.cancel();
}

void token_service::record(const std::string& org, const std::string& /*sub_org*/,
                           const upstream::exchange_result& result,
                           std::chrono::steady_clock::duration elapsed) {
  ++stats_.exchanges_total;
  const auto* error = std::get_if<failure>(&result);
  const std::string outcome = error == nullptr ? "ok" : std::string(code_name(error->code));
  ++stats_.exchanges[{org, outcome}];
  const double secs = std::chrono::duration<double>(elapsed).count();
  ++stats_.duration_count;
  stats_.duration_sum += secs;
  for (std::size_t i = 0; i < stats_.duration_bucket_bounds.size(); ++i) {
    if (secs <= stats_.duration_bucket_bounds[i]) ++stats_.duration_buckets[i];
  }
}

std::vector<org_view> token_service::view() const {
  std::vector<org_view> out;
  const auto mono_now = clock_.mono_now();
  for (const auto& [name, state] : orgs_) {
    org_view v;
    v.settings = state->settings;
    v.last_error = state->last_error;
    v.clock_skew = state->clock_skew;
    v.effective_version = state->resolved_version.value_or(state->settings->api_version);
    bool backing_off = false;
    for (const auto& [sub, entry] : state->slots) {
      if (entry.token) v.tokens.emplace_back(sub, entry.token);
      backing_off = backing_off || (mono_now < entry.retry_not_before && entry.failures > 0);
    }
    if (!state->settings->key) {
      v.state = "no_key";
      if (!v.last_error) {
        v.last_error =
            failure_record{{errc::no_key, state->settings->key_problem, {}}, wall_time{}};
      }
    } else if (mono_now < state->rejected_until) {
      v.state = "rejected";
    } else if (state->permanent) {
      v.state = "error";
    } else if (backing_off) {
      v.state = "backoff";
    } else {
      v.state = "ok";
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string fingerprint(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 4 && i < length; ++i) {
    out.push_back(hex[digest[i] >> 4U]);
    out.push_back(hex[digest[i] & 0x0FU]);
  }
  return out;
}

}  // namespace actoken::tokens
