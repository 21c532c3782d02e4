// The commands against a stand-in daemon: a thread answering canned HTTP
// responses on a Unix socket in a temporary directory (no network).

#include "client/commands.hpp"
#include "client/daemon_calls.hpp"
#include "client/socket_path.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using actoken::client::command_kind;
using actoken::client::command_line;
using actoken::client::context;
using actoken::client::run_command;

namespace {

std::string json_answer(unsigned status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Cache-Control: no-store\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

std::string error_answer(unsigned status, const std::string& code, const std::string& message) {
  return json_answer(status, R"({"error":")" + code + R"(","message":")" + message + R"("})");
}

// Serves one canned answer per connection, in order, and records each request.
class fake_daemon {
 public:
  explicit fake_daemon(std::vector<std::string> answers) : answers_(std::move(answers)) {
    socket_ = dir_.path() / "actokend.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  fake_daemon(const fake_daemon&) = delete;
  fake_daemon& operator=(const fake_daemon&) = delete;
  ~fake_daemon() { stop(); }

  const std::filesystem::path& socket() const { return socket_; }

  // The requests received; stops serving first, so the list is final.
  const std::vector<std::string>& requests() {
    stop();
    return requests_;
  }

  // Connections closed without a request (the CLI's check before `key add`); final
  // once requests() was called.
  int silent_connections() const { return silent_connections_; }

 private:
  void stop() {
    if (thread_.joinable()) {
      ::shutdown(listen_fd_, SHUT_RDWR);  // wakes a blocked accept()
      thread_.join();
      ::close(listen_fd_);
    }
  }

  static std::string read_request(int fd) {
    std::string data;
    char chunk[4096];
    for (;;) {
      const auto head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        std::string lower = data.substr(0, head_end);
        for (auto& c : lower) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (const auto at = lower.find("content-length:"); at != std::string::npos) {
          length = std::stoul(lower.substr(at + 15));
        }
        if (data.size() >= head_end + 4 + length) {
          return data;
        }
      }
      const auto got = ::recv(fd, chunk, sizeof(chunk), 0);
      if (got <= 0) {
        return data;
      }
      data.append(chunk, static_cast<std::size_t>(got));
    }
  }

  void serve() {
    for (const auto& answer : answers_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      std::string request = fd < 0 ? std::string() : read_request(fd);
      // A connection that sends nothing is the CLI checking the daemon before
      // `key add` asks for the key: counted, but it takes no answer.
      while (fd >= 0 && request.empty()) {
        ++silent_connections_;
        ::close(fd);
        fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        request = fd < 0 ? std::string() : read_request(fd);
      }
      if (fd < 0) {
        return;
      }
      requests_.push_back(std::move(request));
      std::string_view rest(answer);
      while (!rest.empty()) {
        const auto sent = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (sent <= 0) {
          break;
        }
        rest.remove_prefix(static_cast<std::size_t>(sent));
      }
      ::close(fd);
    }
  }

  actoken::testing::scratch_dir dir_{"actoken-cli-test"};
  std::filesystem::path socket_;
  std::vector<std::string> answers_;
  std::vector<std::string> requests_;
  int silent_connections_ = 0;
  int listen_fd_ = -1;
  std::thread thread_;
};

// A context writing into strings.
struct harness {
  std::ostringstream out;
  std::ostringstream err;
  context ctx{out, err};

  explicit harness(const std::filesystem::path& socket) {
    ctx.socket = socket;
    ctx.timeout = std::chrono::seconds(20);
  }
};

command_line make(command_kind kind) {
  command_line command;
  command.kind = kind;
  return command;
}

std::string request_line(const std::string& request) {
  return request.substr(0, request.find("\r\n"));
}

std::string request_body(const std::string& request) {
  const auto at = request.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : request.substr(at + 4);
}

const std::string token_body =
    R"({"org":"acme","sub_org":null,"access_token":"tok-123","token_type":"Bearer",)"
    R"("expires_at":"2030-01-01T00:00:00Z","expires_in":3000,"obtained_at":"2029-12-31T23:00:00Z",)"
    R"("source":"cache"})";

}  // namespace

TEST_CASE("ping against a socket that does not exist exits 3 and names the path") {
  harness h("/nonexistent/actokend.sock");
  CHECK(run_command(make(command_kind::ping), h.ctx) == 3);
  CHECK(h.out.str().empty());
  const auto err = h.err.str();
  CHECK(err.starts_with("actoken: "));
  CHECK(err.find("/nonexistent/actokend.sock") != std::string::npos);
  CHECK(err.find("actokend") != std::string::npos);
  CHECK(err.find('\n') == err.size() - 1);
}

TEST_CASE("a socket file with no daemon behind it exits 3") {
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  const auto path = dir.path() / "stale.sock";
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    ::close(fd);  // bound, never listening: connect gets ECONNREFUSED
  }
  harness h(path);
  CHECK(run_command(make(command_kind::token), h.ctx) == 3);
  CHECK(h.err.str().find(path.string()) != std::string::npos);
}

