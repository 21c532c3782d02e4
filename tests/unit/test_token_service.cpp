// The token service on a manual clock with a scripted exchanger: single
// flight, cache hits, min_ttl, fresh, background refresh, backoff, rest after
// rejection, rate limits, and reload. No sockets, no sleeps.
#include "daemon/tokens/refresh_policy.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <utility>

using namespace actoken;
using namespace actoken::tokens;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

// Answers each exchange with the next scripted result, once the test opens the gate.
class scripted_exchanger final : public exchanger {
 public:
  scripted_exchanger(net::io_context& io, const manual_clock& clock) : io_(io), clock_(clock) {}

  net::awaitable<upstream::exchange_result> exchange(std::shared_ptr<const org_settings> org,
                                                     upstream::api_version version,
                                                     std::string sub_org) override {
    ++calls;
    versions.push_back(version);
    sub_orgs.push_back(sub_org);
    keys.emplace_back(org->key->view());
    net::steady_timer gate(io_, mono_clock::time_point::max());
    gates_.push_back(&gate);
    co_await gate.async_wait(net::as_tuple(net::use_awaitable));
    const auto thrown = std::exchange(throw_next, throws::nothing);
    if (thrown == throws::std_exception) throw std::runtime_error("scripted failure");
    if (thrown == throws::other) throw scripted_throw{};
    REQUIRE(!script.empty());
    auto next = script.front();
    script.pop_front();
    if (auto* grant = std::get_if<upstream::token_grant>(&next)) {
      grant->obtained_at = clock_.wall_now();
      grant->expires_at = clock_.wall_now() + lifetime;
      grant->access_token = "token-" + std::to_string(calls);
    }
    co_return next;
  }

  // Completes every exchange in flight.
  void release() {
    for (auto* gate : gates_) gate->cancel();
    gates_.clear();
  }

  void succeed(std::size_t n = 1) {
    for (std::size_t i = 0; i < n; ++i) script.push_back(upstream::token_grant{});
  }
  void fail(errc code, std::optional<seconds> retry_after = {}) {
    script.push_back(failure{code, "scripted " + std::string(code_name(code)), retry_after});
  }

  // What the next exchange throws instead of answering.
  enum class throws { nothing, std_exception, other };
  struct scripted_throw {};  // not a std::exception
  throws throw_next = throws::nothing;

  int calls = 0;
  seconds lifetime{3600};
  std::deque<upstream::exchange_result> script;
  std::vector<upstream::api_version> versions;
  std::vector<std::string> sub_orgs;
  std::vector<std::string> keys;

 private:
  net::io_context& io_;
  const manual_clock& clock_;
  std::vector<net::steady_timer*> gates_;
};

org_table one_org(const std::string& key = "key-1",
                  upstream::api_version version = upstream::api_version::v3) {
  auto org = std::make_shared<org_settings>();
  org->name = "acme";
  org->key = std::make_shared<const platform::secure_buffer>(key);
  org->source = key_source::key_dir;
  org->auth_url = "https://auth.example";
  org->api_version = version;
  org->scope = "openid";
  return {{"acme", org}};
}

// What a caller of the service does: one lookup, then at most one wait.
net::awaitable<token_outcome> fetch(token_service& service, token_request request) {
  auto found = service.lookup(request);
  if (auto* pending = std::get_if<pending_exchange>(&found)) {
    auto outcome = co_await service.wait(std::move(*pending));
    co_return outcome;
  }
  if (auto* answer = std::get_if<token_answer>(&found)) co_return *answer;
  co_return std::get<failure>(found);
}

struct fixture {
  net::io_context io;
  manual_clock clock;
  std::shared_ptr<scripted_exchanger> upstream = std::make_shared<scripted_exchanger>(io, clock);
  token_service service{io.get_executor(), clock, service_options{}, upstream};

  fixture() { service.set_orgs(one_org()); }

  // Runs everything that is ready (an io_context that ran dry must be restarted).
  void pump() {
    io.restart();
    io.poll();
  }

  // Starts a get() whose outcome lands in `out` when it completes.
  void get(token_request request, std::optional<token_outcome>& out) {
    net::co_spawn(io, fetch(service, std::move(request)),
                  [&out](std::exception_ptr e, token_outcome outcome) {
                    REQUIRE(!e);
                    out = std::move(outcome);
                  });
  }

  // The answer a lookup gives at once; nullopt when it needs an exchange
  // (which is then in flight).
  std::optional<token_outcome> try_get(const token_request& request) {
    auto found = service.lookup(request);
    if (auto* answer = std::get_if<token_answer>(&found)) return *answer;
    if (auto* error = std::get_if<failure>(&found)) return *error;
    return std::nullopt;
  }

  token_outcome get_now(token_request request) {
    std::optional<token_outcome> out;
    get(std::move(request), out);
    pump();
    upstream->release();
    pump();
    REQUIRE(out.has_value());
    return *out;
  }
};

token_request req(seconds min_ttl = 60s, bool fresh = false, std::string sub = "") {
  return {"acme", std::move(sub), min_ttl, fresh};
}

const token_answer& answer_of(const token_outcome& outcome) {
  REQUIRE(std::holds_alternative<token_answer>(outcome));
  return std::get<token_answer>(outcome);
}

const failure& error_of(const token_outcome& outcome) {
  REQUIRE(std::holds_alternative<failure>(outcome));
  return std::get<failure>(outcome);
}

// The error a lookup answers at once, with no exchange; the test fails otherwise.
errc error_now(fixture& f, const token_request& request) {
  const auto outcome = f.try_get(request);
  REQUIRE(outcome.has_value());
  return error_of(*outcome).code;
}

