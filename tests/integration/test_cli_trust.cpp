// The CLI trusts only a genuine daemon (SPEC §5), and no usage error of either
// binary repeats a value given (it may be a pasted key). Real processes: a
// planted listener records every byte that reaches it, the CLI runs as a child.
//
// Runs as root (as the whole suite does): folders are given to `nobody` (65534),
// the untrusted owner, and the listener drops to 65534 where the case needs it.

#include "common/text.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

constexpr uid_t untrusted_uid = 65534;
const std::string planted_key = "ac_pak_PlantedSocketMustNotSeeThis0123456789";

// Reads whatever `fd` holds until its writers are gone.
std::string drain(int fd) {
  std::string data;
  char chunk[4096];
  for (;;) {
    const auto got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    data.append(chunk, static_cast<std::size_t>(got));
  }
  return data;
}

// Copies what a client sends on `connection` to `report` until it hangs up, or
// goes quiet: a client that sent a request waits for an answer that never comes,
// so a CLI without the checks fails these tests in seconds rather than hanging.
void record_until_silent(int connection, int report) {
  char chunk[4096];
  for (;;) {
    pollfd wait{connection, POLLIN, 0};
    if (::poll(&wait, 1, 2000) <= 0) return;
    const auto got = ::read(connection, chunk, sizeof chunk);
    if (got <= 0 || ::write(report, chunk, static_cast<std::size_t>(got)) != got) return;
  }
}

// Someone else's listener at `path`, in a process of its own. It answers nothing
// and reports on a pipe "connection\n" for each connection it accepts, then every
// byte it receives. With `listen_as`, it binds as root, then drops to that uid
// before listen(): the kernel records the listener's credentials at listen(),
// and that is what SO_PEERCRED shows a client.
class planted_listener {
 public:
  explicit planted_listener(std::filesystem::path path, std::optional<uid_t> listen_as = {})
      : path_(std::move(path)) {
    int report[2];
    int ready[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(report[0]);
      ::close(ready[0]);
      serve(report[1], ready[1], listen_as);
    }
    ::close(report[1]);
    ::close(ready[1]);
    report_fd_ = report[0];
    char byte = 0;
    const bool listening = ::read(ready[0], &byte, 1) == 1 && byte == 'L';
    ::close(ready[0]);
    REQUIRE_MESSAGE(listening, "the planted listener did not start at " << path_.string());
  }
  planted_listener(const planted_listener&) = delete;
  planted_listener& operator=(const planted_listener&) = delete;
  ~planted_listener() { stop(); }

  // Everything it saw; stops it first, so the account is final. A client that
  // connects and hangs up may leave its connection in the backlog, not yet
  // accepted: with `connections`, it first waits (at most 10 s) until it has
  // accepted that many, so that a slow listener is not taken for a CLI that
  // never connected.
  std::string received(std::size_t connections = 0) {
    return received_once([&] { return count_connections() >= connections; });
  }
  // Everything it saw once `marker` has come (at most 10 s), then stopped.
  std::string received_through(const std::string& marker) {
    return received_once([&] { return received_.find(marker) != std::string::npos; });
  }

 private:
  std::string received_once(const std::function<bool()>& enough) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!enough() && std::chrono::steady_clock::now() < until) {
      pollfd ready{report_fd_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      char chunk[256];
      const auto got = ::read(report_fd_, chunk, sizeof chunk);
      if (got <= 0) break;
      received_.append(chunk, static_cast<std::size_t>(got));
    }
    stop();
    return received_;
  }

  [[noreturn]] void serve(int report, int ready, std::optional<uid_t> listen_as) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::_exit(1);
    }
    if (listen_as && (::setresgid(*listen_as, *listen_as, *listen_as) != 0 ||
                      ::setresuid(*listen_as, *listen_as, *listen_as) != 0)) {
      ::_exit(1);
    }
    if (::listen(fd, 16) != 0 || ::write(ready, "L", 1) != 1) ::_exit(1);
    ::close(ready);
    for (;;) {
      const int connection = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      if (::write(report, "connection\n", 11) != 11) ::_exit(1);
      record_until_silent(connection, report);
      ::close(connection);
    }
  }

  std::size_t count_connections() const {
    std::size_t count = 0;
    for (auto at = received_.find("connection\n"); at != std::string::npos;
         at = received_.find("connection\n", at + 1)) {
      ++count;
    }
    return count;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    received_ += drain(report_fd_);
    ::close(report_fd_);
  }

  std::filesystem::path path_;
  pid_t pid_ = -1;
  int report_fd_ = -1;
  std::string received_;
};