TEST_CASE("a socket we may not open exits 4") {
  fake_daemon daemon({});
  REQUIRE(::chmod(daemon.socket().c_str(), 0) == 0);
  const auto refused = [&] {
    harness h(daemon.socket());
    return run_command(make(command_kind::ping), h.ctx) == 4 &&
           h.err.str().find("permission denied") != std::string::npos;
  };
  if (::geteuid() != 0) {
    CHECK(refused());
    return;
  }
  // Root may open any socket: the CLI runs in a child that has become nobody.
  REQUIRE(::chmod(daemon.socket().parent_path().c_str(), 0755) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const bool nobody =
        ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
    ::_exit(nobody ? (refused() ? 0 : 1) : 2);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 1: not refused with exit 4; 2: could not become nobody
}

TEST_CASE("token prints the token and a newline; the query is encoded") {
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  auto command = make(command_kind::token);
  command.token.org = "acme";
  command.token.sub_org = "a b&c";
  command.token.min_ttl = 60;
  CHECK(run_command(command, h.ctx) == 0);
  CHECK(h.out.str() == "tok-123\n");
  CHECK(h.err.str().empty());
  REQUIRE(daemon.requests().size() == 1);
  const auto& request = daemon.requests().front();
  CHECK(request_line(request) == "GET /v1/token?org=acme&sub_org=a%20b%26c&min_ttl=60 HTTP/1.1");
  CHECK(request.find("\r\nHost: localhost\r\n") != std::string::npos);
  CHECK(request.find("\r\nConnection: close\r\n") != std::string::npos);
}

TEST_CASE("token --json prints the daemon's object") {
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  h.ctx.json = true;
  CHECK(run_command(make(command_kind::token), h.ctx) == 0);
  const auto printed = nlohmann::json::parse(h.out.str());
  CHECK(printed == nlohmann::json::parse(token_body));
  CHECK(request_line(daemon.requests().front()) == "GET /v1/token HTTP/1.1");
}

TEST_CASE("header prints the Authorization header; --fresh is sent") {
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  auto command = make(command_kind::header);
  command.token.fresh = true;
  CHECK(run_command(command, h.ctx) == 0);
  CHECK(h.out.str() == "Authorization: Bearer tok-123\n");
  CHECK(request_line(daemon.requests().front()) == "GET /v1/token?fresh=1 HTTP/1.1");
}

TEST_CASE("daemon errors: the daemon's message on one line, the SPEC exit code") {
  struct expectation {
    unsigned status;
    const char* code;
    int exit;
  };
  const expectation table[] = {
      {409, "no_key", 5},
      {404, "unknown_org", 5},
      {502, "key_rejected", 6},
      {503, "rate_limited", 7},
      {504, "upstream_timeout", 7},
      {403, "forbidden", 4},
      {409, "ttl_unsatisfiable", 1},
      {502, "upstream_tls", 1},
      {400, "bad_request", 1},
  };
  for (const auto& row : table) {
    CAPTURE(row.code);
    fake_daemon daemon({error_answer(row.status, row.code, "trouble with acme")});
    harness h(daemon.socket());
    auto command = make(command_kind::token);
    command.token.org = "acme";
    CHECK(run_command(command, h.ctx) == row.exit);
    CHECK(h.out.str().empty());
    const auto err = h.err.str();
    CHECK(err.starts_with("actoken: trouble with acme"));
    CHECK(err.find('\n') == err.size() - 1);
  }
}

TEST_CASE("an answer without access_token is a failure") {
  fake_daemon daemon({json_answer(200, R"({"org":"acme"})")});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::token), h.ctx) == 1);
  CHECK(h.out.str().empty());
  CHECK(h.err.str().find("access_token") != std::string::npos);
}

TEST_CASE("a garbled answer is a failure, a silent close is unreachable") {
  {
    fake_daemon daemon({"this is not http\r\n\r\n"});
    harness h(daemon.socket());
    CHECK(run_command(make(command_kind::ping), h.ctx) == 1);
    CHECK(h.err.str().find("unexpected answer") != std::string::npos);
  }
  {
    fake_daemon daemon({""});
    harness h(daemon.socket());
    CHECK(run_command(make(command_kind::ping), h.ctx) == 3);
    CHECK(h.err.str().find("closed the connection") != std::string::npos);
  }
}

TEST_CASE("orgs prints the table, --json the object") {
  const std::string body =
      R"({"orgs":[{"name":"acme","auth_url":"https://auth.appcircle.io","api_version":"v3",)"
      R"("has_key":true,"key_source":"key_dir","state":"ok","last_error":null,"clock_skew_s":0,)"
      R"("tokens":[{"sub_org":null,"expires_at":"2030-01-01T00:00:00Z","expires_in":2520,)"
      R"("obtained_at":"2029-12-31T23:00:00Z"}]}]})";
  fake_daemon daemon({json_answer(200, body), json_answer(200, body)});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::orgs), h.ctx) == 0);
  CHECK(h.out.str() ==
        "ORG   STATE  TOKEN EXPIRES IN  LAST ERROR\n"
        "acme  ok     in 42m            -\n");
  harness j(daemon.socket());
  j.ctx.json = true;
  CHECK(run_command(make(command_kind::orgs), j.ctx) == 0);
  CHECK(nlohmann::json::parse(j.out.str()) == nlohmann::json::parse(body));
  CHECK(request_line(daemon.requests().front()) == "GET /v1/orgs HTTP/1.1");
}

TEST_CASE("status and ping") {
  fake_daemon daemon({json_answer(200, R"({"version":"9.9.9","uptime_s":61,"orgs":1})"),
                      json_answer(200, R"({"status":"ok","version":"9.9.9"})"),
                      json_answer(200, R"({"status":"starting","version":"9.9.9"})")});
  harness status(daemon.socket());
  CHECK(run_command(make(command_kind::status), status.ctx) == 0);
  CHECK(status.out.str().starts_with("actokend 9.9.9 at " + daemon.socket().string() + "\n"));
  CHECK(status.out.str().find("uptime:         1m\n") != std::string::npos);

  harness healthy(daemon.socket());
  CHECK(run_command(make(command_kind::ping), healthy.ctx) == 0);
  CHECK(healthy.out.str().find("healthy") != std::string::npos);

  harness unhealthy(daemon.socket());
  CHECK(run_command(make(command_kind::ping), unhealthy.ctx) == 1);
  CHECK(unhealthy.err.str().find("starting") != std::string::npos);

  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 3);
  CHECK(request_line(requests[0]) == "GET /v1/status HTTP/1.1");
  CHECK(request_line(requests[1]) == "GET /v1/health HTTP/1.1");
}

TEST_CASE("key add sends the trimmed key from stdin as JSON, and never prints it") {
  fake_daemon daemon({json_answer(200, R"({"org":"acme","persisted":false,"verified":true})")});
  harness h(daemon.socket());
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string input = "  c2VjcmV0+/key==  \n";
  REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fds[1]);
  h.ctx.input_fd = fds[0];

  auto command = make(command_kind::key_add);
  command.org = "acme";
  command.auth_url = "https://auth.example.com";
  command.api_version = "v2";
  command.ephemeral = true;
  CHECK(run_command(command, h.ctx) == 0);
  ::close(fds[0]);
  CHECK(h.out.str() ==
        "added the key for acme (in memory only, verified: the auth server issued a token)\n");
  CHECK(h.out.str().find("c2VjcmV0") == std::string::npos);
  CHECK(h.err.str().find("c2VjcmV0") == std::string::npos);

  const auto& request = daemon.requests().front();
  CHECK(request_line(request) == "PUT /v1/orgs/acme/key HTTP/1.1");
  CHECK(request.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  const auto body = nlohmann::json::parse(request_body(request));
  CHECK(body ==
        nlohmann::json::parse(R"({"key":"c2VjcmV0+/key==","auth_url":"https://auth.example.com",
                                         "api_version":"v2","persist":false,"verify":true})"));
}

