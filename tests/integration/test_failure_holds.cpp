// How long a failure holds (SPEC §3 "Failures are classified"), through the
// real actokend and the stand-in auth server: a rejected sub-organization
// rests only its cache key, a rejected root key its whole organization, each
// until a reload; endpoint_not_found and upstream_tls hold until a reload or a
// change of that organization's own key or settings, never another
// organization's, with /v1/orgs showing `state: "error"` meanwhile (issue 15).
#include "tests/integration/integration_test.hpp"
#include "tests/integration/tls_test_server.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <utility>

namespace {

constexpr auto beta_org_id = "6f1c2a8e-0000-4000-8000-000000000002";
constexpr auto sub_a = "9b2f6d1e-0000-4000-8000-0000000000a1";
constexpr auto sub_b = "9b2f6d1e-0000-4000-8000-0000000000b2";

http_reply token(const daemon_world& w, const std::string& org, const std::string& sub = "") {
  return w.daemon->get("/v1/token?org=" + org + (sub.empty() ? "" : "&sub_org=" + sub));
}

// The error code of a failed answer ("" for a success), with its status checked.
std::string error_code(const http_reply& reply) {
  if (reply.status == 200) return "";
  CHECK(reply.status == 502);
  return reply.json().value("error", "?");
}

// PUT /v1/orgs/{org}/key, kept in memory; `extra` adds auth_url or api_version.
void put_key(const daemon_world& w, const std::string& org, const std::string& key,
             json extra = json::object()) {
  extra["key"] = key;
  extra["persist"] = false;
  const auto reply = unix_request(w.socket(), "PUT", "/v1/orgs/" + org + "/key", extra.dump());
  REQUIRE(reply.status == 200);
}

// A world with a second organization, beta, whose key the stand-in knows.
struct beta_world : daemon_world {
  beta_world() : daemon_world({.start_daemon = false}) {
    dir.write("keys/beta.key", "beta-key-1\n");
    upstream.add_account("beta-key-1", beta_org_id);
    start();
  }
};

}  // namespace