// A folder of its own for a planted socket, inside a test folder.
std::filesystem::path folder_in(const temp_dir& dir, uid_t owner, mode_t mode) {
  const auto folder = dir.path() / "planted";
  std::filesystem::create_directory(folder);
  REQUIRE(::chown(folder.c_str(), owner, owner) == 0);
  REQUIRE(::chmod(folder.c_str(), mode) == 0);
  return folder;
}

// The commands an attacker wants to see: a key being added, and a token asked for
// (a planted daemon would hand out a token of its choosing).
struct attempt_outcome {
  process_result key_add;
  process_result token;
};

attempt_outcome attempt(const std::filesystem::path& socket, bool through_environment) {
  if (through_environment) {
    const std::map<std::string, std::string> env{{"ACTOKEN_SOCKET", socket.string()}};
    return {run_process({actoken_path(), "key", "add", "acme"}, env, planted_key + "\n"),
            run_process({actoken_path(), "token", "acme"}, env)};
  }
  return {run_process({actoken_path(), "--socket", socket.string(), "key", "add", "acme"}, {},
                      planted_key + "\n"),
          run_process({actoken_path(), "token", "acme", "--socket", socket.string()})};
}

void check_refused(const process_result& result, const std::string& expected_message) {
  CHECK_MESSAGE(result.exit_code == 3, result.err);
  CHECK(result.out.empty());
  CHECK(result.err == "actoken: " + expected_message + "\n");
  CHECK(result.err.find(planted_key) == std::string::npos);
}

bool running_as_root() {
  if (::geteuid() == 0) return true;
  skip_case("not root: cannot plant sockets as another user");
  return false;
}

// True when the listener saw no connection before one the test makes now (which says "ours").
// It accepts in order, so a CLI connection still waiting in its backlog is counted too.
bool only_ours_came(planted_listener& listener, const std::filesystem::path& socket) {
  const int ours = open_connection(socket);
  REQUIRE(ours >= 0);
  REQUIRE(::write(ours, "ours", 4) == 4);
  ::close(ours);
  return listener.received_through("ours") == "connection\nours";
}

}  // namespace

TEST_CASE("a planted socket in another user's folder receives not one byte; exit 3") {
  if (!running_as_root()) return;
  for (const bool through_environment : {false, true}) {
    CAPTURE(through_environment);
    temp_dir dir;
    // The listener runs as root, whom the CLI trusts: only the folder's owner is wrong.
    // (A real attacker's listener would be its own too; the last case plays that.)
    const auto folder = folder_in(dir, untrusted_uid, 0700);
    const auto socket = folder / "actokend.sock";
    planted_listener listener(socket);

    const auto outcome = attempt(socket, through_environment);
    const auto message = "refusing " + socket.string() +
                         ": its folder belongs to uid 65534, not to you, root or the actoken user";
    check_refused(outcome.key_add, message);
    check_refused(outcome.token, message);
    CHECK(only_ours_came(listener, socket));  // not even a connection
  }
}

TEST_CASE("a folder others may write is refused, even root's, even sticky: /tmp-like") {
  if (!running_as_root()) return;
  for (const mode_t mode : {0777u, 01777u, 0775u}) {
    CAPTURE(mode);
    temp_dir dir;
    const auto folder = folder_in(dir, 0, mode);
    const auto socket = folder / "actokend.sock";
    planted_listener listener(socket);  // root's: only the folder's mode is wrong

    const auto outcome = attempt(socket, false);
    const auto message = "refusing " + socket.string() + ": its folder " + folder.string() +
                         " is writable by others (mode " + actoken::octal_mode(mode) +
                         "); the socket needs a folder of its own";
    check_refused(outcome.key_add, message);
    check_refused(outcome.token, message);
    CHECK(only_ours_came(listener, socket));  // not even a connection
  }
}

