// client/socket_client against sockets that misbehave after the connection is
// made (SPEC §5: exit 3 when no daemon answers): one that accepts and never
// answers, one that closes without answering, one that answers half and goes
// silent. The CLI's deadline is 65 s (client/commands.hpp), not a flag, so
// these run the same code with a deadline of a fraction of a second.
#include "client/commands.hpp"
#include "client/socket_client.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>

using actoken::client::socket_client;
using actoken::client::transport_error;
using actoken::testing::fault_scope;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A listening socket in a folder of its own (0700, this process's), which
// accepts each connection and hands it to `on_connection` on a thread;
// without one, it never accepts (connections wait in the backlog).
class odd_daemon {
 public:
  using handler = std::function<void(int fd)>;

  explicit odd_daemon(handler on_connection = nullptr) : on_connection_(std::move(on_connection)) {
    socket_ = folder_.path() / "actokend.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    if (on_connection_) {
      thread_ = std::thread([this] {
        const int connection = ::accept(fd_, nullptr, nullptr);
        if (connection >= 0) on_connection_(connection);
      });
    }
  }
  ~odd_daemon() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes a blocked accept
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  odd_daemon(const odd_daemon&) = delete;
  odd_daemon& operator=(const odd_daemon&) = delete;

  const fs::path& socket() const noexcept { return socket_; }

 private:
  handler on_connection_;
  actoken::testing::scratch_dir folder_{"actoken-socket-client"};
  fs::path socket_;
  int fd_ = -1;
  std::thread thread_;
};

// Reads the request's head, so that a close afterwards is a plain close.
void read_head(int fd) {
  std::string head;
  char c = 0;
  while (head.find("\r\n\r\n") == std::string::npos && ::read(fd, &c, 1) == 1) head.push_back(c);
}

}  // namespace

TEST_CASE("a daemon that accepts and never answers: timeout at the deadline") {
  const odd_daemon silent;  // never accepts: the connection waits in the backlog
  const socket_client client(silent.socket(), 300ms);
  const auto started = std::chrono::steady_clock::now();
  const auto result = client.call("GET", "/v1/health");
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(result.error == transport_error::timeout);
  CHECK(took >= 250ms);
  CHECK(took < 10s);
}

TEST_CASE("a daemon that reads the request and holds it: timeout, and the CLI exits 3") {
  std::promise<void> done;
  auto finished = done.get_future();
  const odd_daemon holding([&finished](int fd) {
    read_head(fd);
    finished.wait_for(10s);  // hold the connection until the client has given up
    ::close(fd);
  });
  std::ostringstream out;
  std::ostringstream err;
  actoken::client::context ctx(out, err);
  ctx.socket = holding.socket();
  ctx.timeout = 300ms;
  actoken::client::command_line command;
  command.kind = actoken::client::command_kind::ping;
  CHECK(actoken::client::run_command(command, ctx) == 3);
  done.set_value();
  CHECK(out.str().empty());
  CHECK(err.str() ==
        "actoken: actokend at " + holding.socket().string() + " did not answer in time\n");
}

TEST_CASE("a daemon that closes without answering: closed, not a timeout") {
  const odd_daemon closing([](int fd) {
    read_head(fd);
    ::close(fd);
  });
  const socket_client client(closing.socket(), 5s);
  const auto started = std::chrono::steady_clock::now();
  const auto result = client.call("GET", "/v1/health");
  CHECK(result.error == transport_error::closed);
  CHECK(std::chrono::steady_clock::now() - started < 4s);
}