// What /v1/orgs would show as `name`'s state.
std::string state_of(const token_service& service, const std::string& name) {
  for (const auto& view : service.view()) {
    if (view.settings->name == name) return view.state;
  }
  FAIL("no organization " << name);
  return {};
}

}  // namespace

TEST_CASE("the first request exchanges, later ones hit the cache") {
  fixture f;
  f.upstream->succeed();
  const auto first = f.get_now(req());
  CHECK(answer_of(first).from_exchange);
  CHECK(answer_of(first).token->access_token == "token-1");
  CHECK(f.upstream->keys.front() == "key-1");

  f.clock.advance(30s);
  const auto cached = f.try_get(req());
  REQUIRE(cached.has_value());
  CHECK_FALSE(answer_of(*cached).from_exchange);
  CHECK(answer_of(*cached).token->access_token == "token-1");
  CHECK(f.upstream->calls == 1);
  CHECK(f.service.stats().cache_hits == 1);
}

TEST_CASE("concurrent requests for a cold key share one exchange") {
  fixture f;
  f.upstream->succeed();
  std::vector<std::optional<token_outcome>> outcomes(50);
  for (auto& out : outcomes) f.get(req(), out);
  f.pump();
  CHECK(f.upstream->calls == 1);
  f.upstream->release();
  f.pump();
  for (const auto& out : outcomes) {
    REQUIRE(out.has_value());
    CHECK(answer_of(*out).from_exchange);
    CHECK(answer_of(*out).token->access_token == "token-1");
  }
}

TEST_CASE("a token is never served with less than min_ttl left") {
  fixture f;
  f.upstream->lifetime = 600s;
  f.upstream->succeed(2);
  CHECK(answer_of(f.get_now(req(60s))).token->access_token == "token-1");

  f.clock.advance(541s);                         // 59 s left
  CHECK_FALSE(f.try_get(req(60s)).has_value());  // needs an exchange
  const auto renewed = f.get_now(req(60s));
  CHECK(answer_of(renewed).from_exchange);
  CHECK(answer_of(renewed).token->access_token == "token-2");
}

TEST_CASE("expiry is judged on the wall clock: a suspended laptop serves no dead token") {
  fixture f;
  f.upstream->succeed(2);
  f.get_now(req());
  f.clock.jump_wall(2h);  // the monotonic clock did not move
  CHECK_FALSE(f.try_get(req()).has_value());
  CHECK(answer_of(f.get_now(req())).token->access_token == "token-2");
}

TEST_CASE("a min_ttl no new token can meet is ttl_unsatisfiable") {
  fixture f;
  f.upstream->lifetime = 300s;
  f.upstream->succeed();
  CHECK(error_of(f.get_now(req(600s))).code == errc::ttl_unsatisfiable);
  // The token was cached all the same, and it is under 10 s old: no new exchange.
  CHECK(error_of(*f.try_get(req(600s))).code == errc::ttl_unsatisfiable);
  CHECK(f.upstream->calls == 1);
}

TEST_CASE("fresh=1 re-exchanges a long-lived token only once it is 10 s old") {
  fixture f;
  f.upstream->succeed(2);
  f.get_now(req());
  f.clock.advance(5s);
  const auto young = f.try_get(req(60s, true));
  REQUIRE(young.has_value());
  CHECK(answer_of(*young).token->access_token == "token-1");
  CHECK(f.upstream->calls == 1);

  f.clock.advance(5s);
  CHECK_FALSE(f.try_get(req(60s, true)).has_value());
  CHECK(answer_of(f.get_now(req(60s, true))).token->access_token == "token-2");
  CHECK(f.upstream->calls == 2);
}

TEST_CASE("a short-lived token is young for half its lifetime, not 10 s") {
  fixture f;
  f.upstream->lifetime = 6s;  // young for 3 s
  f.upstream->succeed(2);
  f.get_now(req(1s));
  f.clock.advance(2900ms);
  const auto young = f.try_get(req(1s, true));
  REQUIRE(young.has_value());
  CHECK(answer_of(*young).token->access_token == "token-1");
  // A min_ttl the young token cannot meet is not met by a new exchange either.
  CHECK(error_of(*f.try_get(req(5s))).code == errc::ttl_unsatisfiable);
  CHECK(f.upstream->calls == 1);

  f.clock.advance(200ms);  // 3.1 s: past half its lifetime
  CHECK_FALSE(f.try_get(req(1s, true)).has_value());
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
  CHECK(answer_of(*f.try_get(req(1s))).token->access_token == "token-2");
}

TEST_CASE("an expired short-lived token is always replaced") {
  fixture f;
  f.upstream->lifetime = 4s;
  f.upstream->succeed(2);
  f.get_now(req(1s));
  f.clock.advance(5s);
  CHECK(answer_of(f.get_now(req(1s))).token->access_token == "token-2");
}

TEST_CASE(
    "youth is measured on the monotonic clock: a wall clock stepped back does not prolong it") {
  fixture f;
  f.upstream->succeed(2);
  f.get_now(req());
  f.clock.jump_wall(-1h);  // the token now looks obtained an hour in the future
  f.clock.advance(11s);
  CHECK_FALSE(f.try_get(req(60s, true)).has_value());  // fresh=1 exchanges
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
}

TEST_CASE("4, 6 and 8 s tokens are refreshed in the background before they expire") {
  for (const auto lifetime : {4s, 6s, 8s}) {
    CAPTURE(lifetime.count());
    fixture f;
    f.upstream->lifetime = lifetime;
    f.upstream->succeed(2);
    f.get_now(req(1s));
    // Due once at most L/2 (+10%) is left, and no longer young after L/2.
    f.clock.advance(std::chrono::milliseconds(lifetime) * 56 / 100);
    const auto during = f.try_get(req(1s));
    REQUIRE(during.has_value());
    CHECK(answer_of(*during).token->access_token == "token-1");
    f.pump();
    CHECK(f.upstream->calls == 2);
    f.upstream->release();
    f.pump();
    CHECK(answer_of(*f.try_get(req(1s))).token->access_token == "token-2");
  }
}

