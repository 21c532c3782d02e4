#include "daemon/tokens/token_service.hpp"

#include "common/json_text.hpp"
#include "daemon/keys/key_command.hpp"
#include "daemon/runtime/spawn.hpp"
#include "daemon/tokens/failure_policy.hpp"
#include "daemon/tokens/refresh_policy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
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

}  // namespace

/// One exchange in flight for one cache key; every caller that needs it waits here.
struct pending_exchange::flight {
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
  // When the rest ends and the key is tried again (for a key_command's key, the
  // command's rerun: rejected_until itself then lasts until the new key comes).
  mono_time rest_ends{};
  // What callers are told meanwhile: kept apart from last_error, which the
  // organization's sub-organization exchanges that land later overwrite.
  std::optional<failure> rejection;
  std::optional<failure> permanent;  // endpoint_not_found / upstream_tls until reload
  std::optional<failure_record> last_error;
  seconds clock_skew{0};
  std::optional<api_version> resolved_version;  // what `auto` settled on
  // Exchange starts, oldest first; those within the last minute count against
  // max_exchanges_per_minute, which is this organization's own, so its callers
  // cannot use up another's (SPEC §3). Pruned when an exchange starts.
  std::deque<mono_time> recent_exchanges;
};

/// What one auth server asked of every organization that uses it.
struct token_service::server_state {
  mono_time limited_until{};  // a 429's Retry-After
};