TEST_CASE("key add with nothing on stdin fails before asking the daemon") {
  fake_daemon daemon({json_answer(200, "{}")});
  harness h(daemon.socket());
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(null_fd >= 0);
  h.ctx.input_fd = null_fd;
  auto command = make(command_kind::key_add);
  command.org = "acme";
  CHECK(run_command(command, h.ctx) == 1);
  ::close(null_fd);
  CHECK(h.err.str().find("no key") != std::string::npos);
  CHECK(daemon.requests().empty());
}

TEST_CASE("key add reaches the daemon before it reads the key") {
  // SPEC §5: no one types a key for a daemon that is not there, or not genuine.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string input = "c2VjcmV0LWtleQ\n";
  REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fds[1]);
  auto command = make(command_kind::key_add);
  command.org = "acme";
  {
    harness h("/nonexistent/actokend.sock");
    h.ctx.input_fd = fds[0];
    CHECK(run_command(command, h.ctx) == 3);
    CHECK(h.err.str().find("/nonexistent/actokend.sock") != std::string::npos);
  }
  if (::geteuid() == 0) {
    // Refused for its folder's owner: again before the key is read.
    fake_daemon daemon({json_answer(200, R"({"org":"acme","persisted":true})")});
    REQUIRE(::chown(daemon.socket().parent_path().c_str(), 65534, 65534) == 0);
    harness h(daemon.socket());
    h.ctx.input_fd = fds[0];
    CHECK(run_command(command, h.ctx) == 3);
    CHECK(h.err.str().find("its folder belongs to uid 65534") != std::string::npos);
    CHECK(daemon.requests().empty());
    CHECK(daemon.silent_connections() == 0);
  }
  // The key is still in the pipe: nothing read it.
  std::string left(64, '\0');
  const auto got = ::read(fds[0], left.data(), left.size());
  ::close(fds[0]);
  CHECK(got == static_cast<ssize_t>(input.size()));

  // A genuine daemon: checked first (a connection that sends nothing), then the PUT.
  fake_daemon daemon({json_answer(200, R"({"org":"acme","persisted":true})")});
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fds[1]);
  harness h(daemon.socket());
  h.ctx.input_fd = fds[0];
  CHECK(run_command(command, h.ctx) == 0);
  ::close(fds[0]);
  REQUIRE(daemon.requests().size() == 1);
  CHECK(daemon.silent_connections() == 1);
  CHECK(request_line(daemon.requests().front()) == "PUT /v1/orgs/acme/key HTTP/1.1");
}

TEST_CASE("a socket in a folder of another user, or in one others can write, gets nothing") {
  if (::geteuid() != 0) {
    return actoken::testing::skip_case("not root: cannot give a folder to another user");
  }
  for (const bool foreign_owner : {true, false}) {
    CAPTURE(foreign_owner);
    fake_daemon daemon({json_answer(200, token_body)});
    const auto folder = daemon.socket().parent_path();
    if (foreign_owner) {
      REQUIRE(::chown(folder.c_str(), 65534, 65534) == 0);
    } else {
      REQUIRE(::chmod(folder.c_str(), 01777) == 0);
    }
    harness h(daemon.socket());
    CHECK(run_command(make(command_kind::token), h.ctx) == 3);
    const auto err = h.err.str();
    CHECK(err.starts_with("actoken: refusing " + daemon.socket().string() + ": its folder "));
    CHECK(err.find(foreign_owner ? "belongs to uid 65534" : "is writable by others (mode 1777)") !=
          std::string::npos);
    CHECK(h.out.str().empty());
    CHECK(daemon.requests().empty());
    CHECK(daemon.silent_connections() == 0);
  }
}

TEST_CASE("key remove and flush") {
  fake_daemon daemon({json_answer(200, R"({"org":"acme","removed":true})"),
                      json_answer(200, R"({"evicted":2})"), json_answer(200, R"({"evicted":1})")});
  auto remove = make(command_kind::key_remove);
  remove.org = "acme";
  harness h1(daemon.socket());
  CHECK(run_command(remove, h1.ctx) == 0);
  CHECK(h1.out.str() == "removed the key for acme\n");

  auto flush_one = make(command_kind::flush);
  flush_one.org = "acme";
  harness h2(daemon.socket());
  CHECK(run_command(flush_one, h2.ctx) == 0);
  CHECK(h2.out.str() == "evicted 2 cached tokens of acme\n");

  harness h3(daemon.socket());
  CHECK(run_command(make(command_kind::flush), h3.ctx) == 0);
  CHECK(h3.out.str() == "evicted 1 cached token\n");

  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 3);
  CHECK(request_line(requests[0]) == "DELETE /v1/orgs/acme/key HTTP/1.1");
  CHECK(request_line(requests[1]) == "DELETE /v1/tokens?org=acme HTTP/1.1");
  CHECK(request_line(requests[2]) == "DELETE /v1/tokens HTTP/1.1");
}

TEST_CASE("child_environment replaces the token variables and keeps the rest") {
  std::string a = "PATH=/bin";
  std::string b = "AC_ACCESS_TOKEN=stale";
  std::string c = "OTHER=1";
  char* environment[] = {a.data(), b.data(), c.data(), nullptr};
  const auto env = actoken::client::child_environment(environment, {"AC_ACCESS_TOKEN"}, "tok");
  CHECK(env == std::vector<std::string>{"PATH=/bin", "OTHER=1", "AC_ACCESS_TOKEN=tok"});
  const auto two = actoken::client::child_environment(environment, {"X", "OTHER", "X"}, "tok");
  CHECK(two ==
        std::vector<std::string>{"PATH=/bin", "AC_ACCESS_TOKEN=stale", "X=tok", "OTHER=tok"});
  CHECK(actoken::client::child_environment(nullptr, {"T"}, "v") == std::vector<std::string>{"T=v"});
}