TEST_CASE("background refresh starts at the refresh point and never blocks callers") {
  fixture f;
  f.upstream->lifetime = 600s;  // refresh once at most 300 s (±10%) are left
  f.upstream->succeed(2);
  const auto first = answer_of(f.get_now(req())).token;
  CHECK(first->refresh_at >= first->expires_at - 330s);
  CHECK(first->refresh_at <= first->expires_at - 270s);

  f.clock.advance(200s);
  f.try_get(req());
  f.pump();
  CHECK(f.upstream->calls == 1);  // not due yet

  f.clock.advance(135s);  // 265 s left: due whatever the draw
  const auto during = f.try_get(req());
  REQUIRE(during.has_value());
  CHECK(answer_of(*during).token->access_token == "token-1");
  f.pump();
  CHECK(f.upstream->calls == 1 + 1);
  // While it runs, callers keep the cached token.
  CHECK(answer_of(*f.try_get(req())).token->access_token == "token-1");
  f.upstream->release();
  f.pump();
  CHECK(answer_of(*f.try_get(req())).token->access_token == "token-2");
}

TEST_CASE("a rejected key rests: no upstream call until retry_rejected_after") {
  fixture f;
  f.upstream->fail(errc::key_rejected);
  f.upstream->succeed();
  CHECK(error_of(f.get_now(req())).code == errc::key_rejected);
  for (int i = 0; i < 20; ++i) {
    const auto again = f.try_get(req());
    REQUIRE(again.has_value());
    CHECK(error_of(*again).code == errc::key_rejected);
  }
  CHECK(f.upstream->calls == 1);
  CHECK(f.service.view().front().state == "rejected");
  f.clock.advance(301s);
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(f.upstream->calls == 2);
}

TEST_CASE(
    "rests and backoffs run on the monotonic clock: wall clock steps neither stretch nor end "
    "them") {
  fixture f;
  f.upstream->fail(errc::key_rejected);
  f.upstream->fail(errc::upstream_unavailable);
  f.upstream->succeed();
  CHECK(error_of(f.get_now(req())).code == errc::key_rejected);
  f.clock.jump_wall(1h);  // forward: the 300 s rest is not over
  CHECK(error_of(*f.try_get(req())).code == errc::key_rejected);
  f.clock.jump_wall(-2h);  // back: the rest does not grow either
  f.clock.advance(301s);
  CHECK(error_of(f.get_now(req())).code == errc::upstream_unavailable);
  CHECK(f.upstream->calls == 2);
  // The backoff after it (at most 1 s, full jitter) is on the same clock.
  f.clock.jump_wall(-1h);
  f.clock.advance(1001ms);
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(f.upstream->calls == 3);
}

TEST_CASE("a new key ends the rest at once") {
  fixture f;
  f.upstream->fail(errc::key_rejected);
  f.upstream->succeed();
  f.get_now(req());
  f.service.set_orgs(one_org("key-2"));
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(f.upstream->keys.back() == "key-2");
}

TEST_CASE("transient failures back off; the cached token is served meanwhile, fresh=1 too") {
  fixture f;
  f.upstream->lifetime = 600s;
  f.upstream->succeed();
  f.get_now(req());
  f.clock.advance(400s);  // refresh due
  f.upstream->fail(errc::upstream_unavailable);
  f.try_get(req());
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
  // Backing off: still the cached token, no new call.
  for (int i = 0; i < 10; ++i) {
    CHECK(answer_of(*f.try_get(req())).token->access_token == "token-1");
  }
  // Forced refreshes may not go upstream now either: the cached token still
  // meets their min_ttl, so they get it rather than the error.
  for (int i = 0; i < 5; ++i) {
    const auto forced = f.try_get(req(60s, true));
    REQUIRE(forced.has_value());
    CHECK(answer_of(*forced).token->access_token == "token-1");
    CHECK_FALSE(answer_of(*forced).from_exchange);
  }
  f.pump();
  CHECK(f.upstream->calls == 2);
  CHECK(f.service.view().front().state == "backoff");
  // A caller the cached token cannot satisfy gets the error at once, with Retry-After.
  const auto refused = f.try_get(req(250s));
  REQUIRE(refused.has_value());
  CHECK(error_of(*refused).code == errc::upstream_unavailable);
  REQUIRE(error_of(*refused).retry_after.has_value());
  CHECK(*error_of(*refused).retry_after >= 1s);
}

TEST_CASE("a cold failure answers 503 material: code and Retry-After") {
  fixture f;
  f.upstream->fail(errc::upstream_unavailable);
  const auto outcome = f.get_now(req());
  const auto& error = error_of(outcome);
  CHECK(error.code == errc::upstream_unavailable);
  CHECK(error.message.find("organization acme") != std::string::npos);
  REQUIRE(error.retry_after.has_value());
  CHECK(*error.retry_after <= 1s);
}

TEST_CASE("429 with Retry-After stops every exchange with that server for that long") {
  fixture f;
  f.upstream->fail(errc::rate_limited, 4s);
  f.upstream->succeed();
  CHECK(error_of(f.get_now(req())).code == errc::rate_limited);
  f.clock.advance(3s);
  const auto blocked = f.try_get(req());
  REQUIRE(blocked.has_value());
  CHECK(error_of(*blocked).code == errc::rate_limited);
  CHECK(error_of(*blocked).retry_after == 1s);
  CHECK(f.upstream->calls == 1);
  f.clock.advance(1s);
  CHECK(answer_of(f.get_now(req())).from_exchange);
}