token_service::token_service(net::any_io_executor executor, const clock_source& clock,
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
      // Same key, server, version and scope: tokens stay valid, and so do the
      // failures that hold (SPEC §3): only a reload ends them here, never
      // another organization's key change, which also comes through here.
      auto state = std::move(old->second);
      state->settings = settings;
      if (reload) {
        state->permanent.reset();
        state->rejected_until = {};
        state->rest_ends = {};
        state->rejection.reset();
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

bool is_young(const cached_token& token, wall_time wall_now, mono_time mono_now) {
  // Young on the monotonic clock, and not yet past half its lifetime on the
  // wall clock either: a suspend or a clock step forward never keeps a token
  // that has expired (or nearly) from being replaced.
  const auto half_life = (token.expires_at - token.obtained_at) / 2;
  return mono_now < token.young_until && wall_now < token.obtained_at + half_life;
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

std::string render_token_object(std::string_view org, std::string_view sub_org_label,
                                const cached_token& token, std::int64_t expires_in,
                                bool from_exchange) {
  // Written by hand: this is the hot path, and its shape never changes. The
  // token's own members were rendered when it was cached.
  std::string body;
  body.reserve(token.json_members.size() + org.size() + sub_org_label.size() + 80);
  body += R"({"org":)";
  append_json_string(body, org);
  body += R"(,"sub_org":)";
  if (sub_org_label.empty()) {
    body += "null";
  } else {
    append_json_string(body, sub_org_label);
  }
  body += R"(,"expires_in":)";
  char digits[24];
  body.append(digits, std::to_chars(digits, digits + sizeof digits, expires_in).ptr);
  body += ',';
  body += token.json_members;
  body += from_exchange ? R"(,"source":"exchange"})" : R"(,"source":"cache"})";
  return body;
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
  const auto it = orgs_.find(org);
  if (it == orgs_.end() || token.expires_at <= clock_.wall_now()) return;
  auto& entry = it->second->slots[sub_org];
  if (!entry.token) {
    token.refresh_at =
        refresh_point(token.obtained_at, token.expires_at, options_.refresh_before, draw());
    // Its age so far is known only on the wall clock (the file's obtained_at, never in the future).
    const auto age = std::max(clock_.wall_now() - token.obtained_at, wall_clock::duration::zero());
    token.young_until = clock_.mono_now() - age + young_for(token.obtained_at, token.expires_at);
    render_json_members(token);
    entry.token = std::make_shared<const cached_token>(std::move(token));
  }
}

net::awaitable<std::variant<std::shared_ptr<const cached_token>, failure>> token_service::verify(
    std::string org, std::shared_ptr<const org_settings> settings) {
  auto f = std::make_shared<flight>(executor_, std::move(org), std::string(), std::move(settings));
  const auto started = mono_clock::now();
  auto attempt = co_await exchange_with_fallback(f);
  const auto elapsed = mono_clock::now() - started;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
  record(f->org, attempt.result, elapsed);
  if (auto* failed = std::get_if<failure>(&attempt.result)) {
    spdlog::warn("exchange org={} sub_org=- result={} duration_ms={} (a new key, not kept): {}",
                 f->org, code_name(failed->code), ms, failed->message);
    failed->message = "organization " + f->org + ": the new key was not kept: " + failed->message;
    // Nothing is held back for a key that was not kept: no wait to tell.
    failed->retry_after.reset();
    co_return std::move(*failed);
  }
  std::shared_ptr<const cached_token> token = make_token(std::get<token_grant>(attempt.result));
  spdlog::info("exchange org={} sub_org=- result=ok duration_ms={} token={} (a new key, verified)",
               f->org, ms, token->fingerprint);
  co_return token;
}

void token_service::adopt(const std::string& org, const org_settings& tried,
                          std::shared_ptr<const cached_token> token) {
  const auto it = orgs_.find(org);
  if (it == orgs_.end() || !it->second->settings->same_exchange_inputs(tried) ||
      token->expires_at <= clock_.wall_now()) {
    return;
  }
  auto& entry = it->second->slots[""];
  if (entry.token) return;
  entry.token = std::move(token);
  if (on_change_) on_change_();
}

std::optional<failure> token_service::blocked(const org_state& org, const slot& entry) const {
  const auto now = clock_.mono_now();
  if (org.permanent) {
    return org.permanent;
  }
  // What the caller is told to wait is always what is left of the daemon's own
  // rest or backoff (docs/api.md "Retry-After"), never what the auth server said.
  if (now < org.rejected_until && org.rejection) {
    auto error = *org.rejection;
    error.retry_after.reset();
    if (now < org.rest_ends) error.retry_after = retry_after_of(org.rest_ends - now);
    return error;
  }
  if (now < entry.retry_not_before && entry.blocking_error) {
    auto error = *entry.blocking_error;
    error.retry_after = retry_after_of(entry.retry_not_before - now);
    return error;
  }
  if (const auto server = servers_.find(org.settings->auth_url);
      server != servers_.end() && now < server->second.limited_until) {
    return failure{errc::rate_limited,
                   "organization " + org.settings->name + ": the auth server " +
                       org.settings->auth_url + " asked us to slow down",
                   retry_after_of(server->second.limited_until - now)};
  }
  // Only the starts within the window count; older ones are pruned by start_flight.
  const auto& recent = org.recent_exchanges;
  const auto in_window = std::upper_bound(recent.begin(), recent.end(), now - rate_window);
  if (static_cast<std::size_t>(recent.end() - in_window) >= options_.max_exchanges_per_minute) {
    return failure{errc::rate_limited,
                   "organization " + org.settings->name + ": over " +
                       std::to_string(options_.max_exchanges_per_minute) +
                       " exchanges per minute (max_exchanges_per_minute)",
                   retry_after_of(*in_window + rate_window - now)};
  }
  return std::nullopt;
}

lookup_result token_service::lookup(const token_request& request) {
  const auto it = orgs_.find(request.org);
  if (it == orgs_.end()) {
    return failure{errc::unknown_org, "no organization named " + request.org};
  }
  auto& org = *it->second;
  if (!org.settings->key) {
    if (const auto& command = org.settings->command; command && command->running()) {
      return pending_exchange{command, request};
    }
    auto message =
        "organization " + request.org + " has no usable key: " + org.settings->key_problem;
    if (const auto hint = no_key_hint(*org.settings); !hint.empty()) message += "; " + hint;
    return failure{errc::no_key, std::move(message)};
  }
  if (!request.sub_org.empty() && org.settings->api_version == api_version::v1) {
    return failure{errc::bad_request,
                   "organization " + request.org + " uses API v1, which has no sub-organizations"};
  }
  auto* entry = slot_for(org, request.sub_org);
  if (entry == nullptr) {
    return failure{errc::bad_request, "organization " + request.org +
                                          " has too many sub-organization tokens (" +
                                          std::to_string(options_.max_cache_keys_per_org) + ")"};
  }
  return serve(org, *entry, request);
}

token_service::slot* token_service::slot_for(org_state& org, const std::string& sub_org) {
  if (const auto it = org.slots.find(sub_org); it != org.slots.end()) return &it->second;
  forget_idle_slots(org);
  if (org.slots.size() >= options_.max_cache_keys_per_org) return nullptr;
  return &org.slots.emplace(sub_org, slot{}).first->second;
}

lookup_result token_service::serve(org_state& org, slot& entry, const token_request& request) {
  const auto now = clock_.wall_now();
  const auto& token = entry.token;
  const bool usable = token && token->expires_at - now >= request.min_ttl;
  const bool young = token && is_young(*token, now, clock_.mono_now());

  // Served from the cache unless the caller forces a refresh of a token old
  // enough to be refreshed.
  if (usable && !(request.fresh && !young)) {
    ++stats_.cache_hits;
    maybe_refresh(org, entry, request.sub_org);
    return token_answer{token, false};
  }
  ++stats_.cache_misses;
  if (young) {
    // A young token is never exchanged anew: a crowd of `fresh=1` makes no
    // exchanges, and a min_ttl it cannot meet will not be met.
    const auto left = std::chrono::floor<seconds>(token->expires_at - now).count();
    return failure{errc::ttl_unsatisfiable,
                   who(org.settings->name, request.sub_org) + ": the newest token has " +
                       std::to_string(left) + " s left, less than the " +
                       std::to_string(request.min_ttl.count()) + " s asked for"};
  }
  if (entry.in_flight) {
    return pending_exchange{entry.in_flight, request.min_ttl};
  }
  if (auto error = blocked(org, entry)) {
    if (usable) {
      return token_answer{token, false};  // a forced refresh while we may not: keep serving
    }
    return std::move(*error);
  }
  return pending_exchange{start_flight(org, entry, request.sub_org), request.min_ttl};
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
      is_young(*entry.token, now, clock_.mono_now()) || blocked(org, entry)) {
    return;
  }
  spdlog::debug("{}: refreshing token {} in the background", who(org.settings->name, sub_org),
                entry.token->fingerprint);
  start_flight(org, entry, sub_org);
}

mono_clock::duration token_service::keep_warm(const std::string& org_name,
                                              const std::string& sub_org) {
  // Asked again at the refresh point; sooner while an exchange is due but
  // cannot start (a flight, a rest, a backoff), and at least once a minute so
  // that a jump of the wall clock is noticed.
  constexpr mono_clock::duration soon = std::chrono::seconds{1};
  constexpr mono_clock::duration at_most = std::chrono::seconds{60};
  const auto it = orgs_.find(org_name);
  if (it == orgs_.end() || !it->second->settings->key) return at_most;
  auto& org = *it->second;
  if (!sub_org.empty() && org.settings->api_version == api_version::v1) return at_most;
  auto* entry = slot_for(org, sub_org);
  if (entry == nullptr) return at_most;
  const auto now = clock_.wall_now();
  if (entry->token && now < entry->token->refresh_at) {
    return std::clamp(
        std::chrono::duration_cast<mono_clock::duration>(entry->token->refresh_at - now), soon,
        at_most);
  }
  if (entry->in_flight || (entry->token && is_young(*entry->token, now, clock_.mono_now())) ||
      blocked(org, *entry)) {
    return soon;
  }
  spdlog::debug("{}: keeping a sink's token warm", who(org_name, sub_org));
  start_flight(org, *entry, sub_org);
  return soon;
}

std::shared_ptr<const cached_token> token_service::cached(const std::string& org,
                                                          const std::string& sub_org) const {
  const auto it = orgs_.find(org);
  if (it == orgs_.end()) return nullptr;
  const auto entry = it->second->slots.find(sub_org);
  return entry == it->second->slots.end() ? nullptr : entry->second.token;
}

std::shared_ptr<token_service::flight> token_service::start_flight(org_state& org, slot& entry,
                                                                   const std::string& sub_org) {
  const auto now = clock_.mono_now();
  auto& recent = org.recent_exchanges;
  while (!recent.empty() && now - recent.front() >= rate_window) recent.pop_front();
  recent.push_back(now);
  auto f = std::make_shared<flight>(executor_, org.settings->name, sub_org, org.settings);
  entry.in_flight = f;
  spawn_detached(executor_, run_flight(f), "the exchange of " + who(org.settings->name, sub_org));
  return f;
}

net::awaitable<token_outcome> token_service::wait(pending_exchange pending) {
  // First the organization's key_command, if the key is still to come; then
  // the request is looked up again, as it would have been with the key.
  while (pending.command_) {
    const auto command = std::move(pending.command_);
    co_await command->wait();
    auto next = lookup(pending.request_);
    if (auto* answer = std::get_if<token_answer>(&next)) co_return std::move(*answer);
    if (auto* error = std::get_if<failure>(&next)) co_return std::move(*error);
    pending = std::get<pending_exchange>(std::move(next));
  }
  const auto f = std::move(pending.flight_);
  while (!f->outcome) {
    co_await f->done.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (const auto* error = std::get_if<failure>(&*f->outcome)) {
    co_return *error;
  }
  auto token = std::get<std::shared_ptr<const cached_token>>(*f->outcome);
  const auto left = token->expires_at - clock_.wall_now();
  if (left < pending.min_ttl_) {
    co_return failure{errc::ttl_unsatisfiable,
                      who(f->org, f->sub_org) + ": a new token has " +
                          std::to_string(std::chrono::floor<seconds>(left).count()) +
                          " s left, less than the " + std::to_string(pending.min_ttl_.count()) +
                          " s asked for"};
  }
  co_return token_answer{std::move(token), true};
}

// A detached coroutine: whatever happens, it ends by waking every waiter with
// an outcome (STYLE 21). An exception here is a bug; its waiters get
// internal_error at once instead of waiting for their connection to time out.
net::awaitable<void> token_service::run_flight(std::shared_ptr<flight> f) {
  try {
    const auto started = mono_clock::now();
    auto attempt = co_await exchange_with_fallback(f);
    const auto elapsed = mono_clock::now() - started;
    record(f->org, attempt.result, elapsed);
    const auto target = target_of(*f);
    if (std::holds_alternative<token_grant>(attempt.result)) {
      f->outcome = cache_grant(*f, target, attempt, elapsed);
    } else {
      f->outcome = apply_failure(*f, target, std::get<failure>(std::move(attempt.result)), elapsed);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: the exchange failed unexpectedly: {}", who(f->org, f->sub_org), e.what());
    f->outcome = failure{errc::internal_error,
                         who(f->org, f->sub_org) + ": internal error during the exchange"};
  } catch (...) {
    spdlog::error("{}: the exchange failed unexpectedly", who(f->org, f->sub_org));
    f->outcome = failure{errc::internal_error,
                         who(f->org, f->sub_org) + ": internal error during the exchange"};
  }
  land(*f);
}

std::optional<api_version> token_service::settled_version(const flight& f) const {
  const auto it = orgs_.find(f.org);
  return it == orgs_.end() ? std::nullopt : it->second->resolved_version;
}

api_version token_service::choose_version(const flight& f) const {
  const auto configured = f.settings->api_version;
  if (configured != api_version::automatic) return configured;
  auto version = settled_version(f).value_or(api_version::v3);
  // A server that settled on v1 for the root has no sub-organizations there;
  // v2 is the legacy endpoint that takes them.
  if (!f.sub_org.empty() && version == api_version::v1) version = api_version::v2;
  return version;
}

net::awaitable<token_service::exchange_attempt> token_service::exchange_with_fallback(
    std::shared_ptr<flight> f) {
  // `auto` with nothing settled yet probes: v3 first, then v1 (v2 when a
  // sub-organization is asked).
  exchange_attempt attempt{
      failure{}, choose_version(*f),
      f->settings->api_version == api_version::automatic && !settled_version(*f)};
  const bool probing = attempt.probed;
  auto exchanger = exchanger_;  // a reload may replace it meanwhile
  try {
    attempt.result = co_await exchanger->exchange(f->settings, attempt.version, f->sub_org);
    const auto* error = std::get_if<failure>(&attempt.result);
    if (probing && error != nullptr && error->code == errc::endpoint_not_found) {
      attempt.version = f->sub_org.empty() ? api_version::v1 : api_version::v2;
      attempt.result = co_await exchanger->exchange(f->settings, attempt.version, f->sub_org);
    }
  } catch (const std::exception& e) {
    // The exchanger's contract is a failure, not a throw: this one failed.
    attempt.result = failure{errc::internal_error, std::string("exchange failed: ") + e.what()};
  } catch (...) {
    attempt.result = failure{errc::internal_error, "exchange failed: unknown exception"};
  }
  co_return attempt;
}
token_service::flight_target token_service::target_of(const flight& f) {
  // The result applies only while the organization's key and settings are
  // those the exchange started with, and the cache key still waits for it.
  const auto it = orgs_.find(f.org);
  if (it == orgs_.end() || it->second->settings->key != f.settings->key ||
      !it->second->settings->same_exchange_inputs(*f.settings)) {
    return {};
  }
  auto& org = *it->second;
  const auto entry = org.slots.find(f.sub_org);
  if (entry == org.slots.end() || entry->second.in_flight.get() != &f) return {&org, nullptr};
  return {&org, &entry->second};
}

std::shared_ptr<cached_token> token_service::make_token(token_grant& grant) {
  auto token = std::make_shared<cached_token>();
  token->access_token = std::move(grant.access_token);
  token->obtained_at = grant.obtained_at;
  token->expires_at = grant.expires_at;
  token->refresh_at =
      refresh_point(token->obtained_at, token->expires_at, options_.refresh_before, draw());
  token->young_until = clock_.mono_now() + young_for(token->obtained_at, token->expires_at);
  token->fingerprint = fingerprint(token->access_token);
  render_json_members(*token);
  return token;
}

std::shared_ptr<const cached_token> token_service::cache_grant(const flight& f,
                                                               flight_target target,
                                                               exchange_attempt& attempt,
                                                               mono_clock::duration elapsed) {
  auto& grant = std::get<token_grant>(attempt.result);
  auto token = make_token(grant);
  spdlog::info("exchange org={} sub_org={} result=ok duration_ms={} token={} expires_in={}s", f.org,
               f.sub_org.empty() ? "-" : f.sub_org,
               std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
               token->fingerprint,
               std::chrono::duration_cast<seconds>(token->expires_at - clock_.wall_now()).count());
  if (grant.ignored_skew) {
    spdlog::warn(
        "organization {}: ignoring the auth server's Date header: it is {} s from our clock, "
        "more than 24 h",
        f.org, grant.ignored_skew->count());
  }
  if (auto* org = target.org) {
    if (grant.clock_skew != org->clock_skew && std::chrono::abs(grant.clock_skew) > seconds{30}) {
      spdlog::warn("organization {}: the auth server's clock differs from ours by {} s", f.org,
                   grant.clock_skew.count());
    }
    org->clock_skew = grant.clock_skew;
    org->last_error.reset();
    // What `auto` found: the root's version, or v3 when a sub-organization got it.
    if (attempt.probed && (f.sub_org.empty() || attempt.version == api_version::v3)) {
      org->resolved_version = attempt.version;
    }
  }
  if (auto* entry = target.entry) {
    entry->token = token;
    entry->failures = 0;
    entry->retry_not_before = {};
    entry->blocking_error.reset();
    if (on_change_) on_change_();
    if (on_token_) on_token_({token_event::kind::granted, f.org, f.sub_org, token});
  } else {
    spdlog::info("{}: not caching token {}: the key or settings changed during the exchange",
                 who(f.org, f.sub_org), token->fingerprint);
  }
  return token;
}

failure token_service::apply_failure(const flight& f, flight_target target, failure failed,
                                     mono_clock::duration elapsed) {
  spdlog::warn("exchange org={} sub_org={} result={} duration_ms={}: {}", f.org,
               f.sub_org.empty() ? "-" : f.sub_org, code_name(failed.code),
               std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(),
               failed.message);
  failed.message = who(f.org, f.sub_org) + ": " + failed.message;
  if (target.org == nullptr || target.entry == nullptr) {
    // Nothing holds back the next exchange (the key or settings changed meanwhile):
    // no wait to tell, whatever the auth server said.
    failed.retry_after.reset();
    return failed;
  }
  auto& org = *target.org;
  auto& entry = *target.entry;
  org.last_error = failure_record{failed, clock_.wall_now()};
  const auto decision = decide_failure(failed, !f.sub_org.empty(), entry.failures,
                                       options_.retry_rejected_after, draw());
  const auto until = clock_.mono_now() + decision.wait;
  // From here on, the wait callers are told is the daemon's own (the decision's).
  failed.retry_after = decision.retry_after;
  switch (decision.effect) {
    case failure_effect::rest_org:
      org.rejected_until = until;
      org.rest_ends = until;
      org.rejection = failure{errc::key_rejected, failed.message};
      if (on_token_) on_token_({token_event::kind::org_rejected, f.org, f.sub_org, nullptr});
      if (org.settings->source == key_source::command && on_command_key_rejected_) {
        // The command runs again after the rest, and the key it gives
        // replaces this state: until then the rejected key is not tried again.
        org.rejected_until = mono_time::max();
        on_command_key_rejected_(f.org, decision.wait);
      }
      break;
    case failure_effect::hold_until_reload:
      org.permanent = failed;
      break;
    case failure_effect::slow_down_server:
      servers_[f.settings->auth_url].limited_until = until;
      break;
    case failure_effect::rest_cache_key:
      if (on_token_) on_token_({token_event::kind::rejected, f.org, f.sub_org, nullptr});
      [[fallthrough]];
    case failure_effect::back_off:
      entry.failures = decision.failures;
      entry.retry_not_before = until;
      entry.blocking_error = failed;
      break;
  }
  return failed;
}

void token_service::land(flight& f) {
  // The cache key stops pointing at this flight, and every waiter wakes.
  if (const auto org = orgs_.find(f.org); org != orgs_.end()) {
    const auto entry = org->second->slots.find(f.sub_org);
    if (entry != org->second->slots.end() && entry->second.in_flight.get() == &f) {
      entry->second.in_flight.reset();
    }
  }
  f.done.cancel();
}

void token_service::record(const std::string& org, const upstream::exchange_result& result,
                           mono_clock::duration elapsed) {
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