TEST_CASE("exec hands the command its arguments as given and the token only in the environment") {
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  std::string path = "PATH=/usr/bin:/bin";
  char* environment[] = {path.data(), nullptr};
  h.ctx.environment = environment;
  std::vector<std::string> seen_argv;
  std::vector<std::string> seen_env;
  h.ctx.exec = [&](const char* file, char* const argv[], char* const envp[]) {
    CHECK(std::string(file) == "my-tool");
    for (auto* const* arg = argv; *arg != nullptr; ++arg) {
      seen_argv.emplace_back(*arg);
    }
    for (auto* const* entry = envp; *entry != nullptr; ++entry) {
      seen_env.emplace_back(*entry);
    }
    errno = ENOENT;
    return -1;
  };
  auto command = make(command_kind::exec);
  command.exec_argv = {"my-tool", "--flag", "x y"};
  command.env_names = {"AC_ACCESS_TOKEN", "MY_TOKEN"};
  CHECK(run_command(command, h.ctx) == 127);
  CHECK(seen_argv == std::vector<std::string>{"my-tool", "--flag", "x y"});
  CHECK(seen_env == std::vector<std::string>{"PATH=/usr/bin:/bin", "AC_ACCESS_TOKEN=tok-123",
                                             "MY_TOKEN=tok-123"});
  CHECK(h.err.str() == "actoken: my-tool: command not found\n");
}

TEST_CASE("exec: 127 when the command does not exist, 126 when it is not executable") {
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  const auto not_executable = dir.path() / "script";
  {
    const int fd = ::open(not_executable.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  fake_daemon daemon({json_answer(200, token_body), json_answer(200, token_body)});
  {
    harness h(daemon.socket());
    auto command = make(command_kind::exec);
    command.exec_argv = {(dir.path() / "missing").string()};
    CHECK(run_command(command, h.ctx) == 127);
    CHECK(h.err.str().find("command not found") != std::string::npos);
  }
  {
    harness h(daemon.socket());
    auto command = make(command_kind::exec);
    command.exec_argv = {not_executable.string()};
    CHECK(run_command(command, h.ctx) == 126);
    CHECK(h.err.str().find("ermission denied") != std::string::npos);
  }
}

namespace {

const std::string two_orgs =
    R"({"orgs":[{"name":"acme","auth_url":"https://auth.appcircle.io","state":"ok","last_error":null,"tokens":[]},)"
    R"({"name":"beta","auth_url":"https://auth.corp.example","state":"ok","last_error":null,"tokens":[]}]})";

std::string request_target(const std::string& request) {
  const auto line = request_line(request);
  const auto start = line.find(' ') + 1;
  return line.substr(start, line.rfind(' ') - start);
}

}  // namespace

TEST_CASE("an unknown organization: the nearest name the caller may use, never `key add`") {
  fake_daemon daemon({error_answer(404, "unknown_org", "no organization named acmee"),
                      json_answer(200, two_orgs)});
  harness h(daemon.socket());
  auto command = make(command_kind::token);
  command.token.org = "acmee";
  CHECK(run_command(command, h.ctx) == 5);
  CHECK(h.out.str().empty());
  CHECK(h.err.str() == "actoken: no organization named acmee; did you mean acme?\n");
  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 2);
  CHECK(request_target(requests[0]) == "/v1/token?org=acmee");
  CHECK(request_target(requests[1]) == "/v1/orgs");
}

TEST_CASE("an unknown organization far from every name: the names, or the message alone") {
  {
    fake_daemon daemon({error_answer(404, "unknown_org", "no organization named zulu"),
                        json_answer(200, two_orgs)});
    harness h(daemon.socket());
    auto command = make(command_kind::exec);
    command.token.org = "zulu";
    command.exec_argv = {"true"};
    CHECK(run_command(command, h.ctx) == 5);
    CHECK(h.err.str() == "actoken: no organization named zulu; you may use acme and beta\n");
  }
  {
    // /v1/orgs failing too: the daemon's message alone, and still no `key add` hint.
    fake_daemon daemon({error_answer(404, "unknown_org", "no organization named zulu"),
                        error_answer(500, "internal", "oops")});
    harness h(daemon.socket());
    auto command = make(command_kind::flush);
    command.org = "zulu";
    CHECK(run_command(command, h.ctx) == 5);
    CHECK(h.err.str() == "actoken: no organization named zulu\n");
  }
}

TEST_CASE("no organization named, no default_org, several: exit 2 listing them") {
  fake_daemon daemon(
      {error_answer(400, "bad_request", "name an organization with org= (there is no default_org)"),
       json_answer(200, two_orgs)});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::token), h.ctx) == 2);
  CHECK(h.out.str().empty());
  CHECK(h.err.str() ==
        "actoken: name an organization (there is no default_org); you may use acme and beta\n");
  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 2);
  CHECK(request_target(requests[0]) == "/v1/token");
  CHECK(request_target(requests[1]) == "/v1/orgs");
}

TEST_CASE("no organization named and none the caller may use: exit 5, and why") {
  const std::string no_default = "name an organization with org= (there is no default_org)";
  {
    fake_daemon daemon({error_answer(400, "bad_request", no_default),
                        json_answer(200, R"({"orgs":[],"hidden":3})")});
    harness h(daemon.socket());
    CHECK(run_command(make(command_kind::header), h.ctx) == 5);
    CHECK(h.err.str() ==
          "actoken: there is no organization you may use (3 hidden from you: see "
          "`actoken whoami`)\n");
  }
  {
    fake_daemon daemon(
        {error_answer(400, "bad_request", no_default), json_answer(200, R"({"orgs":[]})")});
    harness h(daemon.socket());
    CHECK(run_command(make(command_kind::token), h.ctx) == 5);
    CHECK(h.err.str() ==
          "actoken: actokend has no organization yet; add one with `actoken key add ORG`\n");
  }
}

TEST_CASE("other errors cost no second request") {
  fake_daemon daemon({error_answer(400, "bad_request", "sub_org x is neither an alias nor a GUID"),
                      error_answer(400, "bad_request", "name an organization with org=")});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::token), h.ctx) == 1);
  // A named organization and the same words: the daemon did not ask for a name.
  harness named(daemon.socket());
  auto command = make(command_kind::token);
  command.token.org = "acme";
  CHECK(run_command(command, named.ctx) == 1);
  CHECK(daemon.requests().size() == 2);
}

