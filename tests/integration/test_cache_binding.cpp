// The cache file's entries are bound to the settings a token was obtained
// under, and restored tokens obey the 24 h cap (SPEC §3, §6; issue 17): the
// real daemon against the stand-in, restarted over one cache file.

#include "daemon/outputs/cache_file.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

namespace {

// A world whose daemon keeps its tokens in DIR/tokens.cache.
struct cache_world : daemon_world {
  std::filesystem::path cache = dir.path() / "tokens.cache";

  cache_world() : daemon_world({.start_daemon = false}) { config["cache_file"] = cache.string(); }

  json token() const { return daemon->get("/v1/token?org=acme").json(); }
};

}  // namespace

TEST_CASE("a restart after a change of auth_url, api_version or scope exchanges anew") {
  cache_world w;
  w.start();
  const auto first = w.token();
  REQUIRE(first["source"] == "exchange");
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  REQUIRE(w.upstream.exchanges() == 1);

  std::string changed;
  SUBCASE("auth_url: the same server by another name") {
    // The stand-in's certificate names both 127.0.0.1 and localhost.
    w.config["auth_url"] = "https://localhost:" + std::to_string(w.upstream.port());
    changed = "auth_url";
  }
  SUBCASE("api_version") {
    w.config["api_version"] = "v2";
    changed = "api_version";
  }
  SUBCASE("scope") {
    w.config["scope"] = "openid";
    changed = "scope";
  }
  SUBCASE("the organization's own scope") {
    w.config["organizations"] = {{"acme", {{"scope", "openid profile"}}}};
    changed = "organizations.acme.scope";
  }
  CAPTURE(changed);
  const auto log_before = slurp(w.dir.path() / "actokend.log").size();
  w.start();
  const auto again = w.token();
  CHECK(again["source"] == "exchange");
  CHECK(again["access_token"] != first["access_token"]);
  CHECK(w.upstream.exchanges() == 2);
  const auto log = w.daemon->log().substr(log_before);
  CHECK(log.find("does not authenticate (the key, auth_url, api_version or scope changed") !=
        std::string::npos);
}

TEST_CASE("a restart with the same settings serves the cached token") {
  cache_world w;
  w.start();
  const auto first = w.token();
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  w.start();
  const auto again = w.token();
  CHECK(again["source"] == "cache");
  CHECK(again["access_token"] == first["access_token"]);
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("a forged entry claiming ten years restores with at most 24 h") {
  // Someone holding acme's key seals an entry themselves.
  cache_world w;
  const persist::seal_inputs acme{std::make_shared<const platform::secure_buffer>(w.key),
                                  w.upstream.url(), upstream::api_version::v3,
                                  "openid,profile,email"};  // the default scope
  const persist::org_lookup lookup = [&acme](const std::string& org) {
    return org == "acme" ? std::optional(acme) : std::nullopt;
  };
  const std::string forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmb3JnZWQifQ.Zm9yZ2VkLXNpZ25hdHVyZQ";
  const auto now = std::chrono::system_clock::now();
  constexpr auto ten_years = 24h * 3650;

  std::chrono::seconds most_left{};
  SUBCASE("obtained an hour ago") {
    persist::write_cache_file(
        w.cache,
        persist::encode_cache({{"acme", "", forged, now - 1h, now + ten_years}}, lookup, now),
        ::geteuid());
    most_left = 23h;
  }
  SUBCASE("obtained in ten years") {
    persist::write_cache_file(
        w.cache,
        persist::encode_cache({{"acme", "", forged, now + ten_years, now + 2 * ten_years}}, lookup,
                              now),
        ::geteuid());
    most_left = 24h;
  }
  w.start();
  const auto served = w.token();
  REQUIRE(served["source"] == "cache");
  CHECK(served["access_token"] == forged);
  const auto left = std::chrono::seconds{served["expires_in"].get<std::int64_t>()};
  CHECK(left <= most_left);
  CHECK(left > most_left - 1min);  // capped, not dropped
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("a version 1 cache file is dropped with a log line and replaced at the next write") {
  cache_world w;
  w.start();
  const auto first = w.token();
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  // The same entries under the old version number.
  auto document = json::parse(slurp(w.cache));
  REQUIRE(document["version"] == 2);
  document["version"] = 1;
  w.dir.write("tokens.cache", document.dump(), 0600);

  w.start();
  const auto again = w.token();
  CHECK(again["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 2);
  CHECK(w.daemon->log().find("cache file has version 1") != std::string::npos);
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(json::parse(slurp(w.cache))["version"] == 2);
}

namespace {

// The organizations of the cache file's entries, in order ("" when unreadable).
std::string cached_orgs(const std::filesystem::path& cache) {
  const auto document = json::parse(slurp(cache), nullptr, false);
  if (!document.is_object() || !document.contains("entries")) return "";
  std::string orgs;
  for (const auto& entry : document["entries"]) orgs += entry.value("org", "?") + ";";
  return orgs;
}

}  // namespace

TEST_CASE("a key PUT takes the old key's token out of the cache file at once (issue 14)") {
  cache_world w;
  w.start();
  REQUIRE(w.token()["source"] == "exchange");
  // New tokens reach the file within a second or so.
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (cached_orgs(w.cache) != "acme;" && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(cached_orgs(w.cache) == "acme;");

  const auto put = unix_request(w.socket(), "PUT", "/v1/orgs/acme/key",
                                json{{"key", awkward_key()}, {"persist", false}}.dump());
  REQUIRE(put.status == 200);
  // Written before the answer: the file no longer holds the old key's token.
  CHECK(cached_orgs(w.cache) == "");
  CHECK(w.daemon->get("/v1/status").json()["cached_tokens"] == 0);
}
