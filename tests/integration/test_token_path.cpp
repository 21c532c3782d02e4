// The token path end to end: the real actokend and actoken against the
// stand-in auth server over real HTTPS and a real Unix socket.
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

using namespace actoken;
using namespace actoken::testing;
using json = nlohmann::json;

namespace {

// A stand-in with one account, and a daemon that trusts it with key_dir/acme.key.
struct world : daemon_world {
  explicit world(json extra = json::object(), bool trust = true)
      : daemon_world({.config = std::move(extra), .trust_stand_in = trust}) {}
};

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
