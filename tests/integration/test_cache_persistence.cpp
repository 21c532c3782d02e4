// The cache file's edges (SPEC §6 `cache_file`, §2 "Private files", §4 key
// DELETE): the write a new token schedules (not only the one at SIGTERM), a
// file over the size limit, an entry that authenticates but whose payload is
// unreadable, and a removed key's tokens leaving the file at once. The real
// daemon against the stand-in; entries are forged with the daemon's own
// persist library, as someone holding the key could.

#include "daemon/keys/org_table.hpp"
#include "daemon/outputs/cache_file.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

using steady = std::chrono::steady_clock;

namespace {

// The daemon schedules a cache write this long after a token changes
// (daemon/app.cpp cache_write_delay); windows below are derived from it.
constexpr auto cache_write_delay = 1s;

// A world whose daemon keeps its tokens in DIR/tokens.cache.
struct cache_world : daemon_world {
  fs::path cache = dir.path() / "tokens.cache";

  cache_world() : daemon_world({.start_daemon = false}) { config["cache_file"] = cache.string(); }

  json token(const std::string& org = "acme") const {
    return daemon->get("/v1/token?org=" + org).json();
  }

  // acme's settings as the daemon derives them, to seal entries with.
  /// What the daemon seals an organization's entries under, with the config's defaults.
  persist::seal_inputs settings_of(const std::string& org_key) const {
    return persist::seal_inputs{std::make_shared<const platform::secure_buffer>(org_key),
                                upstream.url(), upstream::api_version::v3, "openid,profile,email"};
  }
};

// Waits up to `bound` for `path` to exist.
bool appears_within(const fs::path& path, std::chrono::milliseconds bound) {
  const auto until = steady::now() + bound;
  while (!fs::exists(path)) {
    if (steady::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a new token reaches the cache file a second later, without a stop") {
  cache_world w;
  w.start();
  const auto first = w.token();
  const auto cached = steady::now();
  REQUIRE(first["source"] == "exchange");
  // Not at once: the write is coalesced (checked only while the second is
  // surely not over, so a slow machine does not fail it)...
  if (steady::now() - cached < cache_write_delay / 2) CHECK_FALSE(fs::exists(w.cache));
  // ...and not only at the stop: it comes by itself.
  REQUIRE(appears_within(w.cache, cache_write_delay + 9s));
  CHECK(mode_of(w.cache) == 0600);

  // A SIGKILL writes nothing: what the next daemon restores is that delayed write.
  CHECK(w.daemon->stop(SIGKILL) == 128 + SIGKILL);
  w.start();
  const auto again = w.token();
  CHECK(again["source"] == "cache");
  CHECK(again["access_token"] == first["access_token"]);
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("removing a key takes its tokens out of the cache file at once") {
  cache_world w;
  const auto beta_key = awkward_key();
  w.upstream.add_account(beta_key, "6f1c2a8e-0000-4000-8000-000000000002");
  w.dir.write("keys/beta.key", beta_key + "\n");
  w.start();
  REQUIRE(w.token("acme")["source"] == "exchange");
  REQUIRE(w.token("beta")["source"] == "exchange");
  const auto removed = unix_request(w.socket(), "DELETE", "/v1/orgs/beta/key");
  REQUIRE_MESSAGE(removed.status == 200, removed.body);
  CHECK(removed.json()["removed"] == true);
  CHECK_FALSE(fs::exists(w.dir.path() / "keys" / "beta.key"));
  // No SIGTERM write: whatever the file holds now is what the DELETE left.
  REQUIRE(fs::exists(w.cache));
  CHECK(w.daemon->stop(SIGKILL) == 128 + SIGKILL);

  // The same key back: an entry of beta's still in the file would authenticate
  // and be served from the cache. acme's is there.
  w.dir.write("keys/beta.key", beta_key + "\n");
  w.start();
  CHECK(w.token("acme")["source"] == "cache");
  CHECK(w.token("beta")["source"] == "exchange");
  CHECK(w.upstream.exchanges_for(beta_key) == 2);
}

TEST_CASE("a cache file over 1 MiB is refused as a private file: off, and never overwritten") {
  cache_world w;
  const std::string big(persist::max_cache_file_size + 1, 'x');
  w.dir.write("tokens.cache", big, 0600);
  w.start();
  const auto status = w.daemon->get("/v1/status").json()["cache_file"];
  CHECK(status["state"] == "off");
  CHECK_MESSAGE(status["message"].get<std::string>().find(w.cache.string()) != std::string::npos,
                status);
  CHECK_MESSAGE(status["message"].get<std::string>().find("larger than 1 MiB") != std::string::npos,
                status);
  REQUIRE(w.token()["source"] == "exchange");
  std::this_thread::sleep_for(cache_write_delay + 500ms);  // a delayed write would be done
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(fs::file_size(w.cache) == big.size());
  CHECK(slurp(w.cache) == big);
}

TEST_CASE("an entry that authenticates but holds no token is dropped with a log line") {
  // Sealed under acme's real key and settings, so it passes AES-GCM: only
  // its payload is wrong. A good entry for beta sits beside it.
  cache_world w;
  const auto beta_key = awkward_key();
  w.upstream.add_account(beta_key, "6f1c2a8e-0000-4000-8000-000000000002");
  w.dir.write("keys/beta.key", beta_key + "\n");
  const auto acme = w.settings_of(w.key);
  const auto beta = w.settings_of(beta_key);
  const persist::org_lookup lookup =
      [&](const std::string& org) -> std::optional<persist::seal_inputs> {
    if (org == "acme") return acme;
    if (org == "beta") return beta;
    return std::nullopt;
  };
  const auto now = std::chrono::system_clock::now();
  const std::string good = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZXRhIn0.Z29vZC1zaWduYXR1cmU";
  persist::write_cache_file(w.cache,
                            persist::encode_cache({{"acme", "", "", now - 1min, now + 1h},
                                                   {"beta", "", good, now - 1min, now + 1h}},
                                                  lookup, now),
                            ::geteuid());
  w.start();
  CHECK(w.daemon->log().find("cache file entry 0 (organization acme) has an unreadable "
                             "payload; dropped") != std::string::npos);
  const auto served = w.token("beta");
  CHECK(served["source"] == "cache");
  CHECK(served["access_token"] == good);
  CHECK(w.token("acme")["source"] == "exchange");
  CHECK(w.upstream.exchanges() == 1);
}

// SPEC §3: "no CR, LF, escape or NUL ever reaches a client", whether the
// token came from the auth server or the cache file. Sealing one takes the key
// (or the daemon's user), so this is defence in depth.
TEST_CASE("a restored token with CR/LF inside is dropped, as an exchanged one is") {
  cache_world w;
  const auto acme = w.settings_of(w.key);
  const persist::org_lookup lookup =
      [&](const std::string& org) -> std::optional<persist::seal_inputs> {
    if (org == "acme") return acme;
    return std::nullopt;
  };
  const auto now = std::chrono::system_clock::now();
  persist::write_cache_file(
      w.cache,
      persist::encode_cache({{"acme", "", "forged.token\r\nX-Injected: 1", now - 1min, now + 1h}},
                            lookup, now),
      ::geteuid());
  w.start();
  CHECK(w.daemon->log().find("cache file entry 0 (organization acme)'s token has a byte outside "
                             "A-Z a-z 0-9 - . _ ~ + / = (0x0D at offset 12); dropped") !=
        std::string::npos);
  const auto served = w.token();
  CHECK(served["source"] == "exchange");
  CHECK(served["access_token"].get<std::string>().find('\n') == std::string::npos);
  const auto header = w.cli({"header", "acme"});
  CHECK(header.out.find("X-Injected") == std::string::npos);
}
