// The socket API's edges (SPEC §3, §4), over HTTP on the real socket:
// `fresh=1` against a young token and an old one, malformed queries, the
// validation of a key PUT's body, removing a key that is not there, the limit
// of 100 cache keys per organization at its real size, and a JWT whose
// payload uses base64url's own characters ('-' and '_').
#include "tests/integration/integration_test.hpp"
#include "tests/integration/tls_test_server.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/jwt.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

// A token is young for min(10 s, half its lifetime) after it was obtained (SPEC §3).
constexpr auto young_for = 10s;  // of a 30 s token

std::string error_of(const http_reply& reply) {
  const auto body = reply.json();
  return body.is_object() && body.contains("error") ? body["error"].get<std::string>() : "";
}

// A sub-organization id: 8-4-4-4-12 hex digits, numbered.
std::string guid(unsigned n) {
  char text[40];
  std::snprintf(text, sizeof text, "9b2f6d1e-0000-4000-8000-%012x", n);
  return text;
}

}  // namespace

TEST_CASE("fresh=1: a young token is served again; a token over 10 s old is exchanged anew") {
  daemon_world w({.config = {{"min_ttl", 1}}});
  w.tune([](auto& b) { b.token_lifetime = 30s; });  // young for min(10 s, 15 s)
  const auto first = w.daemon->get("/v1/token?org=acme").json();
  const auto obtained = std::chrono::steady_clock::now();
  REQUIRE(first["source"] == "exchange");

  const auto young = w.daemon->get("/v1/token?org=acme&fresh=1");
  if (std::chrono::steady_clock::now() - obtained < young_for - 2s) {
    CHECK(young.status == 200);
    CHECK(young.json()["source"] == "cache");
    CHECK(young.json()["access_token"] == first["access_token"]);
    CHECK(w.upstream.exchanges() == 1);
  }
  std::this_thread::sleep_until(obtained + young_for + 500ms);
  const auto old = w.daemon->get("/v1/token?org=acme&fresh=1");
  CHECK(old.status == 200);
  CHECK(old.json()["source"] == "exchange");
  CHECK(old.json()["access_token"] != first["access_token"]);
  CHECK(w.upstream.exchanges() == 2);
  // Without fresh (or with fresh=0), the new token is served from the cache.
  CHECK(w.daemon->get("/v1/token?org=acme&fresh=0").json()["source"] == "cache");
  CHECK(w.upstream.exchanges() == 2);
}