TEST_CASE("max_exchanges_per_minute is enforced locally") {
  fixture f;
  f.service.set_options({900s, 300s, 2, 100});
  f.upstream->succeed(3);
  f.get_now(req(60s, false, "00000000-0000-4000-8000-000000000001"));
  f.get_now(req(60s, false, "00000000-0000-4000-8000-000000000002"));
  const auto third = f.try_get(req(60s, false, "00000000-0000-4000-8000-000000000003"));
  REQUIRE(third.has_value());
  CHECK(error_of(*third).code == errc::rate_limited);
  CHECK(f.upstream->calls == 2);
  f.clock.advance(61s);
  CHECK(
      answer_of(f.get_now(req(60s, false, "00000000-0000-4000-8000-000000000003"))).from_exchange);
}

namespace {

// acme and beta, two organizations with their own keys on the same auth server.
org_table two_orgs(const std::string& acme_key = "key-1",
                   const std::string& beta_key = "key-beta") {
  auto table = one_org(acme_key);
  auto beta = std::make_shared<org_settings>(*table["acme"]);
  beta->name = "beta";
  beta->key = std::make_shared<const platform::secure_buffer>(beta_key);
  table.emplace("beta", beta);
  return table;
}

// `table` with `name`'s settings changed by `change` (a copy: the service keeps the old ones).
org_table changed(org_table table, const std::string& name,
                  const std::function<void(org_settings&)>& change) {
  auto copy = std::make_shared<org_settings>(*table.at(name));
  change(*copy);
  table[name] = std::move(copy);
  return table;
}

std::string guid(int n) {
  char text[40];
  std::snprintf(text, sizeof text, "9b2f6d1e-0000-4000-8000-%012d", n);
  return text;
}

}  // namespace

TEST_CASE("max_exchanges_per_minute is each organization's own") {
  fixture f;
  f.service.set_orgs(two_orgs());
  f.service.set_options({900s, 300s, 2, 100});
  // acme's callers spend acme's budget on sub-organizations the server rejects.
  f.upstream->fail(errc::key_rejected);
  f.upstream->fail(errc::key_rejected);
  CHECK(error_of(f.get_now(req(60s, false, guid(1)))).code == errc::key_rejected);
  CHECK(error_of(f.get_now(req(60s, false, guid(2)))).code == errc::key_rejected);
  const auto third = f.try_get(req(60s, false, guid(3)));
  REQUIRE(third.has_value());
  CHECK(error_of(*third).code == errc::rate_limited);
  CHECK(error_of(*third).message.find("organization acme") != std::string::npos);
  // beta's budget is untouched.
  f.upstream->succeed();
  const auto beta = f.get_now({"beta", "", 60s, false});
  CHECK(answer_of(beta).from_exchange);
  CHECK(f.upstream->keys.back() == "key-beta");
  CHECK(f.upstream->calls == 3);
}

TEST_CASE("a 429 still stops every organization on that auth server") {
  fixture f;
  f.service.set_orgs(two_orgs());
  f.upstream->fail(errc::rate_limited, 30s);
  CHECK(error_of(f.get_now(req())).code == errc::rate_limited);
  const auto beta = f.try_get({"beta", "", 60s, false});
  REQUIRE(beta.has_value());
  CHECK(error_of(*beta).code == errc::rate_limited);
  CHECK(error_of(*beta).retry_after == 30s);
  CHECK(f.upstream->calls == 1);
}

TEST_CASE("the budget survives a change of the organization's key") {
  fixture f;
  f.service.set_options({900s, 300s, 1, 100});
  f.upstream->succeed();
  f.get_now(req());
  f.service.set_orgs(one_org("key-2"));
  const auto again = f.try_get(req());
  REQUIRE(again.has_value());
  CHECK(error_of(*again).code == errc::rate_limited);
}

TEST_CASE("a cache key with no token is forgotten once its rest ends, not before") {
  fixture f;
  f.service.set_options({900s, 300s, 1000, 3});
  f.upstream->succeed();
  f.get_now(req());  // the root: a cached token, never forgotten
  f.upstream->fail(errc::key_rejected);
  f.upstream->fail(errc::key_rejected);
  CHECK(error_of(f.get_now(req(60s, false, guid(1)))).code == errc::key_rejected);
  CHECK(error_of(f.get_now(req(60s, false, guid(2)))).code == errc::key_rejected);

  // Resting: the rejected keys still count, and still answer at once.
  const auto full = f.try_get(req(60s, false, guid(3)));
  REQUIRE(full.has_value());
  CHECK(error_of(*full).code == errc::bad_request);
  f.clock.advance(299s);
  CHECK(error_of(*f.try_get(req(60s, false, guid(1)))).code == errc::key_rejected);
  CHECK(error_of(*f.try_get(req(60s, false, guid(3)))).code == errc::bad_request);
  CHECK(f.upstream->calls == 3);

  // Rested: forgotten, so a new sub-organization fits and the root stays cached.
  f.clock.advance(2s);
  f.upstream->succeed();
  CHECK(answer_of(f.get_now(req(60s, false, guid(3)))).from_exchange);
  CHECK(f.service.cached_tokens() == 2);
  CHECK(answer_of(*f.try_get(req())).token->access_token == "token-1");
}

TEST_CASE("a cache key whose backoff ended is forgotten too") {
  fixture f;
  f.service.set_options({900s, 300s, 1000, 1});
  f.upstream->fail(errc::upstream_unavailable);
  CHECK(error_of(f.get_now(req(60s, false, guid(1)))).code == errc::upstream_unavailable);
  CHECK(error_of(*f.try_get(req(60s, false, guid(2)))).code == errc::bad_request);
  f.clock.advance(2s);  // the first backoff is at most 1 s
  f.upstream->succeed();
  CHECK(answer_of(f.get_now(req(60s, false, guid(2)))).from_exchange);
}

