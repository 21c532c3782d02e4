// A peer with 65,536 supplementary groups (SPEC §4 "No peer can slow the
// others down", issue 24): any user can have them inside a user namespace, and
// the daemon once spent over a second of its one serving thread on each of
// their `/v1/whoami` answers (the groups de-duplicated with a linear search in
// a loop) and sent 1.7 MB back. Here the peers are forked children that
// `setgroups()` 65,536 gids and drop to `nobody`, as root may; the daemon must
// answer them with at most 64 groups and keep serving everyone else at once.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/peers.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// Linux's NGROUPS_MAX: the most supplementary groups a process can carry.
constexpr std::size_t max_groups = 65536;
constexpr gid_t first_gid = 200000;
// Two of the groups, named by the config's rules: whoami lists them first.
constexpr gid_t allowed_gid = first_gid + 40000;
constexpr gid_t admin_gid = first_gid + 12345;

// nobody, with 65,536 supplementary groups, the first of them its primary one.
identity group_heavy_user() {
  identity who{65534, first_gid, {}};
  who.groups.reserve(max_groups);
  for (gid_t offset = 0; offset < max_groups; ++offset) who.groups.push_back(first_gid + offset);
  return who;
}

// The daemon's socket open to every user (what a peer may do is up to the
// access policy), with rules naming two of the heavy user's groups.
json config() {
  return {{"socket_mode", "0666"},
          {"admin", {{"groups", {admin_gid}}}},
          {"organizations", {{"acme", {{"allow", {{"groups", {allowed_gid}}}}}}}}};
}

// A child that becomes `who` and asks `GET /v1/whoami` on a new connection,
// again and again, until it is killed. Only system calls after the fork (the
// test process has threads): everything it needs is made before.
pid_t start_whoami_loop(const identity& who, const std::filesystem::path& socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  static constexpr char request[] =
      "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (!become(who)) ::_exit(become_failed);
  static char answer[65536];
  for (;;) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) ::_exit(1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
        ::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) > 0) {
      while (::recv(fd, answer, sizeof answer, 0) > 0) {
      }
    }
    ::close(fd);
  }
}

void stop(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// How many `/v1/whoami` requests the daemon has answered with 200.
long whoami_answers(const std::filesystem::path& socket) {
  const auto text = unix_request(socket, "GET", "/metrics").body;
  const std::string sample = "actoken_requests_total{endpoint=\"whoami\",code=\"200\"} ";
  const auto at = text.find(sample);
  return at == std::string::npos ? 0 : std::stol(text.substr(at + sample.size()));
}

// What comes back for `GET /v1/whoami` on connection `fd` until the daemon
// closes it ("" when it closes without answering).
std::string ask_whoami(int fd) {
  const std::string request =
      "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) return "";
  std::string answer;
  char chunk[16384];
  for (;;) {
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return answer;
    answer.append(chunk, static_cast<std::size_t>(n));
  }
}

long open_connections(const std::filesystem::path& socket) {
  return unix_request(socket, "GET", "/v1/status").json()["connections"].get<long>();
}

}  // namespace

TEST_CASE("/v1/whoami for a peer with 65,536 groups: 64 at most, the rules' groups first") {
  daemon_world w({.config = config()});
  const auto who = group_heavy_user();
  const auto reply = request_as(who, w.socket(), "GET", "/v1/whoami");
  REQUIRE(reply.status == 200);
  const auto body = reply.json();
  CHECK(body["uid"] == 65534);
  CHECK(body["gid"] == first_gid);
  CHECK(body["groups_total"] == max_groups);
  const auto& groups = body["groups"];
  REQUIRE(groups.size() == 64);
  // The groups some rule names, in ascending order; then the primary group;
  // then the others, ascending, each once.
  CHECK(groups[0]["gid"] == admin_gid);
  CHECK(groups[1]["gid"] == allowed_gid);
  CHECK(groups[2]["gid"] == first_gid);
  for (std::size_t i = 3; i < groups.size(); ++i) CHECK(groups[i]["gid"] == first_gid + (i - 2));
  CHECK(body["admin"] == true);
  REQUIRE(body["orgs"].size() == 1);
  CHECK(body["orgs"][0]["via"] == "groups: " + std::to_string(allowed_gid));
  // Small: 64 groups, not 65,536 (1.7 MB).
  CHECK(reply.body.size() < 8192);
  // And its token, by the group the rule names among the 65,536.
  CHECK(request_as(who, w.socket(), "GET", "/v1/token?org=acme").status == 200);
}