TEST_CASE("orgs: STATE reflects the last exchange; LAST ERROR does not repeat the org") {
  const std::string body =
      R"({"orgs":[)"
      R"({"name":"acme","state":"ok","last_error":{"code":"upstream_timeout",)"
      R"("message":"organization acme: the auth server did not answer in 15 s","at":"2030-01-01T00:00:00Z"},)"
      R"("tokens":[{"sub_org":null,"expires_in":2520}]},)"
      R"({"name":"beta","state":"backoff","last_error":{"code":"upstream_unavailable",)"
      R"("message":"organization beta (sub-organization mobile): connection refused"},"tokens":[]},)"
      R"({"name":"corp","state":"ok","last_error":null,"tokens":[]},)"
      R"({"name":"loose","state":"no_key","last_error":{"code":"no_key",)"
      R"("message":"key file /k/loose.key has mode 0644"},"tokens":[]}],"hidden":2})";
  fake_daemon daemon({json_answer(200, body)});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::orgs), h.ctx) == 0);
  CHECK(h.out.str() ==
        "ORG    STATE    TOKEN EXPIRES IN  LAST ERROR\n"
        "acme   failing  in 42m            the auth server did not answer in 15 s\n"
        "beta   backoff  -                 sub-organization mobile: connection refused\n"
        "corp   ok       -                 -\n"
        "loose  no_key   -                 key file /k/loose.key has mode 0644\n"
        "2 more organizations are hidden from you (see `actoken whoami`)\n");
}

TEST_CASE("orgs: nothing visible but some hidden says so, not `add a key`") {
  fake_daemon daemon({json_answer(200, R"({"orgs":[],"hidden":1})")});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::orgs), h.ctx) == 0);
  CHECK(h.out.str() == "1 organization is hidden from you (see `actoken whoami`)\n");
}

TEST_CASE("whoami prints who the daemon takes the caller for, --json the object") {
  const std::string body =
      R"({"uid":1001,"user":"builder","gid":1001,)"
      R"("groups":[{"gid":2000,"name":"developers"},{"gid":1001,"name":null}],"groups_total":2,)"
      R"("admin":false,)"
      R"("orgs":[{"name":"acme","via":"users: builder","root":true,)"
      R"("sub_orgs":[{"alias":"mobile","id":"9b2f6d1e-0000-4000-8000-000000000001","via":"users: builder"},)"
      R"({"alias":null,"id":"9b2f6d1e-0000-4000-8000-000000000002","via":"groups: mobile-team"}],)"
      R"("any_sub_org":true},)"
      R"({"name":"beta","via":"allow (top level) groups: developers","root":false,"sub_orgs":[],)"
      R"("any_sub_org":false}]})";
  fake_daemon daemon(
      {json_answer(200, body), json_answer(200, body),
       json_answer(200, R"({"uid":65534,"user":null,"gid":65534,)"
                        R"("groups":[{"gid":65534,"name":null}],"admin":false,"orgs":[]})"),
       // A peer with 65,536 groups: the daemon lists 64 and says how many there are.
       json_answer(200, R"({"uid":65534,"user":null,"gid":7,)"
                        R"("groups":[{"gid":2000,"name":"developers"},{"gid":7,"name":null}],)"
                        R"("groups_total":65536,"admin":false,"orgs":[]})")});
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::whoami), h.ctx) == 0);
  CHECK(h.out.str() ==
        "user builder (uid 1001), gid 1001\n"
        "groups: developers (2000), 1001\n"
        "admin: no\n"
        "ORG   VIA                                                   SUB-ORGANIZATIONS\n"
        "acme  users: builder                                        mobile, "
        "9b2f6d1e-0000-4000-8000-000000000002 (groups: mobile-team), any other GUID\n"
        "beta  allow (top level) groups: developers (no root token)  -\n");
  harness j(daemon.socket());
  j.ctx.json = true;
  CHECK(run_command(make(command_kind::whoami), j.ctx) == 0);
  CHECK(nlohmann::json::parse(j.out.str()) == nlohmann::json::parse(body));
  harness nobody(daemon.socket());
  CHECK(run_command(make(command_kind::whoami), nobody.ctx) == 0);
  CHECK(nobody.out.str() ==
        "uid 65534, gid 65534\ngroups: 65534\nadmin: no\nno organizations you may use\n");
  harness heavy(daemon.socket());
  CHECK(run_command(make(command_kind::whoami), heavy.ctx) == 0);
  CHECK(heavy.out.str() ==
        "uid 65534, gid 7\ngroups: developers (2000), 7, and 65534 more\nadmin: no\n"
        "no organizations you may use\n");
  CHECK(request_line(daemon.requests().front()) == "GET /v1/whoami HTTP/1.1");
}

TEST_CASE("reload prints the outcome; a refused config exits 1; forbidden exits 4") {
  fake_daemon daemon(
      {json_answer(200, R"({"at":"2030-01-01T00:00:00Z","ok":true,"message":"reloaded"})"),
       json_answer(200, R"({"at":"2030-01-01T00:00:01Z","ok":false,)"
                        R"("message":"/etc/a.json: min_ttl: must be a number"})"),
       json_answer(200, R"({"at":"2030-01-01T00:00:02Z","ok":false,"message":"bad"})"),
       error_answer(403, "forbidden", "uid 1002 may not reload the daemon: only admins may")});
  harness ok(daemon.socket());
  CHECK(run_command(make(command_kind::reload), ok.ctx) == 0);
  CHECK(ok.out.str() == "reloaded at 2030-01-01T00:00:00Z: reloaded\n");
  CHECK(ok.err.str().empty());
  harness refused(daemon.socket());
  CHECK(run_command(make(command_kind::reload), refused.ctx) == 1);
  CHECK(refused.out.str().empty());
  CHECK(refused.err.str() ==
        "actoken: the new configuration was refused; actokend keeps the previous one: "
        "/etc/a.json: min_ttl: must be a number\n");
  harness json_refused(daemon.socket());
  json_refused.ctx.json = true;
  CHECK(run_command(make(command_kind::reload), json_refused.ctx) == 1);
  CHECK(nlohmann::json::parse(json_refused.out.str())["ok"] == false);
  harness forbidden(daemon.socket());
  CHECK(run_command(make(command_kind::reload), forbidden.ctx) == 4);
  CHECK(forbidden.err.str().find("may not reload the daemon") != std::string::npos);
  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 4);
  CHECK(request_line(requests[0]) == "POST /v1/reload HTTP/1.1");
}

