// The wire between the daemon and the auth server (SPEC §1, §3; issue 25):
// every request reaches the server whole, in one TLS record, on a connection
// with Nagle's algorithm off, directly or through a CONNECT proxy, so that no
// exchange waits on a delayed acknowledgement; an answer that comes in pieces
// is read to its end; and a proxy or captive portal that answers in plain
// HTTP after `CONNECT 200` is a transient failure the organization recovers
// from by itself, not an `upstream_tls` that holds until a reload.

#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/connect_proxy.hpp"
#include "tests/test_env.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using steady = std::chrono::steady_clock;

namespace {

// Forgets acme's token, so that the next request is a cold exchange.
void flush(const daemon_world& w) {
  const auto reply = unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme");
  REQUIRE(reply.status / 100 == 2);
}

// Whether the daemon's TCP connection to `port` has TCP_NODELAY set, read with
// getsockopt on a copy of its descriptor (pidfd_getfd, Linux 5.6; ptrace
// rights over the daemon, which root has). nullopt with `why` when this
// machine does not allow it; throws when the daemon holds no such connection.
std::optional<bool> daemon_no_delay(pid_t daemon, std::uint16_t port, std::string& why) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, daemon, 0));
  if (pidfd < 0) {
    why = std::string("pidfd_open: ") + std::strerror(errno);
    return std::nullopt;
  }
  std::optional<bool> found;
  const auto fd_folder = std::filesystem::path("/proc") / std::to_string(daemon) / "fd";
  for (const auto& entry : std::filesystem::directory_iterator(fd_folder)) {
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path(), ec).string().rfind("socket:", 0) != 0) continue;
    const int target = std::stoi(entry.path().filename().string());
    const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, target, 0));
    if (copy < 0) {
      why = std::string("pidfd_getfd: ") + std::strerror(errno);
      ::close(pidfd);
      return std::nullopt;
    }
    sockaddr_storage peer{};
    socklen_t size = sizeof peer;
    int no_delay = 0;
    socklen_t option_size = sizeof no_delay;
    if (::getpeername(copy, reinterpret_cast<sockaddr*>(&peer), &size) == 0 &&
        peer.ss_family == AF_INET &&
        ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port) == port &&
        ::getsockopt(copy, IPPROTO_TCP, TCP_NODELAY, &no_delay, &option_size) == 0) {
      found = no_delay != 0;
    }
    ::close(copy);
  }
  ::close(pidfd);
  if (!found)
    throw std::runtime_error("the daemon holds no connection to port " + std::to_string(port));
  return found;
}

}  // namespace

TEST_CASE("10 cold exchanges: each request reaches the server whole, in one TLS record") {
  // A request written in two pieces (head, then body) waits, with Nagle's
  // algorithm on, for the server's delayed acknowledgement of the first: ~40 ms
  // on a third to a half of the exchanges (issue 25). The stand-in counts the
  // TLS records each request came in: one write, one record.
  const auto env = without_proxy_variables();
  stand_in::connect_proxy proxy;
  proxy.start();
  world_options options;
  SUBCASE("direct") {}
  SUBCASE("through a CONNECT proxy") { options.config = {{"proxy", proxy.url()}}; }
  daemon_world w(options);
  for (int i = 0; i < 10; ++i) {
    flush(w);
    const auto reply = w.daemon->get("/v1/token?org=acme");
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["source"] == "exchange");
  }
  const auto requests = w.upstream.requests();
  REQUIRE(requests.size() == 10);
  for (const auto& request : requests) {
    CHECK(request.tls_records == 1);
    CHECK(request.form.at("personalAccessKey") == w.key);
  }
}

TEST_CASE("the daemon's connection to the auth server, or to its proxy, has TCP_NODELAY") {
  const auto env = without_proxy_variables();
  stand_in::connect_proxy proxy;
  proxy.start();
  daemon_world w({.start_daemon = false});
  std::uint16_t port = w.upstream.port();
  SUBCASE("direct") {}
  SUBCASE("through a CONNECT proxy") {
    w.config["proxy"] = proxy.url();
    port = proxy.port();
  }
  w.config["upstream_timeout"] = 3;
  w.start();
  // The server holds the request: the connection stays open to be looked at.
  w.tune([](stand_in::behaviour& b) { b.fault_mode = stand_in::fault::hang; });
  auto pending = std::async(std::launch::async, [socket = w.socket()] {
    return unix_request(socket, "GET", "/v1/token?org=acme");
  });
  for (const auto until = steady::now() + 10s;
       w.upstream.exchanges() == 0 && steady::now() < until;)
    std::this_thread::sleep_for(10ms);
  REQUIRE(w.upstream.exchanges() == 1);
  std::string why;
  const auto no_delay = daemon_no_delay(w.daemon->pid(), port, why);
  CHECK(pending.get().json()["error"] == "upstream_timeout");
  if (!no_delay) {
    skip_case("cannot look at the daemon's sockets here (" + why + ")");
    return;
  }
  CHECK(*no_delay);
}

TEST_CASE("an answer in pieces is read to its end, exchange after exchange") {
  // The stand-in writes the status line, the rest of the head and each half
  // of the body apart: a client that stopped at the first piece, or waited
  // for more than was announced, would fail or time out here.
  daemon_world w({.config = {{"upstream_timeout", 5}}, .behaviour = [] {
                    stand_in::behaviour b;
                    b.fault_mode = stand_in::fault::in_pieces;
                    return b;
                  }()});
  for (int i = 0; i < 5; ++i) {
    flush(w);
    const auto reply = w.daemon->get("/v1/token?org=acme");
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["source"] == "exchange");
  }
  CHECK(w.upstream.successful_exchanges() == 5);
}

TEST_CASE("a proxy that says 200 and then answers in plain HTTP: upstream_unavailable, recovered") {
  // A filtering proxy or a captive portal: after `CONNECT 200` it answers the
  // ClientHello with an HTTP page. That says nothing about the auth server's
  // TLS (SPEC §3): the organization backs off and, once the network behaves,
  // gets its token without anyone reloading the daemon.
  const auto env = without_proxy_variables();
  stand_in::connect_proxy proxy;
  proxy.start();
  proxy.answer_inside_tunnel(stand_in::connect_proxy::inside_tunnel{
      "HTTP/1.1 302 Found\r\nLocation: http://portal.example.test/login\r\n"
      "Content-Length: 0\r\n\r\n"});
  daemon_world w({.config = {{"proxy", proxy.url()}}});
  const auto refused = w.daemon->get("/v1/token?org=acme");
  CHECK(refused.status == 503);
  CHECK(refused.json()["error"] == "upstream_unavailable");
  const auto message = refused.json()["message"].get<std::string>();
  CHECK_MESSAGE(message.find("the answer is not TLS") != std::string::npos, message);
  CHECK(message.find(w.key) == std::string::npos);
  CHECK(w.org_view("acme")["state"] == "backoff");
  CHECK(w.upstream.exchanges() == 0);

  proxy.answer_inside_tunnel(std::nullopt);
  http_reply recovered;
  const auto until = steady::now() + 15s;
  do {
    std::this_thread::sleep_for(100ms);
    recovered = w.daemon->get("/v1/token?org=acme");
  } while (recovered.status != 200 && steady::now() < until);
  CHECK(recovered.status == 200);
  CHECK(recovered.json()["source"] == "exchange");
  CHECK(w.upstream.successful_exchanges() == 1);
  CHECK(w.org_view("acme")["state"] == "ok");
  CHECK(w.daemon->get("/v1/status").json()["last_reload"]["message"] == "started");
}