TEST_CASE("rejected random sub-organizations never fill the 100 cache keys for good") {
  fixture f;
  f.service.set_options({900s, 300s, 1000, 100});
  for (int i = 0; i < 100; ++i) {
    f.upstream->fail(errc::key_rejected);
    CHECK(error_of(f.get_now(req(60s, false, guid(i)))).code == errc::key_rejected);
  }
  CHECK(error_of(*f.try_get(req(60s, false, guid(100)))).code == errc::bad_request);
  CHECK(error_of(*f.try_get(req())).code == errc::bad_request);
  f.clock.advance(301s);
  f.upstream->succeed();
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(f.upstream->calls == 101);
}

TEST_CASE("endpoint_not_found holds until reload; auto falls back to v1") {
  SUBCASE("explicit v3") {
    fixture f;
    f.upstream->fail(errc::endpoint_not_found);
    CHECK(error_of(f.get_now(req())).code == errc::endpoint_not_found);
    f.clock.advance(1h);
    CHECK(error_of(*f.try_get(req())).code == errc::endpoint_not_found);
    CHECK(f.upstream->calls == 1);
    f.service.set_orgs(one_org(), /*reload=*/true);
    f.upstream->succeed();
    CHECK(answer_of(f.get_now(req())).from_exchange);
    CHECK(f.upstream->calls == 2);
  }
  SUBCASE("auto") {
    fixture f;
    f.service.set_orgs(one_org("key-1", upstream::api_version::automatic));
    f.upstream->fail(errc::endpoint_not_found);
    f.upstream->succeed(2);
    std::optional<token_outcome> out;
    f.get(req(), out);
    f.pump();
    f.upstream->release();
    f.pump();
    f.upstream->release();
    f.pump();
    REQUIRE(out.has_value());
    CHECK(answer_of(*out).from_exchange);
    REQUIRE(f.upstream->versions.size() == 2);
    CHECK(f.upstream->versions[0] == upstream::api_version::v3);
    CHECK(f.upstream->versions[1] == upstream::api_version::v1);
    // Remembered: the next exchange goes straight to v1.
    f.get_now(req(60s, false, ""));
    f.clock.advance(20s);
    f.get_now(req(60s, true));
    CHECK(f.upstream->versions.back() == upstream::api_version::v1);
  }
}

TEST_CASE("callers are told the rest that is left, not what the auth server said") {
  fixture f;
  f.upstream->fail(errc::key_rejected, 7s);  // a Retry-After on the 401: not the daemon's wait
  CHECK(error_of(f.get_now(req())).retry_after == 300s);
  f.clock.advance(100s);
  CHECK(error_of(*f.try_get(req())).retry_after == 200s);
  f.clock.advance(199500ms);
  CHECK(error_of(*f.try_get(req())).retry_after == 1s);  // rounded up, never 0

  // A sub-organization's rest, the same way.
  const auto sub = req(60s, false, guid(1));
  f.upstream->fail(errc::key_rejected, 7s);
  f.clock.advance(1s);
  CHECK(error_of(f.get_now(sub)).retry_after == 300s);
  f.clock.advance(30s);
  CHECK(error_of(*f.try_get(sub)).retry_after == 270s);
}

TEST_CASE("a rejected sub-organization rests only that cache key; a reload ends the rest") {
  fixture f;
  const auto rejected = req(60s, false, guid(1));
  f.upstream->fail(errc::key_rejected);
  CHECK(error_of(f.get_now(rejected)).code == errc::key_rejected);
  CHECK(error_now(f, rejected) == errc::key_rejected);
  CHECK(f.upstream->calls == 1);

  // The root and another sub-organization exchange as usual.
  f.upstream->succeed(2);
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(answer_of(f.get_now(req(60s, false, guid(2)))).from_exchange);
  CHECK(f.upstream->calls == 3);
  CHECK(state_of(f.service, "acme") == "ok");

  // The same organizations handed again without a reload (as when another
  // organization's key changes): the rest goes on.
  f.service.set_orgs(one_org());
  CHECK(error_now(f, rejected) == errc::key_rejected);
  CHECK(f.upstream->calls == 3);

  // A reload ends it; the tokens of the unchanged organization stay.
  f.service.set_orgs(one_org(), /*reload=*/true);
  f.upstream->succeed();
  CHECK(answer_of(f.get_now(rejected)).from_exchange);
  CHECK(f.upstream->calls == 4);
  CHECK(f.upstream->sub_orgs.back() == guid(1));
  CHECK(f.service.cached_tokens() == 3);
}

TEST_CASE("a rejected root key rests its sub-organizations too, until a reload") {
  fixture f;
  f.upstream->fail(errc::key_rejected);
  CHECK(error_of(f.get_now(req())).code == errc::key_rejected);
  for (int sub = 1; sub <= 3; ++sub) {
    const auto outcome = f.try_get(req(60s, false, guid(sub)));
    REQUIRE(outcome.has_value());
    CHECK(error_of(*outcome).code == errc::key_rejected);
    CHECK(error_of(*outcome).message.find("organization acme") != std::string::npos);
  }
  CHECK(f.upstream->calls == 1);
  CHECK(state_of(f.service, "acme") == "rejected");

  f.clock.advance(299s);
  f.service.set_orgs(one_org());  // not a reload
  CHECK(error_now(f, req(60s, false, guid(1))) == errc::key_rejected);
  CHECK(f.upstream->calls == 1);

  f.service.set_orgs(one_org(), /*reload=*/true);
  CHECK(state_of(f.service, "acme") == "ok");
  f.upstream->succeed(2);
  CHECK(answer_of(f.get_now(req(60s, false, guid(1)))).from_exchange);
  CHECK(answer_of(f.get_now(req())).from_exchange);
  CHECK(f.upstream->calls == 3);
}