TEST_CASE("a token past half its lifetime is not young: fresh=1 and an unmet min_ttl exchange") {
  // A 4 s token (3 to 4 s, exp being whole seconds) is young for under 2 s.
  daemon_world w({.config = {{"min_ttl", 1}}});
  w.tune([](auto& b) { b.token_lifetime = 4s; });
  const auto first = w.daemon->get("/v1/token?org=acme").json();
  REQUIRE(first["source"] == "exchange");
  std::this_thread::sleep_for(2500ms);
  const auto forced = w.daemon->get("/v1/token?org=acme&fresh=1");
  REQUIRE(forced.status == 200);
  CHECK(forced.json()["source"] == "exchange");
  CHECK(forced.json()["access_token"] != first["access_token"]);
  std::this_thread::sleep_for(2500ms);  // at most 1.5 s left: less than min_ttl=2
  const auto demanding = w.daemon->get("/v1/token?org=acme&min_ttl=2");
  CHECK_MESSAGE(demanding.status == 200, demanding.body);
  CHECK(demanding.json()["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 3);
}

namespace {

// What a caller polling one organization every 100 ms saw.
struct poll_log {
  std::vector<std::string> tokens;  // distinct tokens, in the order first served
  int refreshed_in_background = 0;  // new tokens first seen with "source": "cache"
  int served = 0;                   // 200 answers
  int refused = 0;                  // other answers
  bool any_under_min_ttl = false;   // a 200 with less than min_ttl left
  std::chrono::steady_clock::duration last_served{};  // after the start, of the last 200
};

poll_log poll_tokens(const daemon_world& w, std::chrono::steady_clock::duration how_long,
                     int min_ttl, std::size_t stop_after_tokens = 0) {
  poll_log log;
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + how_long;
  while (std::chrono::steady_clock::now() < until) {
    const auto reply = w.daemon->get("/v1/token?org=acme&min_ttl=" + std::to_string(min_ttl));
    if (reply.status != 200) {
      ++log.refused;
    } else {
      ++log.served;
      log.last_served = std::chrono::steady_clock::now() - start;
      const auto body = reply.json();
      if (body["expires_in"].get<int>() < min_ttl) log.any_under_min_ttl = true;
      const auto token = body["access_token"].get<std::string>();
      if (log.tokens.empty() || log.tokens.back() != token) {
        log.tokens.push_back(token);
        if (log.tokens.size() > 1 && body["source"] == "cache") ++log.refreshed_in_background;
      }
    }
    if (stop_after_tokens > 0 && log.tokens.size() >= stop_after_tokens) break;
    std::this_thread::sleep_for(100ms);
  }
  return log;
}

}  // namespace

TEST_CASE("4, 6 and 8 s tokens are refreshed in the background, never served under min_ttl") {
  for (const auto lifetime : {4s, 6s, 8s}) {
    CAPTURE(lifetime.count());
    daemon_world w({.config = {{"min_ttl", 1}}});
    w.tune([lifetime](auto& b) { b.token_lifetime = lifetime; });
    // Three tokens take about two half-lives; allow two whole lifetimes.
    const auto log = poll_tokens(w, 2 * lifetime, 1, 3);
    CHECK(log.tokens.size() >= 3);
    CHECK(log.refused == 0);
    CHECK_FALSE(log.any_under_min_ttl);
    // Refreshes ran in the background: new tokens reached callers from the cache.
    CHECK(log.refreshed_in_background >= 1);
    // One exchange per token: no storm, however often callers asked.
    CHECK(w.upstream.exchanges() == log.tokens.size());
  }
}

TEST_CASE("while refreshes fail the cached token is served until min_ttl, never after") {
  daemon_world w({.config = {{"min_ttl", 1}}});
  w.tune([](auto& b) { b.token_lifetime = 6s; });
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  w.tune([](auto& b) { b.forced_status = 503; });
  const auto log = poll_tokens(w, 7s, 1);
  CHECK(log.tokens.size() == 1);  // the first token, and nothing else
  // Served past its refresh point (at most 3.3 s) while refreshes failed.
  CHECK(log.last_served >= 3500ms);
  CHECK(log.refused >= 1);  // then refused, once under min_ttl, never served
  CHECK_FALSE(log.any_under_min_ttl);
  CHECK(w.upstream.exchanges() >= 2);  // refreshes were tried
}

TEST_CASE("malformed queries are 400 bad_request, with a sentence, and nothing is exchanged") {
  daemon_world w;
  const std::pair<const char*, const char*> cases[] = {
      {"/v1/token?org=acme&org=acme", "the query string is malformed"},
      {"/v1/token?org=%zz", "the query string is malformed"},
      {"/v1/token?org=acme%", "the query string is malformed"},
      {"/v1/token?=acme", "the query string is malformed"},
      {"/v1/token?org=acme&colour=blue", "unknown query parameter: colour"},
      {"/v1/token?org=acme&min_ttl=-1", "min_ttl must be a whole number from 0 to 86400"},
      {"/v1/token?org=acme&min_ttl=86401", "min_ttl must be a whole number from 0 to 86400"},
      {"/v1/token?org=acme&min_ttl=1e3", "min_ttl must be a whole number from 0 to 86400"},
      {"/v1/token?org=acme&fresh=yes", "fresh must be 1 or 0"},
      {"/v1/token?org=-acme", "invalid organization name"},
      {"/v1/token?org=acme&sub_org=not-a-guid", "no sub-organization not-a-guid in acme"},
      {"/v1/tokens?org=acme&all=1", "unknown query parameter: all"},
      {"/v1/tokens?org=%", "the query string is malformed"},
  };
  for (const auto& item : cases) {
    // Named, not bound: clang 14 cannot capture a structured binding (CAPTURE is a lambda).
    const auto* target = item.first;
    const auto* says = item.second;
    CAPTURE(target);
    const auto method = std::string(target).rfind("/v1/tokens", 0) == 0 ? "DELETE" : "GET";
    const auto reply = unix_request(w.socket(), method, target);
    CHECK(reply.status == 400);
    CHECK(error_of(reply) == "bad_request");
    CHECK_MESSAGE(reply.json()["message"].get<std::string>().find(says) != std::string::npos,
                  reply.body);
    CHECK(reply.headers.at("content-type") == "application/json");
  }
  // min_ttl at its bounds is fine; '+' and %20 decode.
  CHECK(w.daemon->get("/v1/token?org=acme&min_ttl=0").status == 200);
  CHECK(w.daemon->get("/v1/token?org=acme&min_ttl=86400").json()["error"] == "ttl_unsatisfiable");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("a key PUT's body is validated; nothing is stored and the key is never echoed") {
  daemon_world w;
  const std::string key = "ac_pak_" + std::string(30, 'Q');
  const std::pair<std::string, const char*> cases[] = {
      {"", "the body must be a JSON object with a key"},
      {"not json", "the body must be a JSON object with a key"},
      {"[\"" + key + "\"]", "the body must be a JSON object with a key"},
      {"{}", "the body has no key"},
      {R"({"persist": false})", "the body has no key"},
      {R"({"key": 42})", "key must be a string"},
      {R"({"key": ""})", "the key is empty"},
      {R"({"key": "   "})", "the key is empty"},
      {R"({"key": ")" + key + R"(", "colour": "blue"})", "unexpected field: colour"},
      {R"({"key": ")" + key + R"(", ")" + key + R"(": 1})", "unexpected field: (a field name"},
      {R"({"key": ")" + key + R"(", "key": "again"})", "key is given twice"},
      {R"({"key": ")" + key + R"(", "auth_url": "http://auth.example.test"})",
       "auth_url must be an https:// URL"},
      {R"({"key": ")" + key + R"(", "auth_url": 7})", "auth_url must be a string"},
      {R"({"key": ")" + key + R"(", "api_version": "v4"})",
       R"(api_version must be "v1", "v2", "v3" or "auto")"},
      {R"({"key": ")" + key + R"(", "persist": "yes"})", "persist must be true or false"},
      {R"({"key": ")" + key + R"(")", "the body is not valid JSON"},
      {R"({"key": ")" + key + R"("} trailing)", "the body is not valid JSON"},
  };
  for (const auto& item : cases) {
    const auto& body = item.first;
    const auto* says = item.second;
    CAPTURE(body);
    const auto reply = unix_request(w.socket(), "PUT", "/v1/orgs/newco/key", body);
    CHECK(reply.status == 400);
    CHECK(error_of(reply) == "bad_request");
    CHECK_MESSAGE(reply.json()["message"].get<std::string>().find(says) != std::string::npos,
                  reply.body);
    CHECK(reply.json()["message"].get<std::string>().find("newco") != std::string::npos);
    CHECK(reply.body.find(key) == std::string::npos);
  }
  // Over 64 KiB: 413, then the connection is closed.
  const auto huge = R"({"key": ")" + key + std::string(70 * 1024, 'A') + R"("})";
  const auto too_large = unix_request(w.socket(), "PUT", "/v1/orgs/newco/key", huge);
  CHECK(too_large.status == 413);
  CHECK(error_of(too_large) == "payload_too_large");
  CHECK_FALSE(fs::exists(w.dir.path() / "keys" / "newco.key"));
  CHECK(w.org_view("newco").is_null());
  CHECK(w.daemon->log().find(key) == std::string::npos);
  // The control: a valid body creates the organization.
  CHECK(unix_request(w.socket(), "PUT", "/v1/orgs/newco/key", json{{"key", key}}.dump()).status ==
        200);
  CHECK(fs::exists(w.dir.path() / "keys" / "newco.key"));
}

TEST_CASE("removing a key that is not there: unknown_org, or no_key for a keyless organization") {
  daemon_world w({.config = {{"organizations", {{"keyless", json::object()}}}}});
  const auto unknown = unix_request(w.socket(), "DELETE", "/v1/orgs/nosuch/key");
  CHECK(unknown.status == 404);
  CHECK(error_of(unknown) == "unknown_org");
  CHECK(unknown.json()["message"].get<std::string>().find("nosuch") != std::string::npos);

  const auto keyless = unix_request(w.socket(), "DELETE", "/v1/orgs/keyless/key");
  CHECK(keyless.status == 409);
  CHECK(error_of(keyless) == "no_key");
  CHECK(keyless.json()["message"].get<std::string>().find("keyless") != std::string::npos);
  CHECK_FALSE(w.org_view("keyless").is_null());  // still configured

  const auto invalid = unix_request(w.socket(), "DELETE", "/v1/orgs/-bad/key");
  CHECK(invalid.status == 400);
  CHECK(error_of(invalid) == "bad_request");

  // Twice: the second finds nothing left.
  CHECK(unix_request(w.socket(), "DELETE", "/v1/orgs/acme/key").status == 200);
  const auto again = unix_request(w.socket(), "DELETE", "/v1/orgs/acme/key");
  CHECK(again.status == 404);  // its key file made it exist; now it does not
  CHECK(error_of(again) == "unknown_org");
  CHECK(w.cli({"key", "remove", "nosuch"}).exit_code == 5);
}

TEST_CASE("100 cache keys per organization: the 101st is bad_request, at no upstream cost") {
  std::vector<std::string> subs;
  for (unsigned i = 1; i <= 101; ++i) subs.push_back(guid(i));
  daemon_world w({.config = {{"max_exchanges_per_minute", 1000}}, .acme_key = false});
  w.upstream.add_account(w.key, acme_org_id, subs);
  w.dir.write("keys/acme.key", w.key + "\n");
  w.daemon->reload();

  for (unsigned i = 0; i < 100; ++i) {
    const auto reply = w.daemon->get("/v1/token?org=acme&sub_org=" + subs[i]);
    REQUIRE_MESSAGE(reply.status == 200, i << ": " << reply.body);
  }
  CHECK(w.upstream.exchanges() == 100);
  const auto over = w.daemon->get("/v1/token?org=acme&sub_org=" + subs[100]);
  CHECK(over.status == 400);
  CHECK(error_of(over) == "bad_request");
  CHECK(over.json()["message"].get<std::string>().find("(100)") != std::string::npos);
  // The root token is a cache key too.
  CHECK(w.daemon->get("/v1/token?org=acme").status == 400);
  CHECK(w.upstream.exchanges() == 100);
  // Those cached are still served; a flush makes room again.
  CHECK(w.daemon->get("/v1/token?org=acme&sub_org=" + subs[0]).json()["source"] == "cache");
  REQUIRE(unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
  CHECK(w.daemon->get("/v1/token?org=acme&sub_org=" + subs[100]).status == 200);
}

TEST_CASE("a JWT whose payload holds '-' and '_' (base64url) gives its exp") {
  // A token signed here whose payload segment uses both characters that
  // base64url has and base64 has not; served without expires_in, so only the
  // payload tells the lifetime: an hour, not default_token_ttl's 10 minutes.
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::string token;
  for (unsigned i = 0; i < 10000 && token.empty(); ++i) {
    const auto candidate = stand_in::sign_jwt({.subject = "user~" + std::to_string(i) + "?>",
                                               .organization_id = acme_org_id,
                                               .issued_at = now,
                                               .expires_at = now + 3600,
                                               .token_id = "base64url"},
                                              "secret");
    const auto payload =
        candidate.substr(candidate.find('.') + 1, candidate.rfind('.') - candidate.find('.') - 1);
    if (payload.find('-') != std::string::npos && payload.find('_') != std::string::npos) {
      token = candidate;
    }
  }
  REQUIRE_FALSE(token.empty());
  const auto pki = stand_in::generate_pki();
  tls_server_options options;
  options.pki = pki;
  options.response_body = R"({"access_token":")" + token + R"("})";
  tls_test_server server(std::move(options));
  daemon_world w({.start_daemon = false});
  w.config["auth_url"] = server.url();
  w.config["ca_file"] = w.dir.write("ca.pem", pki.ca_cert_pem, 0644).string();
  w.start();
  const auto reply = w.daemon->get("/v1/token?org=acme");
  REQUIRE_MESSAGE(reply.status == 200, reply.body);
  CHECK(reply.json()["access_token"] == token);
  CHECK(reply.json()["expires_in"].get<int>() > 3500);
  CHECK(reply.json()["expires_in"].get<int>() <= 3600);
}