TEST_CASE("env prints the socket where a daemon answers, in the syntax of --shell or $SHELL") {
  struct expectation {
    const char* shell_env;
    std::optional<actoken::client::shell_syntax> flag;
    std::string line;  // with P for the socket's path
  };
  const std::vector<expectation> table{
      {nullptr, std::nullopt, "ACTOKEN_SOCKET=P; export ACTOKEN_SOCKET;\n"},
      {"/bin/bash", std::nullopt, "ACTOKEN_SOCKET=P; export ACTOKEN_SOCKET;\n"},
      {"/bin/tcsh", std::nullopt, "setenv ACTOKEN_SOCKET P;\n"},
      {"/usr/bin/fish", std::nullopt, "set -gx ACTOKEN_SOCKET P;\n"},
      {"/usr/bin/fish", actoken::client::shell_syntax::sh,
       "ACTOKEN_SOCKET=P; export ACTOKEN_SOCKET;\n"},
      {nullptr, actoken::client::shell_syntax::csh, "setenv ACTOKEN_SOCKET P;\n"},
  };
  fake_daemon daemon({});  // listening: a connection is all `env` asks for
  const auto path = daemon.socket().string();
  for (const auto& row : table) {
    auto line = row.line;
    line.replace(line.find('P'), 1, path);
    CAPTURE(line);
    harness h(daemon.socket());
    h.ctx.env = [&row](const char* name) -> const char* {
      return std::string_view(name) == "SHELL" ? row.shell_env : nullptr;
    };
    auto command = make(command_kind::env);
    command.shell = row.flag;
    CHECK(run_command(command, h.ctx) == 0);
    CHECK(h.out.str() == line);
    CHECK(h.err.str().empty());
  }
  harness j(daemon.socket());
  j.ctx.json = true;
  CHECK(run_command(make(command_kind::env), j.ctx) == 0);
  CHECK(nlohmann::json::parse(j.out.str()) == nlohmann::json{{"ACTOKEN_SOCKET", path}});
  CHECK(daemon.requests().empty());  // connected, never asked anything
}

TEST_CASE("env: the first candidate that answers; none: nothing on stdout, exit 3, how to start") {
  fake_daemon daemon({});
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  const auto missing = dir.path() / "none" / "actokend.sock";
  harness h(missing);
  h.ctx.socket_candidates = {missing, daemon.socket()};
  CHECK(run_command(make(command_kind::env), h.ctx) == 0);
  CHECK(h.out.str() == "ACTOKEN_SOCKET=" + daemon.socket().string() + "; export ACTOKEN_SOCKET;\n");

  harness none(missing);
  none.ctx.socket_candidates = {missing, dir.path() / "other.sock"};
  none.ctx.system_daemon_installed = [] { return false; };
  CHECK(run_command(make(command_kind::env), none.ctx) == 3);
  CHECK(none.out.str().empty());
  CHECK(none.err.str() == "actoken: no actokend answers at " + missing.string() +
                              " (No such file or directory) or " +
                              (dir.path() / "other.sock").string() +
                              " (No such file or directory); start one with `eval \"$(actokend "
                              "--detach)\"` (or `systemctl --user start actokend.socket`)\n");

  harness json_none(missing);
  json_none.ctx.json = true;
  CHECK(run_command(make(command_kind::env), json_none.ctx) == 3);
  const auto object = nlohmann::json::parse(json_none.out.str());
  CHECK(object["error"] == "daemon_unreachable");
  CHECK(object["message"].get<std::string>().find("actokend --detach") != std::string::npos);
}

TEST_CASE("env: a path a shell line cannot carry is refused") {
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  const auto folder = dir.path() / "a\nb";
  std::filesystem::create_directories(folder);
  ::chmod(folder.c_str(), 0700);
  const auto path = folder / "actokend.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  harness bad(path);
  CHECK(run_command(make(command_kind::env), bad.ctx) == 1);
  CHECK(bad.out.str().empty());
  CHECK(bad.err.str().find("control character") != std::string::npos);
  ::close(fd);
}

TEST_CASE("--json failures: the daemon's object or the CLI's own on stdout, same exit code") {
  fake_daemon daemon({error_answer(404, "unknown_org", "no organization named acmee"),
                      json_answer(200, R"({"orgs":[{"name":"acme"}],"hidden":0})")});
  harness h(daemon.socket());
  h.ctx.json = true;
  auto command = make(command_kind::token);
  command.token.org = "acmee";
  CHECK(run_command(command, h.ctx) == 5);
  CHECK(nlohmann::json::parse(h.out.str()) ==
        nlohmann::json{{"error", "unknown_org"}, {"message", "no organization named acmee"}});
  // The human line has the CLI's suggestion; the object stays the daemon's.
  CHECK(h.err.str() == "actoken: no organization named acmee; did you mean acme?\n");

  harness gone("/nonexistent/actokend.sock");
  gone.ctx.json = true;
  CHECK(run_command(make(command_kind::status), gone.ctx) == 3);
  const auto unreachable = nlohmann::json::parse(gone.out.str());
  CHECK(unreachable["error"] == "daemon_unreachable");
  CHECK(unreachable["message"].get<std::string>().find("/nonexistent/actokend.sock") !=
        std::string::npos);
  CHECK(gone.err.str().starts_with("actoken: cannot reach"));

  // Without --json: nothing on stdout.
  harness plain("/nonexistent/actokend.sock");
  CHECK(run_command(make(command_kind::status), plain.ctx) == 3);
  CHECK(plain.out.str().empty());
}

TEST_CASE("a token failure says when the daemon tries again, from its Retry-After") {
  const auto with_retry = [](unsigned status, const std::string& code, const std::string& wait) {
    const std::string body = R"({"error":")" + code + R"(","message":"organization acme: down"})";
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Type: application/json\r\nRetry-After: " + wait +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  fake_daemon daemon({with_retry(503, "upstream_unavailable", "37"),
                      with_retry(502, "key_rejected", "280"),
                      with_retry(503, "upstream_unavailable", "soon"),
                      with_retry(503, "upstream_unavailable", "37")});
  const auto token_err = [&] {
    harness h(daemon.socket());
    auto command = make(command_kind::token);
    command.token.org = "acme";
    run_command(command, h.ctx);
    return h.err.str();
  };
  CHECK(token_err() == "actoken: organization acme: down; next try in 37 s\n");
  CHECK(token_err() == "actoken: organization acme: down; next try in 280 s\n");
  CHECK(token_err() == "actoken: organization acme: down\n");  // not whole seconds: not shown
  // Other commands than a token's do not speak of a next try.
  harness h(daemon.socket());
  CHECK(run_command(make(command_kind::orgs), h.ctx) == 7);
  CHECK(h.err.str() == "actoken: organization acme: down\n");
}

