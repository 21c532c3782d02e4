// The token path end to end: the real actokend and actoken against the
// stand-in auth server over real HTTPS and a real Unix socket.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <optional>
#include <regex>
#include <set>
#include <thread>

namespace {

// A stand-in with one account, and a daemon that trusts it with key_dir/acme.key.
struct world : daemon_world {
  explicit world(json extra = json::object(), bool trust = true)
      : daemon_world({.config = std::move(extra), .trust_stand_in = trust}) {}
};

// An RFC 3339 UTC time with whole seconds ("2026-11-28T00:03:19Z", SPEC §4),
// as seconds since the epoch; nothing for any other form.
std::optional<std::time_t> rfc3339(const json& value) {
  if (!value.is_string()) return std::nullopt;
  const auto text = value.get<std::string>();
  static const std::regex form(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
  if (!std::regex_match(text, form)) return std::nullopt;
  std::tm parts{};
  if (::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts) == nullptr) return std::nullopt;
  return ::timegm(&parts);
}

}  // namespace

TEST_CASE("the first request exchanges, later ones come from the cache") {
  world w;
  const auto first = w.daemon->get("/v1/token?org=acme");
  REQUIRE(first.status == 200);
  CHECK(first.headers.at("content-type") == "application/json");
  CHECK(first.headers.at("cache-control") == "no-store");
  const auto body = first.json();
  CHECK(body["org"] == "acme");
  CHECK(body["sub_org"].is_null());
  CHECK(body["token_type"] == "Bearer");
  CHECK(body["source"] == "exchange");
  CHECK(body["expires_in"].get<int>() > 3500);
  CHECK(body["expires_at"].get<std::string>().back() == 'Z');

  for (int i = 0; i < 5; ++i) {
    const auto again = w.daemon->get("/v1/token?org=acme").json();
    CHECK(again["source"] == "cache");
    CHECK(again["access_token"] == body["access_token"]);
  }
  CHECK(w.upstream.exchanges() == 1);

  // The CLI prints the same token.
  const auto printed = w.cli({"token", "acme"});
  CHECK(printed.exit_code == 0);
  CHECK(printed.out == body["access_token"].get<std::string>() + "\n");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("a key with + / = arrives intact, in the v3 form") {
  world w;
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto requests = w.upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/auth/v3/token");
  CHECK(requests[0].content_type == "application/x-www-form-urlencoded");
  CHECK(requests[0].accept == "application/json");
  CHECK(requests[0].form.at("personalAccessKey") == w.key);
  CHECK(requests[0].form.at("scope") == "openid,profile,email");
  CHECK(w.upstream.exchanges_for(w.key) == 1);
}

TEST_CASE("200 concurrent requests for a cold organization make one exchange") {
  world w;
  auto slow = w.upstream.get_behaviour();
  // Long enough for all 200 callers to be waiting before the answer comes,
  // even on a loaded machine: each must then get the exchange's result.
  slow.delay = std::chrono::milliseconds{2000};
  w.upstream.set_behaviour(slow);

  constexpr int callers = 200;
  std::vector<std::string> tokens(callers);
  std::vector<std::string> sources(callers);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < callers; ++i) {
    threads.emplace_back([&, i] {
      try {
        const auto reply = w.daemon->get("/v1/token?org=acme").json();
        tokens[static_cast<std::size_t>(i)] = reply.value("access_token", "");
        sources[static_cast<std::size_t>(i)] = reply.value("source", "");
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(w.upstream.exchanges() == 1);
  CHECK(std::set<std::string>(tokens.begin(), tokens.end()).size() == 1);
  CHECK_FALSE(tokens.front().empty());
  // Every caller waited for that one exchange (SPEC §3): none was answered
  // from the cache, whichever connection the daemon read first.
  CHECK(std::count(sources.begin(), sources.end(), "exchange") == callers);
}

// The value of an unlabelled sample in /metrics, or -1 when it is missing.
long metric(const world& w, const std::string& name) {
  const auto body = w.daemon->get("/metrics").body;
  const auto at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stol(body.substr(at + name.size() + 2));
}

TEST_CASE("/metrics counts each cache miss once and each hit once (issue 14)") {
  world w;
  REQUIRE(w.daemon->get("/v1/token?org=acme").json()["source"] == "exchange");
  CHECK(metric(w, "actoken_cache_misses_total") == 1);
  CHECK(metric(w, "actoken_cache_hits_total") == 0);

  REQUIRE(w.daemon->get("/v1/token?org=acme").json()["source"] == "cache");
  CHECK(metric(w, "actoken_cache_misses_total") == 1);
  CHECK(metric(w, "actoken_cache_hits_total") == 1);

  // A miss answered at once (a young token cannot meet a day's min_ttl) and a
  // miss answered by an exchange (a sub-organization): one each.
  CHECK(w.daemon->get("/v1/token?org=acme&min_ttl=86400").status == 409);
  CHECK(w.daemon->get(std::string("/v1/token?org=acme&sub_org=") + acme_org_id).status == 200);
  CHECK(metric(w, "actoken_cache_misses_total") == 3);
  CHECK(metric(w, "actoken_cache_hits_total") == 1);
  CHECK(w.upstream.exchanges() == 2);
}

TEST_CASE("a wrong key: 502 key_rejected, CLI exit 6, then no more upstream calls") {
  world w;
  w.dir.write("keys/wrong.key", "not-the-key\n");
  w.daemon->reload();
  const auto reply = w.daemon->get("/v1/token?org=wrong");
  CHECK(reply.status == 502);
  CHECK(reply.json()["error"] == "key_rejected");
  CHECK(reply.json()["message"].get<std::string>().find("wrong") != std::string::npos);
  const auto cli = w.cli({"token", "wrong"});
  CHECK(cli.exit_code == 6);
  CHECK(cli.err.rfind("actoken: ", 0) == 0);
  for (int i = 0; i < 10; ++i) w.daemon->get("/v1/token?org=wrong");
  CHECK(w.upstream.exchanges() == 1);
}

TEST_CASE("an untrusted certificate: upstream_tls, and the key is never sent") {
  world w(json::object(), /*trust=*/false);
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 502);
  CHECK(reply.json()["error"] == "upstream_tls");
  CHECK(w.upstream.requests().empty());
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("an unknown organization: 404 unknown_org, CLI exit 5") {
  world w;
  const auto reply = w.daemon->get("/v1/token?org=nosuch");
  CHECK(reply.status == 404);
  CHECK(reply.json()["error"] == "unknown_org");
  CHECK(w.cli({"token", "nosuch"}).exit_code == 5);
  CHECK(w.daemon->get("/v1/token?org=bad%20name").status == 400);
  CHECK(w.daemon->get("/v1/token?org=acme&min_ttl=99999").status == 400);
  CHECK(w.daemon->get("/v1/token?org=acme&bogus=1").status == 400);
  CHECK(w.daemon->get("/v1/nothing").status == 404);
  CHECK(unix_request(w.daemon->socket(), "POST", "/v1/token?org=acme").status == 405);
}

TEST_CASE("without a daemon the CLI exits 3 and names the socket") {
  temp_dir dir;
  const auto socket = (dir.path() / "absent.sock").string();
  const auto result = run_process({actoken_path(), "--socket", socket, "token", "acme"});
  CHECK(result.exit_code == 3);
  CHECK(result.err.find(socket) != std::string::npos);
  const auto via_env = run_process({actoken_path(), "ping"}, {{"ACTOKEN_SOCKET", socket}});
  CHECK(via_env.exit_code == 3);
}

TEST_CASE(
    "every answer has Content-Length, no chunking, Cache-Control: no-store; JSON but /metrics") {
  world w;
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  struct ask {
    std::string method, target, body;
    unsigned status;
  };
  const std::vector<ask> asks{
      {"GET", "/v1/token?org=acme", "", 200},
      {"GET", "/v1/orgs", "", 200},
      {"GET", "/v1/whoami", "", 200},
      {"GET", "/v1/health", "", 200},
      {"GET", "/v1/status", "", 200},
      {"GET", "/metrics", "", 200},
      {"POST", "/v1/reload", "", 200},
      {"PUT", "/v1/orgs/beta/key", R"({"key":"beta-key","persist":false})", 200},
      {"DELETE", "/v1/orgs/beta/key", "", 200},
      {"DELETE", "/v1/tokens?org=acme", "", 200},
      {"GET", "/v1/token?org=nobody-here", "", 404},
      {"GET", "/v1/token?org=acme&min_ttl=soon", "", 400},
      {"PUT", "/v1/orgs/acme/key", "{", 400},
      {"GET", "/v1/nothing", "", 404},
      {"POST", "/v1/health", "", 405},
  };
  for (const auto& a : asks) {
    CAPTURE(a.method);
    CAPTURE(a.target);
    const auto reply = unix_request(w.socket(), a.method, a.target, a.body);
    CHECK(reply.status == a.status);
    CHECK(reply.headers.count("transfer-encoding") == 0);
    REQUIRE(reply.headers.count("content-length") == 1);
    CHECK(reply.headers.at("content-length") == std::to_string(reply.body.size()));
    CHECK(reply.headers.at("cache-control") == "no-store");
    if (a.target == "/metrics") {
      CHECK(reply.headers.at("content-type").rfind("text/plain", 0) == 0);
      continue;
    }
    CHECK(reply.headers.at("content-type") == "application/json");
    const auto body = reply.json();
    REQUIRE(body.is_object());
    if (a.status >= 400) {
      CHECK(body["error"].is_string());
      CHECK(body["message"].is_string());
    }
  }
}

TEST_CASE("times in answers are RFC 3339 UTC with whole seconds and tell the truth") {
  world w;
  const auto before = std::time(nullptr);
  const auto token = w.daemon->get("/v1/token?org=acme").json();
  const auto after = std::time(nullptr);
  const auto obtained = rfc3339(token["obtained_at"]);
  const auto expires = rfc3339(token["expires_at"]);
  REQUIRE(obtained.has_value());
  REQUIRE(expires.has_value());
  CHECK(*obtained >= before - 1);
  CHECK(*obtained <= after);
  // The stand-in's tokens live an hour; exp is whole seconds.
  CHECK(*expires - *obtained >= 3599);
  CHECK(*expires - *obtained <= 3600);
  // expires_in: whole seconds left, rounded down.
  CHECK(token["expires_in"].get<std::int64_t>() <= *expires - before);
  CHECK(token["expires_in"].get<std::int64_t>() >= *expires - after - 1);

  const auto orgs = w.daemon->get("/v1/orgs").json();
  const auto& listed = orgs["orgs"][0]["tokens"][0];
  CHECK(rfc3339(listed["expires_at"]) == expires);
  CHECK(rfc3339(listed["obtained_at"]) == obtained);
  const auto status = w.daemon->get("/v1/status").json();
  const auto reloaded = rfc3339(status["last_reload"]["at"]);
  REQUIRE(reloaded.has_value());
  CHECK(*reloaded <= after);
  CHECK(*reloaded >= before - 120);  // the daemon started with this test
}

TEST_CASE(
    "each exchange logs its organization, sub-organization, result, duration and fingerprint") {
  world w;
  const std::string sub_org = "9b2f6d1e-0000-4000-8000-00000000000b";
  w.upstream.add_account(w.key, acme_org_id, {sub_org});
  const auto root = w.daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  const auto sub = w.daemon->get("/v1/token?org=acme&sub_org=" + sub_org)
                       .json()["access_token"]
                       .get<std::string>();
  w.dir.write("keys/wrong.key", "wrong-" + w.key + "\n");
  w.daemon->reload();
  CHECK(w.daemon->get("/v1/token?org=wrong").status == 502);
  const auto log = w.daemon->log();
  const auto line = [&](const std::string& pattern) {
    return std::regex_search(log, std::regex(pattern));
  };
  CHECK(line("exchange org=acme sub_org=- result=ok duration_ms=[0-9]+ token=" +
             fingerprint_of(root) + " expires_in=[0-9]+s"));
  CHECK(line("exchange org=acme sub_org=" + sub_org +
             " result=ok duration_ms=[0-9]+ token=" + fingerprint_of(sub) + " "));
  CHECK(line("exchange org=wrong sub_org=- result=key_rejected duration_ms=[0-9]+: "));
}

TEST_CASE("ping, health and keep-alive") {
  world w;
  CHECK(w.cli({"ping"}).exit_code == 0);
  const auto health = w.daemon->get("/v1/health").json();
  CHECK(health["status"] == "ok");
  // Two requests on one connection.
  const auto raw = unix_raw(w.daemon->socket(),
                            "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                            "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t answers = 0;
  for (auto pos = raw.find("HTTP/1.1 200"); pos != std::string::npos;
       pos = raw.find("HTTP/1.1 200", pos + 1)) {
    ++answers;
  }
  CHECK(answers == 2);
}

TEST_CASE("bad input gets a clear error and the daemon serves on") {
  world w;
  const auto big =
      unix_raw(w.daemon->socket(),
               "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
  CHECK(big.find("413") != std::string::npos);
  CHECK(big.find("payload_too_large") != std::string::npos);
  const auto garbage = unix_raw(w.daemon->socket(), std::string("\x01\x02 nonsense\r\n\r\n"));
  CHECK(garbage.find("400") != std::string::npos);
  const auto body = unix_raw(
      w.daemon->socket(),
      "PUT /v1/orgs/acme/key HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" + std::string(70000, 'x'));
  CHECK(body.find("413") != std::string::npos);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
}

TEST_CASE("SIGTERM: exit 0 and the socket is gone") {
  world w;
  REQUIRE(w.daemon->get("/v1/health").status == 200);
  const auto socket = w.daemon->socket();
  CHECK(w.daemon->stop(SIGTERM) == 0);
  struct stat st {};
  CHECK(::lstat(socket.c_str(), &st) != 0);
}

TEST_CASE("neither the key nor the token reaches the log, /v1/orgs, /v1/status or /metrics") {
  world w;
  const auto token = w.daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  w.dir.write("keys/wrong.key", "wrong-" + w.key + "\n");
  w.daemon->reload();
  w.daemon->get("/v1/token?org=wrong");
  for (const auto* target : {"/v1/orgs", "/v1/status", "/metrics"}) {
    const auto body = w.daemon->get(target).body;
    CHECK(body.find(w.key) == std::string::npos);
    CHECK(body.find(token) == std::string::npos);
  }
  CHECK(w.daemon->stop(SIGTERM) == 0);
  const auto log = w.daemon->log();
  CHECK(log.find("result=ok") != std::string::npos);  // the log is there...
  CHECK(log.find(w.key) == std::string::npos);        // ...without the key
  CHECK(log.find(token) == std::string::npos);        // ...or the token
  // The signature part alone must not appear either.
  CHECK(log.find(token.substr(token.rfind('.') + 1)) == std::string::npos);
}