TEST_CASE("a listener running as another user in a trusted folder: SO_PEERCRED refuses it") {
  if (!running_as_root()) return;
  for (const bool through_environment : {false, true}) {
    CAPTURE(through_environment);
    temp_dir dir;
    const auto folder = folder_in(dir, 0, 0755);  // root's, writable by root alone: trusted
    const auto socket = folder / "actokend.sock";
    planted_listener listener(socket, untrusted_uid);

    const auto outcome = attempt(socket, through_environment);
    const auto message = "refusing " + socket.string() +
                         ": the daemon there runs as uid 65534, not to you, root or the actoken "
                         "user";
    check_refused(outcome.key_add, message);
    check_refused(outcome.token, message);
    // Connected (that is how it learns who listens), then hung up without a byte.
    CHECK(listener.received(2) == "connection\nconnection\n");
  }
}

TEST_CASE("the same listener run by root is a daemon the CLI talks to (the control)") {
  if (!running_as_root()) return;
  temp_dir dir;
  const auto folder = folder_in(dir, 0, 0755);
  const auto socket = folder / "actokend.sock";
  planted_listener listener(socket);
  // It never answers: the CLI gives up after its timeout, so ask only for the check.
  // `key add` checks first, then reads the key, then sends it; with stdin closed at
  // once it stops before sending, and the listener saw the check's connection.
  const auto result =
      run_process({actoken_path(), "--socket", socket.string(), "key", "add", "acme"});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("refusing") == std::string::npos);
  // The CLI has hung up; its connection may still wait in the backlog.
  CHECK(listener.received(1) == "connection\n");
}

// The finding as reported: `sudo actoken key add acme` (root, no XDG_RUNTIME_DIR)
// falls back to /tmp/actoken-0/actokend.sock, which another user made first. Played
// in a private mount namespace, with fresh /tmp and /run/user, so the host's are
// never touched.
TEST_CASE("as root without XDG_RUNTIME_DIR: a planted /tmp/actoken-0 gets no key") {
  if (!running_as_root()) return;
  temp_dir dir;
  const auto input = dir.write("key", planted_key + "\n");
  const auto out_path = dir.path() / "out";
  const auto err_path = dir.path() / "err";
  int report[2];
  REQUIRE(::pipe2(report, O_CLOEXEC) == 0);

  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"key", "add", "acme"}, std::vector<std::string>{"token"}}) {
    CAPTURE(command.front());
    const int in = ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE((in >= 0 && out >= 0 && err >= 0));
    const pid_t stage = ::fork();
    REQUIRE(stage >= 0);
    if (stage == 0) {
      // The stage: a mount namespace of its own with empty /tmp and /run/user.
      if (!enter_private_stage({{"/tmp", "mode=1777"}, {"/run/user", "mode=0755"}})) ::_exit(77);
      // Another user makes /tmp/actoken-0 and listens there.
      int ready[2];
      if (::pipe(ready) != 0) ::_exit(1);
      const pid_t attacker = ::fork();
      if (attacker == 0) {
        ::close(ready[0]);
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strcpy(address.sun_path, "/tmp/actoken-0/actokend.sock");
        if (::setresgid(untrusted_uid, untrusted_uid, untrusted_uid) != 0 ||
            ::setresuid(untrusted_uid, untrusted_uid, untrusted_uid) != 0 ||
            ::mkdir("/tmp/actoken-0", 0700) != 0 ||
            ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(fd, 16) != 0 || ::write(ready[1], "L", 1) != 1) {
          ::_exit(1);
        }
        ::close(ready[1]);
        for (;;) {
          const int connection = ::accept(fd, nullptr, nullptr);
          if (connection < 0) continue;
          (void)!::write(report[1], "connection\n", 11);
          record_until_silent(connection, report[1]);
          ::close(connection);
        }
      }
      ::close(ready[1]);
      char byte = 0;
      if (attacker < 0 || ::read(ready[0], &byte, 1) != 1) ::_exit(78);
      // The victim runs once the attacker listens.
      const pid_t victim = ::fork();
      if (victim == 0) {
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(err, 2);
        std::vector<std::string> argv{actoken_path()};
        argv.insert(argv.end(), command.begin(), command.end());
        if (command.front() == "token") argv.push_back("acme");
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        // As under sudo: no XDG_RUNTIME_DIR, no ACTOKEN_SOCKET.
        std::string path_variable = "PATH=/usr/bin:/bin";
        std::string home = "HOME=/root";
        char* envp[] = {path_variable.data(), home.data(), nullptr};
        ::execve(args[0], args.data(), envp);
        ::_exit(126);
      }
      int status = 0;
      ::waitpid(victim, &status, 0);
      ::kill(attacker, SIGKILL);
      ::waitpid(attacker, nullptr, 0);
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128);
    }
    ::close(in);
    ::close(out);
    ::close(err);
    int status = 0;
    REQUIRE(::waitpid(stage, &status, 0) == stage);
    REQUIRE(WIFEXITED(status));
    REQUIRE_MESSAGE(WEXITSTATUS(status) != 78, "the planted /tmp/actoken-0 listener did not start");
    if (WEXITSTATUS(status) == 77) {
      skip_case("no private mount namespace here (unshare/mount refused)");
      break;
    }
    process_result result;
    result.exit_code = WEXITSTATUS(status);
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    check_refused(result,
                  "refusing /tmp/actoken-0/actokend.sock: its folder belongs to uid 65534, not to "
                  "you, root or the actoken user");
  }
  ::close(report[1]);
  CHECK(drain(report[0]).empty());  // not one connection, not one byte
  ::close(report[0]);
}