TEST_CASE("half an answer, then silence: timeout, never a truncated body taken as the answer") {
  std::promise<void> done;
  auto finished = done.get_future();
  const odd_daemon halting([&finished](int fd) {
    read_head(fd);
    const std::string half =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: 40\r\n\r\n{\"status\":";
    (void)!::write(fd, half.data(), half.size());
    finished.wait_for(10s);
    ::close(fd);
  });
  const socket_client client(halting.socket(), 300ms);
  const auto result = client.call("GET", "/v1/health");
  done.set_value();
  CHECK(result.error == transport_error::timeout);
  CHECK_FALSE(result.answered());
}

TEST_CASE("half an answer, then a close: protocol, never the half taken as the answer") {
  const odd_daemon halting([](int fd) {
    read_head(fd);
    const std::string half =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: 40\r\n\r\n{\"status\":";
    (void)!::write(fd, half.data(), half.size());
    ::close(fd);
  });
  const socket_client client(halting.socket(), 5s);
  const auto result = client.call("GET", "/v1/health");
  CHECK(result.error == transport_error::protocol);
  CHECK_FALSE(result.answered());
}

TEST_CASE("before connecting: an empty path, a path too long for sockaddr_un, nothing there") {
  const auto empty = socket_client("", 300ms).call("GET", "/v1/health");
  CHECK(empty.error == transport_error::no_socket);
  CHECK(empty.detail == "empty socket path");

  // sun_path holds 108 bytes with the NUL: 107 is the longest path.
  const fs::path too_long = "/tmp/" + std::string(103, 'x');
  REQUIRE(too_long.native().size() == 108);
  const auto long_result = socket_client(too_long, 300ms).call("GET", "/v1/health");
  CHECK(long_result.error == transport_error::path_too_long);
  CHECK(long_result.detail == "socket path is longer than 107 bytes");

  const actoken::testing::scratch_dir scratch("actoken-socket-client");
  const fs::path& folder = scratch.path();
  const auto missing = socket_client(folder / "actokend.sock", 300ms).call("GET", "/v1/health");
  CHECK(missing.error == transport_error::no_socket);

  // A socket file nobody listens on any more: refused, not a timeout.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto path = (folder / "dead.sock").string();
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
  }
  const auto dead = socket_client(folder / "dead.sock", 300ms).call("GET", "/v1/health");
  CHECK(dead.error == transport_error::refused);
  fs::remove_all(folder);
}

// The answers of the system calls no daemon can provoke, through tests/fault
// (faults hit this thread only, never the daemon's).
namespace {

// Answers 200 to a request already read.
void answer_ok_after_read(int fd) {
  const std::string answer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
      "{\"status\":\"ok\"}";
  // The client may be gone already (a fault ended its call): no SIGPIPE.
  (void)!::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::close(fd);
}

void answer_ok(int fd) {
  read_head(fd);
  answer_ok_after_read(fd);
}

// The body the tests PUT, and what reads up to its end.
constexpr std::string_view put_body = "k3y+body/==";
std::string read_through_body(int fd) {
  std::string received;
  char buffer[4096];
  while (received.find(put_body) == std::string::npos) {
    const auto got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    received.append(buffer, static_cast<std::size_t>(got));
  }
  return received;
}

void answer_ok_to_put(int fd) {
  read_through_body(fd);
  answer_ok_after_read(fd);
}

}  // namespace

TEST_CASE("socket, connect and SO_PEERCRED failing: each is its own error, nothing is sent") {
  const odd_daemon daemon(answer_ok);
  const socket_client client(daemon.socket(), 5s);
  {
    const fault_scope f({.call = "socket", .error = EMFILE});
    const auto result = client.call("GET", "/v1/health");
    CHECK(result.error == transport_error::io);
    CHECK(result.detail == "Too many open files");
  }
  {
    const fault_scope f({.call = "connect", .error = EAGAIN});
    CHECK(client.call("GET", "/v1/health").error == transport_error::timeout);
  }
  {
    const fault_scope f({.call = "connect", .error = EACCES});
    CHECK(client.call("GET", "/v1/health").error == transport_error::permission);
  }
  {
    const fault_scope f({.call = "connect", .error = ENETDOWN});
    CHECK(client.call("GET", "/v1/health").error == transport_error::io);
  }
  {
    const fault_scope f({.call = "getsockopt", .error = EBADF});
    const auto result = client.call("GET", "/v1/health");
    CHECK(result.error == transport_error::untrusted);
    CHECK(result.detail ==
          "cannot tell who runs the daemon there (SO_PEERCRED: Bad file descriptor)");
  }
  {
    const fault_scope f({.call = "lstat", .error = EACCES});
    CHECK(client.check().error == transport_error::permission);
  }
  {
    const fault_scope f({.call = "fcntl", .error = EBADF});
    CHECK(client.call("GET", "/v1/health").error == transport_error::io);
  }
}

TEST_CASE("a request goes out whole, head and body, in one sendmsg") {
  // The daemon reads it in one read; nothing waits for a second piece, and the
  // body (which may hold a key) is never copied to join the head.
  std::promise<std::string> request;
  const odd_daemon daemon([&request](int fd) {
    request.set_value(read_through_body(fd));
    answer_ok_after_read(fd);
  });
  const fault_scope sendmsgs({.call = "sendmsg", .times = -1, .short_count = 1 << 30});
  const fault_scope sends({.call = "send", .times = -1, .short_count = 1 << 30});
  const auto result =
      socket_client(daemon.socket(), 5s).call("PUT", "/v1/orgs/acme/key", put_body, true);
  CHECK(result.answered());
  CHECK(sendmsgs.hits() == 1);
  CHECK(sends.hits() == 0);
  const auto received = request.get_future().get();
  CHECK(received.starts_with("PUT /v1/orgs/acme/key HTTP/1.1\r\n"));
  CHECK(received.ends_with("\r\n\r\nk3y+body/=="));
}

TEST_CASE("sending: EINTR and EAGAIN carry on, short sends add up, EPIPE is closed, others io") {
  SUBCASE("interrupted, would block, short: the answer still comes") {
    const odd_daemon daemon(answer_ok_to_put);
    const fault_scope interrupted({.call = "sendmsg", .error = EINTR});
    const fault_scope would_block({.call = "sendmsg", .error = EAGAIN});
    const fault_scope short_sends({.call = "sendmsg", .times = -1, .short_count = 7});
    // A body too: a short send may stop inside the head, at its end, or in the body.
    const auto result =
        socket_client(daemon.socket(), 5s).call("PUT", "/v1/orgs/acme/key", put_body, true);
    CHECK(result.answered());
    CHECK(interrupted.hits() == 1);
    CHECK(would_block.hits() == 1);
    CHECK(short_sends.hits() > 3);
  }
  SUBCASE("a wait for room that fails is io") {
    const odd_daemon daemon(answer_ok);
    const fault_scope would_block({.call = "sendmsg", .error = EAGAIN});
    const fault_scope poll_fails({.call = "poll", .error = ENOMEM});
    const auto result = socket_client(daemon.socket(), 5s).call("GET", "/v1/health");
    CHECK(result.error == transport_error::io);
    CHECK(result.detail == "Cannot allocate memory");
  }
  SUBCASE("EPIPE") {
    const odd_daemon daemon(answer_ok);
    const fault_scope f({.call = "sendmsg", .error = EPIPE});
    CHECK(socket_client(daemon.socket(), 5s).call("GET", "/v1/health").error ==
          transport_error::closed);
  }
  SUBCASE("EIO") {
    const odd_daemon daemon(answer_ok);
    const fault_scope f({.call = "sendmsg", .error = EIO});
    CHECK(socket_client(daemon.socket(), 5s).call("GET", "/v1/health").error ==
          transport_error::io);
  }
}

TEST_CASE("receiving: EINTR and EAGAIN carry on, byte-by-byte answers add up, resets are closed") {
  SUBCASE("interrupted, would block with an interrupted wait, one byte at a time") {
    const odd_daemon daemon(answer_ok);
    const fault_scope interrupted({.call = "recv", .error = EINTR});
    const fault_scope would_block({.call = "recv", .error = EAGAIN});
    const fault_scope poll_interrupted({.call = "poll", .error = EINTR});
    const fault_scope bytes({.call = "recv", .times = -1, .short_count = 1});
    const auto result = socket_client(daemon.socket(), 5s).call("GET", "/v1/health");
    REQUIRE(result.answered());
    CHECK(result.response.body == "{\"status\":\"ok\"}");
    CHECK(interrupted.hits() == 1);
    CHECK(would_block.hits() == 1);
    CHECK(poll_interrupted.hits() == 1);
    CHECK(bytes.hits() > 80);
  }
  SUBCASE("ECONNRESET") {
    const odd_daemon daemon(answer_ok);
    const fault_scope f({.call = "recv", .error = ECONNRESET});
    CHECK(socket_client(daemon.socket(), 5s).call("GET", "/v1/health").error ==
          transport_error::closed);
  }
  SUBCASE("EIO") {
    const odd_daemon daemon(answer_ok);
    const fault_scope f({.call = "recv", .error = EIO});
    CHECK(socket_client(daemon.socket(), 5s).call("GET", "/v1/health").error ==
          transport_error::io);
  }
  SUBCASE("a wait for the answer that fails is io") {
    const odd_daemon daemon(answer_ok);
    const fault_scope would_block({.call = "recv", .error = EAGAIN});
    const fault_scope poll_fails({.call = "poll", .error = EBADF});
    CHECK(socket_client(daemon.socket(), 5s).call("GET", "/v1/health").error ==
          transport_error::io);
  }
}