TEST_CASE("a root rejection rests on when sub-organization exchanges land after it") {
  for (const bool success_last : {false, true}) {
    CAPTURE(success_last);
    fixture f;
    // The root's exchange and two sub-organizations' are in flight; the root's
    // lands first, rejected, then a success and a transient failure, in either order.
    const auto ok_sub = req(60s, false, guid(success_last ? 2 : 1));
    const auto failed_sub = req(60s, false, guid(success_last ? 1 : 2));
    f.upstream->fail(errc::key_rejected);
    f.upstream->succeed();
    f.upstream->fail(errc::upstream_unavailable);
    if (success_last) std::swap(f.upstream->script[1], f.upstream->script[2]);
    std::map<std::string, std::optional<token_outcome>> outcomes;
    f.get(req(), outcomes[""]);
    f.get(req(60s, false, guid(1)), outcomes[guid(1)]);
    f.get(req(60s, false, guid(2)), outcomes[guid(2)]);
    f.pump();
    REQUIRE(f.upstream->calls == 3);
    f.upstream->release();
    f.pump();
    for (const auto& [sub, outcome] : outcomes) REQUIRE(outcome.has_value());
    CHECK(error_of(*outcomes[""]).code == errc::key_rejected);
    CHECK(answer_of(*outcomes[ok_sub.sub_org]).from_exchange);
    CHECK(error_of(*outcomes[failed_sub.sub_org]).code == errc::upstream_unavailable);

    // Neither the success nor the transient failure ends or rewords the rest.
    const auto again = f.try_get(req());
    REQUIRE(again.has_value());
    CHECK(error_of(*again).code == errc::key_rejected);
    CHECK(error_of(*again).message.find("scripted key_rejected") != std::string::npos);
    CHECK(error_now(f, req(60s, false, guid(3))) == errc::key_rejected);
    CHECK(state_of(f.service, "acme") == "rejected");
    CHECK(f.upstream->calls == 3);
    f.clock.advance(301s);
    f.upstream->succeed();
    CHECK(answer_of(f.get_now(req())).from_exchange);
  }
}

TEST_CASE(
    "endpoint_not_found and upstream_tls hold until a reload or the organization's own change") {
  for (const auto code : {errc::endpoint_not_found, errc::upstream_tls}) {
    CAPTURE(code_name(code));
    fixture f;
    f.service.set_orgs(two_orgs());
    int calls = 0;
    // acme's next exchange fails with `code`, which then holds.
    const auto hold = [&] {
      f.service.evict("acme");
      f.upstream->fail(code);
      CHECK(error_of(f.get_now(req())).code == code);
      CHECK(f.upstream->calls == ++calls);
      f.clock.advance(1h);
      CHECK(error_now(f, req()) == code);
      CHECK(state_of(f.service, "acme") == "error");
    };
    // acme's next request exchanges again, and succeeds.
    const auto ended = [&] {
      CHECK(state_of(f.service, "acme") == "ok");
      f.upstream->succeed();
      CHECK(answer_of(f.get_now(req())).from_exchange);
      CHECK(f.upstream->calls == ++calls);
    };

    hold();
    // Another organization's key changes (no reload): acme still holds, beta is served.
    f.service.set_orgs(two_orgs("key-1", "key-beta-2"));
    CHECK(error_now(f, req()) == code);
    CHECK(state_of(f.service, "acme") == "error");
    CHECK(f.upstream->calls == calls);
    f.upstream->succeed();
    CHECK(answer_of(f.get_now({"beta", "", 60s, false})).from_exchange);
    ++calls;

    // A reload ends it.
    f.service.set_orgs(two_orgs("key-1", "key-beta-2"), /*reload=*/true);
    ended();

    // A change of acme's own key ends it.
    hold();
    f.service.set_orgs(two_orgs("key-2", "key-beta-2"));
    ended();
    CHECK(f.upstream->keys.back() == "key-2");

    // A change of acme's own settings (its auth_url) ends it.
    hold();
    f.service.set_orgs(changed(two_orgs("key-2", "key-beta-2"), "acme", [](org_settings& acme) {
      acme.auth_url = "https://auth2.example";
    }));
    ended();
  }
}

TEST_CASE("sub-organizations are cached apart and limited in number") {
  fixture f;
  f.upstream->succeed(2);
  const std::string sub = "9b2f6d1e-0000-4000-8000-000000000001";
  CHECK(answer_of(f.get_now(req())).token->access_token == "token-1");
  CHECK(answer_of(f.get_now(req(60s, false, sub))).token->access_token == "token-2");
  CHECK(f.upstream->sub_orgs.back() == sub);
  CHECK(f.service.cached_tokens() == 2);

  f.service.set_options({900s, 300s, 1000, 2});
  const auto over = f.try_get(req(60s, false, "9b2f6d1e-0000-4000-8000-000000000002"));
  REQUIRE(over.has_value());
  CHECK(error_of(*over).code == errc::bad_request);
}

TEST_CASE("reload keeps tokens of unchanged organizations and drops changed ones") {
  fixture f;
  f.upstream->succeed(2);
  f.get_now(req());
  f.service.set_orgs(one_org("key-1"));
  CHECK(f.try_get(req()).has_value());
  f.service.set_orgs(one_org("key-2"));
  CHECK_FALSE(f.try_get(req()).has_value());
}

