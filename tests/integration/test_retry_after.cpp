// Retry-After from the auth server, through the daemon (SPEC §3): an
// HTTP-date on a 429, a 429 without one, and a 503 asking for longer than
// the backoff would wait. Windows come from the Retry-After values sent and
// the backoff's first step (1 s, daemon/tokens/refresh_policy), with margins.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

using steady = std::chrono::steady_clock;

namespace {

// The backoff's first step: a first failure waits at most this long.
constexpr auto first_backoff = 1s;

int retry_after(const http_reply& reply) {
  const auto found = reply.headers.find("retry-after");
  return found == reply.headers.end() ? -1 : std::stoi(found->second);
}

// A second organization on the same auth server.
void add_beta(daemon_world& w) {
  const auto key = awkward_key();
  w.upstream.add_account(key, "6f1c2a8e-0000-4000-8000-000000000002");
  w.dir.write("keys/beta.key", key + "\n");
  w.daemon->reload();
}

}  // namespace

TEST_CASE("429 with Retry-After as an HTTP-date: every organization waits until that time") {
  daemon_world w;
  add_beta(w);
  // An IMF-fixdate 4 s ahead (whole seconds: 3 to 4 s from now).
  const auto until = std::chrono::system_clock::now() + 4s;
  w.tune([&](auto& b) {
    b.forced_status = 429;
    b.retry_after = stand_in::format_http_date(until);
  });
  const auto reply = w.daemon->get("/v1/token?org=acme");
  const auto answered = steady::now();
  CHECK(reply.status == 503);
  CHECK(reply.json()["error"] == "rate_limited");
  // To the client, whole seconds (never the date).
  CHECK(retry_after(reply) >= 2);
  CHECK(retry_after(reply) <= 4);
  REQUIRE(w.upstream.exchanges() == 1);

  for (const auto* org : {"beta", "acme"}) {
    const auto again = w.daemon->get(std::string("/v1/token?org=") + org);
    CHECK(again.json()["error"] == "rate_limited");
    CHECK(retry_after(again) >= 1);
    CHECK(retry_after(again) <= 4);
  }
  // Past the backoff's first step, still before the date: no upstream call yet.
  std::this_thread::sleep_until(answered + first_backoff + 500ms);
  if (std::chrono::system_clock::now() < until - 1s) {
    CHECK(w.daemon->get("/v1/token?org=beta").json()["error"] == "rate_limited");
  }
  CHECK(w.upstream.exchanges() == 1);

  w.tune([](auto& b) {
    b.forced_status = 0;
    b.retry_after.clear();
  });
  std::this_thread::sleep_until(answered + 4500ms);
  const auto later = w.daemon->get("/v1/token?org=beta");
  CHECK(later.status == 200);
  CHECK(w.upstream.exchanges() == 2);
}

TEST_CASE("429 without Retry-After: rate_limited with a Retry-After of the backoff's first step") {
  stand_in::behaviour limited;
  limited.forced_status = 429;
  daemon_world w({.behaviour = limited});
  const auto reply = w.daemon->get("/v1/token?org=acme");
  const auto answered = steady::now();
  CHECK(reply.status == 503);
  CHECK(reply.json()["error"] == "rate_limited");
  CHECK(reply.json()["message"].get<std::string>().find("acme") != std::string::npos);
  CHECK(retry_after(reply) == 1);
  CHECK(w.upstream.exchanges() == 1);
  CHECK(w.cli({"token", "acme"}).exit_code == 7);

  // Once that step has passed, the daemon asks again.
  w.tune([](auto& b) { b.forced_status = 0; });
  std::this_thread::sleep_until(answered + first_backoff + 300ms);
  const auto later = w.daemon->get("/v1/token?org=acme");
  CHECK(later.status == 200);
  CHECK(later.json()["source"] == "exchange");
}

TEST_CASE("503 with a Retry-After longer than the backoff: the daemon waits the longer time") {
  stand_in::behaviour down;
  down.forced_status = 503;
  down.retry_after = std::to_string(3);  // (assigning "3" trips g++ 12's -Wrestrict)
  daemon_world w({.behaviour = down});
  const auto reply = w.daemon->get("/v1/token?org=acme");
  const auto answered = steady::now();
  CHECK(reply.status == 503);
  CHECK(reply.json()["error"] == "upstream_unavailable");
  CHECK(retry_after(reply) == 3);
  REQUIRE(w.upstream.exchanges() == 1);

  // Past the most the first backoff step could wait: still resting, at once.
  w.tune([](auto& b) {
    b.forced_status = 0;
    b.retry_after.clear();
  });
  std::this_thread::sleep_until(answered + first_backoff + 500ms);
  const auto resting = w.daemon->get("/v1/token?org=acme");
  if (steady::now() < answered + 2800ms) {
    CHECK(resting.status == 503);
    CHECK(resting.json()["error"] == "upstream_unavailable");
    CHECK(retry_after(resting) >= 1);
    CHECK(retry_after(resting) <= 2);
    CHECK(w.upstream.exchanges() == 1);
  }

  std::this_thread::sleep_until(answered + 3500ms);
  const auto later = w.daemon->get("/v1/token?org=acme");
  CHECK(later.status == 200);
  CHECK(w.upstream.exchanges() == 2);
}
