// The CLI where things go wrong (SPEC §5): `exec` when the daemon answers an
// error never runs the command; a token that cannot be written to stdout (a
// full disk, a reader gone) is a failure, never a silent success; and colour
// on a real terminal follows NO_COLOR and TERM. The real actoken against the
// real daemon; test_discovery covers finding the socket, test_cli the commands.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct exit_status {
  int code = -1;  // or 128 + signal
  bool signalled = false;
};

exit_status wait_for(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  if (WIFSIGNALED(status)) return {128 + WTERMSIG(status), true};
  return {WEXITSTATUS(status), false};
}

// Runs actoken with `stdout_fd` as its standard output and stderr to `err_path`.
exit_status run_with_stdout(const daemon_world& w, std::vector<std::string> args, int stdout_fd,
                            const fs::path& err_path) {
  args.insert(args.begin(), {actoken_path(), "--socket", w.socket().string()});
  const auto argv = exec_args(args);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(stdout_fd, 1);
    ::dup2(err, 2);
    // As a shell starts it: SIGPIPE at its default.
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(argv[0], argv.data());
    ::_exit(126);
  }
  return wait_for(pid);
}

// Runs actoken on a pseudo-terminal (stdin, stdout and stderr), NO_COLOR unset and `env`
// added; returns everything it printed there.
std::string on_a_terminal(const daemon_world& w, std::vector<std::string> args,
                          const std::vector<std::pair<std::string, std::string>>& env) {
  args.insert(args.begin(), {actoken_path(), "--socket", w.socket().string()});
  std::vector<std::pair<std::string, std::optional<std::string>>> settings{{"NO_COLOR", {}}};
  settings.insert(settings.end(), env.begin(), env.end());
  const auto run = run_on_terminal(args, settings);
  CHECK(run.exit_code == 0);
  return run.seen;
}

}  // namespace

TEST_CASE("exec when the daemon answers an error: the command never runs, the exit code says why") {
  daemon_world w;
  const auto marker = w.dir.path() / "ran";
  const std::vector<std::string> command{"--", "/bin/sh", "-c", "touch " + marker.string()};
  struct variant {
    const char* name;
    std::vector<std::string> options;
    int exit_code;
    const char* says;
  };
  const variant variants[] = {
      {"unknown organization", {"--org", "acmee"}, 5, "no organization named acmee"},
      {"min_ttl no token can meet", {"--org", "acme", "--min-ttl", "86400"}, 1, "acme"},
      {"the auth server is down", {"--org", "acme"}, 7, "acme"},
  };
  w.tune([](auto& b) { b.token_lifetime = std::chrono::seconds{3600}; });
  for (const auto& v : variants) {
    CAPTURE(v.name);
    if (v.exit_code == 7) {
      REQUIRE(unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
      w.tune([](auto& b) { b.forced_status = 503; });
    }
    auto args = std::vector<std::string>{"exec"};
    args.insert(args.end(), v.options.begin(), v.options.end());
    args.insert(args.end(), command.begin(), command.end());
    const auto result = w.cli(args);
    CHECK(result.exit_code == v.exit_code);
    CHECK(result.out.empty());
    CHECK(result.err.rfind("actoken: ", 0) == 0);
    CHECK_MESSAGE(result.err.find(v.says) != std::string::npos, result.err);
    CHECK_FALSE(fs::exists(marker));
  }
}

TEST_CASE("a token that cannot be written to stdout is a failure") {
  daemon_world w;
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto err = w.dir.path() / "err";

  SUBCASE("a full disk (/dev/full)") {
    const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
    REQUIRE(full >= 0);
    for (const char* command : {"token", "header"}) {
      CAPTURE(command);
      const auto status = run_with_stdout(w, {command, "acme"}, full, err);
      CHECK(status.code == 1);
      CHECK_MESSAGE(slurp(err) == "actoken: cannot write to stdout\n", slurp(err));
    }
    ::close(full);
  }
  SUBCASE("a reader that has gone (a closed pipe)") {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    ::close(pipe_fds[0]);
    const auto status = run_with_stdout(w, {"token", "acme"}, pipe_fds[1], err);
    ::close(pipe_fds[1]);
    // Killed by SIGPIPE, as cat or printf would be, or exit 1 with a message:
    // never 0, and the token nowhere else.
    CHECK(status.code != 0);
    if (!status.signalled) CHECK(slurp(err) == "actoken: cannot write to stdout\n");
    CHECK(slurp(err).find("ey") == std::string::npos);
  }
}

TEST_CASE("on a terminal: colour in the orgs table, none with NO_COLOR or TERM=dumb") {
  daemon_world w;
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto coloured = on_a_terminal(w, {"orgs"}, {});
  CHECK_MESSAGE(coloured.find("\x1b[") != std::string::npos, coloured);
  CHECK(coloured.find("acme") != std::string::npos);
  for (const auto& env :
       std::vector<std::pair<std::string, std::string>>{{"NO_COLOR", "1"}, {"TERM", "dumb"}}) {
    CAPTURE(env.first);
    const auto plain = on_a_terminal(w, {"orgs"}, {env});
    CHECK(plain.find('\x1b') == std::string::npos);
    CHECK(plain.find("acme") != std::string::npos);
  }
}