TEST_CASE("an exchange started with a replaced key is not cached") {
  fixture f;
  f.upstream->succeed(2);
  std::optional<token_outcome> out;
  f.get(req(), out);
  f.pump();
  f.service.set_orgs(one_org("key-2"));
  f.upstream->release();
  f.pump();
  REQUIRE(out.has_value());
  CHECK(f.service.cached_tokens() == 0);
}

TEST_CASE("unknown organizations and missing keys are told apart") {
  fixture f;
  token_request other{"other", "", 60s, false};
  CHECK(error_of(*f.try_get(other)).code == errc::unknown_org);
  auto table = one_org();
  auto keyless = std::make_shared<org_settings>(*table["acme"]);
  keyless->key = nullptr;
  keyless->key_problem = "key file is accessible by others";
  f.service.set_orgs({{"acme", keyless}});
  const auto outcome = f.try_get(req());
  REQUIRE(outcome.has_value());
  const auto& error = error_of(*outcome);
  CHECK(error.code == errc::no_key);
  CHECK(error.message.find("accessible by others") != std::string::npos);
}

TEST_CASE("evict drops tokens") {
  fixture f;
  f.upstream->succeed();
  f.get_now(req());
  CHECK(f.service.evict("acme") == 1);
  CHECK(f.service.cached_tokens() == 0);
  CHECK(f.service.evict("") == 0);
}

TEST_CASE("fingerprints are 8 hex digits of SHA-256") {
  CHECK(fingerprint("abc") == "ba7816bf");
  CHECK(fingerprint("").size() == 8);
}

TEST_CASE("a miss is counted once and a hit once, however the miss is answered") {
  fixture f;
  f.upstream->succeed(2);
  f.get_now(req());
  CHECK(f.service.stats().cache_misses == 1);
  CHECK(f.service.stats().cache_hits == 0);
  f.try_get(req());
  CHECK(f.service.stats().cache_misses == 1);
  CHECK(f.service.stats().cache_hits == 1);

  // Three callers join one exchange: three misses, one exchange.
  const std::string sub = "9b2f6d1e-0000-4000-8000-000000000001";
  std::vector<std::optional<token_outcome>> outcomes(3);
  for (auto& out : outcomes) f.get(req(60s, false, sub), out);
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
  CHECK(f.service.stats().cache_misses == 4);
  CHECK(f.service.stats().cache_hits == 1);
}

TEST_CASE("an exchanger that throws gives every waiter internal_error at once") {
  using throws = scripted_exchanger::throws;
  for (const auto how : {throws::std_exception, throws::other}) {
    CAPTURE(static_cast<int>(how));
    fixture f;
    f.upstream->throw_next = how;
    std::vector<std::optional<token_outcome>> outcomes(5);
    for (auto& out : outcomes) f.get(req(), out);
    f.pump();
    CHECK(f.upstream->calls == 1);
    f.upstream->release();
    f.pump();  // one turn: every waiter has its answer
    for (const auto& out : outcomes) {
      REQUIRE(out.has_value());
      CHECK(error_of(*out).code == errc::internal_error);
    }
    // The cache key backs off as after any transient failure, then exchanges again.
    CHECK(error_of(*f.try_get(req())).code == errc::internal_error);
    f.clock.advance(2s);
    f.upstream->succeed();
    CHECK(answer_of(f.get_now(req())).from_exchange);
  }
}

TEST_CASE("a failure after the exchange still wakes every waiter, with internal_error") {
  fixture f;
  // The cache writer's listener is called once the token is cached; here it throws.
  f.service.on_change([] { throw std::runtime_error("listener failed"); });
  f.upstream->succeed();
  std::vector<std::optional<token_outcome>> outcomes(3);
  for (auto& out : outcomes) f.get(req(), out);
  f.pump();
  f.upstream->release();
  f.pump();
  for (const auto& out : outcomes) {
    REQUIRE(out.has_value());
    CHECK(error_of(*out).code == errc::internal_error);
    CHECK(error_of(*out).message.find("organization acme") != std::string::npos);
  }
  // The flight is over: the token it cached is served, nothing waits on it.
  f.service.on_change({});
  const auto served = f.try_get(req());
  REQUIRE(served.has_value());
  CHECK(answer_of(*served).token->access_token == "token-1");
  CHECK(f.upstream->calls == 1);
}

// Sinks (SPEC §6): a cache key kept warm with no caller, under the callers' rules.
TEST_CASE("keep_warm exchanges a cold cache key and refreshes it at its refresh point") {
  fixture f;
  f.upstream->lifetime = 600s;
  f.upstream->succeed(2);
  std::vector<std::string> granted;
  f.service.on_token([&](const token_event& event) {
    if (event.what == token_event::kind::granted) granted.push_back(event.token->access_token);
  });
  // Cold: an exchange starts; asked again soon.
  CHECK(f.service.keep_warm("acme", "") == 1s);
  f.pump();
  CHECK(f.upstream->calls == 1);
  CHECK(f.service.keep_warm("acme", "") == 1s);  // in flight: not a second one
  f.pump();
  CHECK(f.upstream->calls == 1);
  f.upstream->release();
  f.pump();
  CHECK(granted == std::vector<std::string>{"token-1"});
  const auto token = f.service.cached("acme", "");
  REQUIRE(token);
  // Held: asked again at its refresh point (or within a minute), no exchange.
  const auto wait = f.service.keep_warm("acme", "");
  CHECK(wait == 60s);
  f.clock.advance(token->refresh_at - f.clock.wall_now() - 30s);
  CHECK(f.service.keep_warm("acme", "") == 30s);
  CHECK(f.upstream->calls == 1);
  // Due: refreshed with no caller, counted as neither hit nor miss.
  f.clock.advance(30s);
  f.service.keep_warm("acme", "");
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
  CHECK(granted == std::vector<std::string>{"token-1", "token-2"});
  CHECK(f.service.cached("acme", "")->access_token == "token-2");
  CHECK(f.service.stats().cache_hits == 0);
  CHECK(f.service.stats().cache_misses == 0);
}