TEST_CASE("the progress line says what the daemon is doing, from /v1/orgs") {
  using actoken::client::wait_reason;
  using actoken::client::waiting_line;
  const auto orgs = nlohmann::ordered_json::parse(R"({"orgs":[
      {"name":"acme","auth_url":"https://auth.appcircle.io","has_key":true,"key_source":"key_dir"},
      {"name":"corp","auth_url":"https://auth.corp.example:8443/","has_key":false,
       "key_source":"command"}],"hidden":0})");
  const std::filesystem::path socket = "/run/actoken/actokend.sock";
  const auto token = [](std::string org, std::string sub = "") {
    return wait_reason{wait_reason::kind::token, std::move(org), std::move(sub), ""};
  };
  CHECK(waiting_line(token("acme"), orgs, socket) == "exchanging acme's key at auth.appcircle.io…");
  CHECK(waiting_line(token("acme", "mobile"), orgs, socket) ==
        "exchanging acme's key at auth.appcircle.io for mobile…");
  CHECK(waiting_line(token("corp"), orgs, socket) == "waiting for corp's key_command…");
  CHECK(waiting_line(token("zulu"), orgs, socket) == "waiting for zulu's token…");
  CHECK(waiting_line(token(""), orgs, socket) == "waiting for a token from actokend…");
  CHECK(waiting_line(token("acme"), std::nullopt, socket) == "waiting for acme's token…");
  // The only organization, when none was named.
  const auto one = nlohmann::ordered_json::parse(
      R"({"orgs":[{"name":"acme","auth_url":"https://auth.appcircle.io","has_key":true}]})");
  CHECK(waiting_line(token(""), one, socket) == "exchanging acme's key at auth.appcircle.io…");
  CHECK(waiting_line({wait_reason::kind::key_check, "corp", "", ""}, orgs, socket) ==
        "verifying corp's key at auth.corp.example:8443…");
  CHECK(waiting_line({wait_reason::kind::key_check, "newco", "", "https://auth.new.example"}, orgs,
                     socket) == "verifying newco's key at auth.new.example…");
  CHECK(waiting_line({wait_reason::kind::key_check, "newco", "", ""}, orgs, socket) ==
        "verifying newco's key with its auth server…");
  CHECK(waiting_line({}, orgs, socket) == "waiting for actokend at /run/actoken/actokend.sock…");
}

TEST_CASE("no daemon at the system socket: the hint depends on whether one is installed") {
  const std::filesystem::path system_socket = "/run/actoken/actokend.sock";
  if (actoken::client::path_exists(system_socket)) {
    MESSAGE("a system daemon's socket exists here; skipped");
    return;
  }
  for (const bool installed : {true, false}) {
    CAPTURE(installed);
    harness h(system_socket);
    h.ctx.system_daemon_installed = [installed] { return installed; };
    CHECK(run_command(make(command_kind::token), h.ctx) == 3);
    const auto err = h.err.str();
    CHECK(err.find("sudo") == std::string::npos);
    CHECK(err.find(installed ? "`systemctl start actokend.socket` (as root)"
                             : "no user daemon runs either: start yours with `systemctl --user "
                               "start actokend.socket` (or `actokend &`)") != std::string::npos);
  }
}

TEST_CASE("appcircle-config writes the token into the file, prints the path, not the token") {
  actoken::testing::scratch_dir home{"actoken-cli-test"};
  fake_daemon daemon({json_answer(200, token_body), json_answer(200, two_orgs)});
  harness h(daemon.socket());
  const std::map<std::string, std::string> variables{{"HOME", home.path().string()}};
  h.ctx.env = [&variables](const char* name) -> const char* {
    const auto it = variables.find(name);
    return it == variables.end() ? nullptr : it->second.c_str();
  };
  auto command = make(command_kind::appcircle_config);
  command.token.org = "acme";
  command.token.min_ttl = 600;
  CHECK(run_command(command, h.ctx) == 0);
  const auto path = home.path() / ".config" / "@appcircle" / "cli-nodejs" / "config.json";
  CHECK(h.out.str().empty());
  const auto err = h.err.str();
  CHECK(err == "actoken: token for acme written to " + path.string() +
                   " (environment default, expires in 50m; a new file)\n");
  CHECK(err.find("tok-123") == std::string::npos);
  std::ifstream file(path);
  const auto written = nlohmann::json::parse(file);
  CHECK(written["envs"]["default"]["AC_ACCESS_TOKEN"] == "tok-123");
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0600);
  REQUIRE(::stat(path.parent_path().c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0700);
  const auto& requests = daemon.requests();
  REQUIRE(requests.size() == 2);
  CHECK(request_target(requests[0]) == "/v1/token?org=acme&min_ttl=600");
  CHECK(request_target(requests[1]) == "/v1/orgs");
}

TEST_CASE("appcircle-config refuses a file it cannot read as a config before asking for a token") {
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  const auto path = dir.path() / "config.json";
  const std::string before = "not json, but the user's";
  {
    std::ofstream file(path);
    file << before;
  }
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  auto command = make(command_kind::appcircle_config);
  command.file = path.string();
  CHECK(run_command(command, h.ctx) == 1);
  CHECK(h.err.str() == "actoken: refusing to change " + path.string() +
                           ": it is not JSON (error at byte 2); it was left unchanged\n");
  std::ifstream file(path);
  CHECK(std::string(std::istreambuf_iterator<char>(file), {}) == before);
  CHECK(daemon.requests().empty());
}