TEST_CASE("no usage error of actoken or actokend repeats the value given (it may be a key)") {
  const std::string secret = "ac_pak_PastedByMistake0123456789abcdef";
  const auto unseen = [&](const process_result& result, int exit_code, const std::string& says) {
    CHECK_MESSAGE(result.exit_code == exit_code, result.err);
    CHECK(result.out.find(secret) == std::string::npos);
    CHECK(result.err.find(secret) == std::string::npos);
    CHECK_MESSAGE(result.err.find(says) != std::string::npos, result.err);
  };
  const auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), actoken_path());
    return run_process(args, {{"ACTOKEN_SOCKET", "/nonexistent/actokend.sock"}});
  };
  unseen(cli({"token", "--min-ttl", secret}), 2, "--min-ttl: expected whole seconds");
  unseen(cli({"token", "--org=" + secret + "/"}), 2, "--org: expected an organization name");
  unseen(cli({"token", "acme", secret}), 2, "unexpected argument");
  unseen(cli({"key", "add", "acme", secret}), 2, "never from an argument");
  unseen(cli({"key", "add", "acme", "--api-version", secret}), 2, "--api-version: expected");
  unseen(cli({"exec", "--env", secret + "=", "--", "true"}), 2, "--env: expected");
  unseen(cli({"token", "--fresh=" + secret}), 2, "--fresh takes no value");
  unseen(cli({secret}), 2, "unknown command");
  unseen(cli({"--" + secret, "ping"}), 2, "unknown option");

  const auto daemon = [&](std::vector<std::string> args,
                          const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(), actokend_path());
    return run_process(args, env);
  };
  unseen(daemon({"--config", secret}), 1,
         "actokend: the config file given with --config does not exist");
  unseen(daemon({"--check-config", "--config=" + secret}), 1,
         "the config file given with --config does not exist");
  unseen(daemon({"--check-config"}, {{"ACTOKEND_CONFIG", secret}}), 1,
         "the config file named by $ACTOKEND_CONFIG does not exist");
  unseen(daemon({"--log-level", secret}), 2, "--log-level must be one of");
  unseen(daemon({"-" + secret}), 2, "unknown option");
  unseen(daemon({"--" + secret + "=x"}), 2, "unknown option");
  unseen(daemon({secret}), 2, "takes no arguments");
}