TEST_CASE("keep_warm obeys backoff, rests and the exchange budget") {
  fixture f;
  f.upstream->fail(errc::upstream_unavailable);
  f.service.keep_warm("acme", "");
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 1);
  // Backing off: no new exchange however often it is asked.
  for (int i = 0; i < 10; ++i) CHECK(f.service.keep_warm("acme", "") == 1s);
  f.pump();
  CHECK(f.upstream->calls == 1);
  f.clock.advance(2s);  // the first backoff is at most 1 s
  f.upstream->fail(errc::key_rejected);
  std::vector<token_event::kind> events;
  f.service.on_token([&](const token_event& event) { events.push_back(event.what); });
  f.service.keep_warm("acme", "");
  f.pump();
  f.upstream->release();
  f.pump();
  CHECK(f.upstream->calls == 2);
  CHECK(events == std::vector<token_event::kind>{token_event::kind::org_rejected});
  // Resting: nothing until retry_rejected_after.
  f.service.keep_warm("acme", "");
  f.pump();
  CHECK(f.upstream->calls == 2);
  // No key, no organization: nothing to do, asked again within a minute.
  CHECK(f.service.keep_warm("nobody", "") == 60s);
}

TEST_CASE("a rejected sub-organization token is told apart from the organization's") {
  fixture f;
  f.upstream->fail(errc::key_rejected);
  std::vector<std::pair<token_event::kind, std::string>> events;
  f.service.on_token(
      [&](const token_event& event) { events.emplace_back(event.what, event.sub_org); });
  f.get_now(req(60s, false, "9b2f6d1e-0000-4000-8000-000000000001"));
  REQUIRE(events.size() == 1);
  CHECK(events[0].first == token_event::kind::rejected);
  CHECK(events[0].second == "9b2f6d1e-0000-4000-8000-000000000001");
}

TEST_CASE("render_token_object writes the /v1/token object") {
  cached_token token;
  token.access_token = "a.b.c";
  token.obtained_at = wall_time{} + 1000s;
  token.expires_at = wall_time{} + 4600s;
  render_json_members(token);
  CHECK(
      render_token_object("acme", "", token, 42, false) ==
      R"({"org":"acme","sub_org":null,"expires_in":42,"access_token":"a.b.c","token_type":"Bearer","expires_at":"1970-01-01T01:16:40Z","obtained_at":"1970-01-01T00:16:40Z","source":"cache"})");
  CHECK(render_token_object("acme", "mobile", token, 0, true).find(R"("sub_org":"mobile")") !=
        std::string::npos);
}

TEST_CASE("restore keeps what is cached, and ignores unknown organizations and expired tokens") {
  fixture f;
  const auto now = f.clock.wall_now();
  const auto token = [&](std::string text, wall_time expires_at) {
    return cached_token{std::move(text), now - 60s, expires_at, {}, "00000000", {}, {}};
  };
  f.service.restore("nobody", "", token("stray", now + 1h));
  CHECK(f.service.cached("nobody", "") == nullptr);
  f.service.restore("acme", "", token("expired", now));
  CHECK(f.service.cached("acme", "") == nullptr);
  f.service.restore("acme", "", token("first", now + 1h));
  f.service.restore("acme", "", token("second", now + 2h));
  REQUIRE(f.service.cached("acme", "") != nullptr);
  CHECK(f.service.cached("acme", "")->access_token == "first");
  CHECK(f.service.cached("acme", "9b2f6d1e-0000-4000-8000-000000000001") == nullptr);
  // Served from the cache, as restored: no exchange.
  CHECK(answer_of(*f.try_get(req())).token->access_token == "first");
  CHECK(f.upstream->calls == 0);
}

TEST_CASE("adopt caches a verified token only for the same settings, unexpired, over nothing") {
  fixture f;
  const auto now = f.clock.wall_now();
  const auto tried = *one_org().at("acme");
  const auto token = [&](std::string text, wall_time expires_at) {
    return std::make_shared<const cached_token>(
        cached_token{std::move(text), now, expires_at, now + 30min, "00000000", {}, {}});
  };
  f.service.adopt("nobody", tried, token("stray", now + 1h));
  auto other = tried;
  other.scope = "openid,profile";
  f.service.adopt("acme", other, token("other settings", now + 1h));
  f.service.adopt("acme", tried, token("expired", now));
  CHECK(f.service.cached("acme", "") == nullptr);
  f.service.adopt("acme", tried, token("verified", now + 1h));
  f.service.adopt("acme", tried, token("later", now + 1h));
  REQUIRE(f.service.cached("acme", "") != nullptr);
  CHECK(f.service.cached("acme", "")->access_token == "verified");
}

TEST_CASE("keep_warm has nothing to do for a v1 sub-organization or an organization without key") {
  fixture f;
  auto orgs = one_org("key-1", upstream::api_version::v1);
  f.service.set_orgs(orgs);
  CHECK(f.service.keep_warm("acme", "9b2f6d1e-0000-4000-8000-000000000001") == 60s);
  auto keyless = one_org();
  auto settings = std::make_shared<org_settings>(*keyless.at("acme"));
  settings->key = nullptr;
  f.service.set_orgs({{"acme", settings}});
  CHECK(f.service.keep_warm("acme", "") == 60s);
  f.pump();
  CHECK(f.upstream->calls == 0);
}