#ifdef ACTOKEN_CLI_PATH
namespace {

struct process_result {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs the real `actoken` binary with `args`; `extra_env` is added to our environment.
process_result run_cli(const std::vector<std::string>& args,
                       const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv_storage{ACTOKEN_CLI_PATH};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!text.starts_with("ACTOKEN_SOCKET=") && !text.starts_with("AC_ACCESS_TOKEN=")) {
      env_storage.emplace_back(text);
    }
  }
  env_storage.insert(env_storage.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (auto& entry : env_storage) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  REQUIRE(spawned == 0);

  process_result result;
  // Outputs are small: read stdout to its end, then stderr.
  for (auto [fd, text] :
       {std::pair{out_pipe[0], &result.out}, std::pair{err_pipe[0], &result.err}}) {
    char chunk[4096];
    for (;;) {
      const auto got = ::read(fd, chunk, sizeof(chunk));
      if (got <= 0) {
        break;
      }
      text->append(chunk, static_cast<std::size_t>(got));
    }
    ::close(fd);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace

TEST_CASE("the binary: --version, usage errors, and ping on a missing socket") {
  const auto version = run_cli({"--version"});
  CHECK(version.status == 0);
  CHECK(version.out.starts_with("actoken "));
  CHECK(run_cli({"--help"}).status == 0);
  CHECK(run_cli({"frobnicate"}).status == 2);
  CHECK(run_cli({"token", "--nope"}).status == 2);
  const auto ping = run_cli({"ping", "--socket", "/nonexistent"});
  CHECK(ping.status == 3);
  CHECK(ping.err.find("/nonexistent") != std::string::npos);
  CHECK(run_cli({"ping"}, {"ACTOKEN_SOCKET=/nonexistent/env.sock"})
            .err.find("/nonexistent/env.sock") != std::string::npos);
}

TEST_CASE("the binary: token end to end, and exec passes the command's status through") {
  fake_daemon daemon({json_answer(200, token_body), json_answer(200, token_body)});
  const auto token = run_cli({"token", "acme", "--socket", daemon.socket().string()});
  CHECK(token.status == 0);
  CHECK(token.out == "tok-123\n");
  CHECK(token.err.empty());

  const auto exec = run_cli(
      {"--socket", daemon.socket().string(), "exec", "--org", "acme", "--", "/bin/sh", "-c",
       R"(test "$AC_ACCESS_TOKEN" = tok-123 && echo "args: $0 $1" && exit 42)", "zero", "one"},
      {"AC_ACCESS_TOKEN=stale"});
  CHECK(exec.status == 42);
  CHECK(exec.out == "args: zero one\n");
}
#endif

TEST_CASE("errors of orgs, status and whoami: the SPEC exit code and nothing on stdout") {
  fake_daemon daemon({error_answer(403, "forbidden", "uid 1002 may not see this"),
                      error_answer(500, "internal", "broken"),
                      error_answer(403, "forbidden", "uid 1002 may not see this")});
  for (const auto kind : {command_kind::orgs, command_kind::status, command_kind::whoami}) {
    harness h(daemon.socket());
    const int code = run_command(make(kind), h.ctx);
    CHECK((code == 4 || code == 1));
    CHECK(h.out.str().empty());
    CHECK_FALSE(h.err.str().empty());
  }
  CHECK(daemon.requests().size() == 3);
}

TEST_CASE("--json with pretty printing indents the daemon's object; exec without a command") {
  fake_daemon daemon({json_answer(200, R"({"orgs":[]})")});
  harness h(daemon.socket());
  h.ctx.json = true;
  h.ctx.pretty_json = true;
  CHECK(run_command(make(command_kind::orgs), h.ctx) == 0);
  CHECK(h.out.str() == "{\n  \"orgs\": []\n}\n");

  harness none(daemon.socket());
  CHECK(run_command(make(command_kind::exec), none.ctx) == 2);
  CHECK(none.err.str() == "actoken: exec: no command given\n");
}

TEST_CASE("exec: a path through a file is not found (ENOTDIR), 127") {
  fake_daemon daemon({json_answer(200, token_body)});
  harness h(daemon.socket());
  auto command = make(command_kind::exec);
  command.exec_argv = {"/etc/hostname/deploy.sh"};
  CHECK(run_command(command, h.ctx) == 127);
  CHECK(h.err.str() == "actoken: /etc/hostname/deploy.sh: command not found\n");
}

TEST_CASE("key add: an answer without persisted or verified says in memory, not verified") {
  fake_daemon daemon({json_answer(200, R"({"org":"acme","persisted":"yes"})")});
  harness h(daemon.socket());
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string input = "c2VjcmV0\n";
  REQUIRE(::write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  ::close(fds[1]);
  h.ctx.input_fd = fds[0];
  auto command = make(command_kind::key_add);
  command.org = "acme";
  CHECK(run_command(command, h.ctx) == 0);
  ::close(fds[0]);
  CHECK(h.out.str() == "added the key for acme (in memory only, not verified)\n");
}

TEST_CASE("appcircle-config: a FIFO or an oversized file is refused; --json; an odd orgs answer") {
  actoken::testing::scratch_dir dir{"actoken-cli-test"};
  {
    const auto fifo = dir.path() / "fifo.json";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    harness h(dir.path() / "no.sock");
    auto command = make(command_kind::appcircle_config);
    command.token.org = "acme";
    command.file = fifo.string();
    CHECK(run_command(command, h.ctx) == 1);
    CHECK(h.err.str() == "actoken: cannot read " + fifo.string() +
                             ": it is not a regular file; it was left unchanged\n");
  }
  {
    const auto big = dir.path() / "big.json";
    std::ofstream(big) << std::string(2 * 1024 * 1024, ' ');
    harness h(dir.path() / "no.sock");
    auto command = make(command_kind::appcircle_config);
    command.token.org = "acme";
    command.file = big.string();
    CHECK(run_command(command, h.ctx) == 1);
    CHECK(h.err.str().find(": it is larger than ") != std::string::npos);
  }
  // The orgs answer is not what it should be: no host warning can be judged, the file is written.
  fake_daemon daemon({json_answer(200, token_body), json_answer(200, R"({"orgs":"none"})")});
  harness h(daemon.socket());
  h.ctx.json = true;
  h.ctx.pretty_json = true;
  auto command = make(command_kind::appcircle_config);
  command.token.org = "acme";
  command.file = (dir.path() / "config.json").string();
  CHECK(run_command(command, h.ctx) == 0);
  const auto summary = nlohmann::json::parse(h.out.str());
  CHECK(summary["path"] == command.file.value());
  CHECK(summary["created"] == true);
  CHECK(h.out.str().find("\n  \"path\"") != std::string::npos);
}