TEST_CASE("a rejected sub-organization rests only that cache key; a reload ends the rest") {
  daemon_world w;
  w.upstream.add_account(w.key, acme_org_id, {sub_a});  // sub_b: 403, key_rejected
  CHECK(error_code(token(w, "acme", sub_b)) == "key_rejected");
  for (int i = 0; i < 5; ++i) CHECK(error_code(token(w, "acme", sub_b)) == "key_rejected");
  CHECK(w.upstream.exchanges() == 1);

  // The root and the other sub-organization are not resting.
  CHECK(token(w, "acme").json()["source"] == "exchange");
  CHECK(token(w, "acme", sub_a).json()["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 3);
  CHECK(w.org_view("acme")["state"] == "ok");

  // The server now takes sub_b, but the rest holds until the operator reloads.
  w.upstream.add_account(w.key, acme_org_id, {sub_a, sub_b});
  CHECK(error_code(token(w, "acme", sub_b)) == "key_rejected");
  CHECK(w.upstream.exchanges() == 3);
  w.daemon->reload();
  const auto after = token(w, "acme", sub_b);
  CHECK(after.status == 200);
  CHECK(after.json()["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 4);
  // The reload kept the tokens of the unchanged organization.
  CHECK(token(w, "acme").json()["source"] == "cache");
  CHECK(token(w, "acme", sub_a).json()["source"] == "cache");
}

TEST_CASE("a rejected root key rests its sub-organizations too; a reload ends the rest") {
  daemon_world w({.start_daemon = false});
  w.dir.write("keys/beta.key", "beta-key-1\n");  // unknown upstream: 401, key_rejected
  w.start();
  CHECK(error_code(token(w, "beta")) == "key_rejected");
  CHECK(w.upstream.exchanges() == 1);
  for (const auto* sub : {sub_a, sub_b}) {
    const auto reply = token(w, "beta", sub);
    CHECK(error_code(reply) == "key_rejected");
    CHECK(reply.json()["message"].get<std::string>().find("beta") != std::string::npos);
  }
  CHECK(w.upstream.exchanges() == 1);
  CHECK(w.org_view("beta")["state"] == "rejected");
  // acme is not affected.
  CHECK(token(w, "acme").status == 200);
  CHECK(w.upstream.exchanges() == 2);

  // The server now knows the key; the rest holds until the operator reloads.
  w.upstream.add_account("beta-key-1", beta_org_id, {sub_a});
  CHECK(error_code(token(w, "beta", sub_a)) == "key_rejected");
  CHECK(w.upstream.exchanges() == 2);
  w.daemon->reload();
  CHECK(w.org_view("beta")["state"] == "ok");
  CHECK(token(w, "beta", sub_a).json()["source"] == "exchange");
  CHECK(token(w, "beta").json()["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 4);
}

TEST_CASE("endpoint_not_found holds until a reload or acme's own change, not beta's") {
  beta_world w;
  put_key(w, "acme", w.key, {{"api_version", "v2"}});
  const auto v2_down = [&](bool down) {
    w.tune([down](stand_in::behaviour& b) {
      b.disabled_versions.clear();
      if (down) b.disabled_versions.insert("v2");
    });
  };
  std::size_t exchanges = 0;
  // acme's next exchange meets a 404, then the server heals: only the hold stops acme now.
  const auto hold = [&] {
    v2_down(true);
    CHECK(error_code(token(w, "acme")) == "endpoint_not_found");
    CHECK(w.upstream.exchanges() == ++exchanges);
    v2_down(false);
    CHECK(error_code(token(w, "acme")) == "endpoint_not_found");
    CHECK(w.upstream.exchanges() == exchanges);
    CHECK(w.org_view("acme")["state"] == "error");
    CHECK(w.org_view("acme")["last_error"]["code"] == "endpoint_not_found");
  };
  // beta's key changes: acme holds on.
  int beta_keys = 1;
  const auto beta_key_changes = [&] {
    const auto key = "beta-key-" + std::to_string(++beta_keys);
    w.upstream.add_account(key, beta_org_id);
    put_key(w, "beta", key);
    CHECK(error_code(token(w, "acme")) == "endpoint_not_found");
    CHECK(w.org_view("acme")["state"] == "error");
    CHECK(w.upstream.exchanges() == exchanges);
    CHECK(token(w, "beta").status == 200);
    ++exchanges;
  };
  // The hold is over: acme exchanges again, and gets a token.
  const auto ended = [&] {
    CHECK(w.org_view("acme")["state"] == "ok");
    const auto reply = token(w, "acme");
    CHECK(reply.status == 200);
    CHECK(reply.json()["source"] == "exchange");
    CHECK(w.upstream.exchanges() == ++exchanges);
  };

  SUBCASE("a reload ends it") {
    hold();
    beta_key_changes();
    w.daemon->reload();
    ended();
  }
  SUBCASE("a change of acme's key ends it") {
    hold();
    beta_key_changes();
    const std::string key = "acme-key-2";
    w.upstream.add_account(key, acme_org_id);
    put_key(w, "acme", key, {{"api_version", "v2"}});
    ended();
    CHECK(w.upstream.requests().back().form.at("pat") == key);
  }
  SUBCASE("a change of acme's settings ends it") {
    hold();
    beta_key_changes();
    put_key(w, "acme", w.key, {{"api_version", "v3"}});
    ended();
    CHECK(w.upstream.requests().back().path == "/auth/v3/token");
  }
}

TEST_CASE("upstream_tls holds until a reload or acme's own change, not beta's") {
  // acme's auth server shows a certificate from a CA the daemon does not trust.
  tls_server_options options;
  options.pki = stand_in::generate_pki();
  tls_test_server untrusted(std::move(options));
  beta_world w;
  put_key(w, "acme", w.key, {{"auth_url", untrusted.url()}});
  std::size_t attempts = 0;
  // Every attempt is one connection to the untrusted server; a hold makes none.
  const auto attempt = [&] {
    CHECK(error_code(token(w, "acme")) == "upstream_tls");
    CHECK(untrusted.connections() == ++attempts);
    CHECK(error_code(token(w, "acme")) == "upstream_tls");
    CHECK(untrusted.connections() == attempts);
    CHECK(w.org_view("acme")["state"] == "error");
    CHECK(w.org_view("acme")["last_error"]["code"] == "upstream_tls");
  };

  attempt();
  // beta's key changes: acme holds on, and beta is served.
  w.upstream.add_account("beta-key-2", beta_org_id);
  put_key(w, "beta", "beta-key-2");
  CHECK(error_code(token(w, "acme")) == "upstream_tls");
  CHECK(untrusted.connections() == attempts);
  CHECK(w.org_view("acme")["state"] == "error");
  CHECK(token(w, "beta").status == 200);

  // A reload ends it: acme tries again.
  w.daemon->reload();
  CHECK(w.org_view("acme")["state"] == "ok");
  attempt();

  // A change of acme's key ends it.
  put_key(w, "acme", "acme-key-2", {{"auth_url", untrusted.url()}});
  CHECK(w.org_view("acme")["state"] == "ok");
  attempt();

  // A change of acme's settings ends it: back to the trusted stand-in.
  put_key(w, "acme", w.key, {{"auth_url", w.upstream.url()}});
  CHECK(token(w, "acme").json()["source"] == "exchange");
  CHECK(untrusted.connections() == attempts);
  CHECK(untrusted.received().empty());
}