TEST_CASE("two peers with 65,536 groups asking /v1/whoami in a loop leave a third's tokens fast") {
  // The bound is generous on purpose, for a loaded 2-core machine: what is
  // measured here is only that the daemon is not held. Each answer to such a
  // peer used to cost over a second of the daemon's one serving thread, so a
  // third client's requests waited up to that long behind it (two loops: up
  // to two seconds); answered in n log n (the groups sorted once at accept,
  // at most 64 listed) it costs well under a millisecond. 250 ms lies far
  // above anything a scheduler adds and far below what the quadratic code
  // costs. The figure itself (p99 under 5 ms) is measured by scripts/bench.
  daemon_world w({.config = config()});
  REQUIRE(w.daemon->get("/v1/token?org=acme").json()["source"] == "exchange");
  const auto who = group_heavy_user();
  const pid_t first = start_whoami_loop(who, w.socket());
  const pid_t second = start_whoami_loop(who, w.socket());
  // Both loops have been answered before the measurement starts.
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (whoami_answers(w.socket()) < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  const auto before = whoami_answers(w.socket());

  // Cached tokens for 2 s, at least 200 of them (the loops answered all the
  // while), or as many as 30 s allow (the quadratic code gives a few dozen).
  std::vector<std::chrono::microseconds> latencies;
  const auto started = std::chrono::steady_clock::now();
  const auto enough = [&] {
    const auto now = std::chrono::steady_clock::now();
    return now >= started + 30s || (latencies.size() >= 200 && now >= started + 2s);
  };
  while (!enough()) {
    const auto start = std::chrono::steady_clock::now();
    const auto reply = w.daemon->get("/v1/token?org=acme");
    latencies.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start));
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["source"] == "cache");
  }
  const auto during = whoami_answers(w.socket()) - before;
  stop(first);
  stop(second);

  std::sort(latencies.begin(), latencies.end());
  const auto p99 = latencies[latencies.size() * 99 / 100];
  INFO("p99 " << p99.count() << " us over " << latencies.size() << " tokens; " << during
              << " whoami answers meanwhile");
  CHECK(before >= 4);
  // The loops kept asking all along: the daemon answered them too.
  CHECK(during >= 10);
  CHECK(latencies.size() >= 200);
  CHECK(p99 < 250ms);
}

TEST_CASE("16 connections of peers with thousands of groups at once: a 17th is turned away") {
  // Each holds up to 256 KiB of groups, read on a thread of their own: a cap
  // keeps what such peers can make the daemon hold bounded, and turns away
  // only them.
  daemon_world w({.config = config()});
  const auto who = group_heavy_user();
  std::vector<int> held;
  for (int i = 0; i < 16; ++i) {
    const int fd = connect_as(who, w.socket());
    REQUIRE(fd >= 0);
    held.push_back(fd);
  }
  // All 16 taken on (the status request is the 17th connection).
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (open_connections(w.socket()) < 17 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(open_connections(w.socket()) == 17);

  const int turned_away = connect_as(who, w.socket());
  REQUIRE(turned_away >= 0);
  CHECK(ask_whoami(turned_away).empty());
  ::close(turned_away);
  // Everyone else is served; a held connection is too.
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(ask_whoami(held.front()).starts_with("HTTP/1.1 200 "));
  const auto log = w.daemon->log();
  INFO(log);
  CHECK(log.find("turning away a connection from uid 65534 with 65536 groups") !=
        std::string::npos);

  for (const int fd : held) ::close(fd);
  while (open_connections(w.socket()) > 1 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  // The places are given back with the connections.
  CHECK(request_as(who, w.socket(), "GET", "/v1/whoami").status == 200);

  // A stop with such connections open (their places outlive the server, in
  // the frames the io_context destroys last) ends cleanly.
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) open.push_back(connect_as(who, w.socket()));
  while (open_connections(w.socket()) < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(w.daemon->stop() == 0);
  CHECK(w.daemon->log().find("Sanitizer") == std::string::npos);
  for (const int fd : open) ::close(fd);
}
