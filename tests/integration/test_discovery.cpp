// Default sockets, end to end (SPEC §2 paths, §5 discovery, §6 folders): a
// user daemon run by an ordinary user (nobody) makes its socket's folder 0700
// for that user, under $XDG_RUNTIME_DIR or /tmp/actoken-<uid>; an existing
// folder of another user, or one others can write, is refused; and the CLI,
// given neither --socket nor $ACTOKEN_SOCKET, finds the user socket (through
// /run/user/<uid> when XDG_RUNTIME_DIR is unset) or else the system socket.
//
// Each case plays on a private stage: a child process in a mount namespace of
// its own whose /tmp and /run are fresh tmpfs, so the host's /tmp/actoken-*
// and /run are never touched. The stage writes what it saw to a pipe as
// `key=value` lines; the test checks them.
#include "tests/integration/harness.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/private_stage.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr uid_t nobody = 65534;

using report = stage_report;

// Runs `play` in a child with a private mount namespace whose /tmp and /run
// are fresh tmpfs; returns what it reported, or nullopt when no such
// namespace can be made here.
std::optional<report> on_a_private_stage(const std::function<void(const stage&)>& play) {
  return reported_on_a_private_stage(
      stage_etc::shared, [] { return true; }, play);
}

// Makes `path` a folder of `owner` with exactly `mode`.
void make_folder(const fs::path& path, uid_t owner, mode_t mode) {
  fs::create_directories(path);
  (void)!::chown(path.c_str(), owner, owner);
  ::chmod(path.c_str(), mode);
}

// Forks `argv` as `uid` (its groups dropped) with exactly `env`, stdout and
// stderr to `out` and `err`. Returns the child's pid.
pid_t spawn_as(uid_t uid, const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const fs::path& out, const fs::path& err) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (out_fd < 0 || err_fd < 0 || null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 ||
      ::dup2(err_fd, 2) < 0 || ::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
      ::setresuid(uid, uid, uid) != 0) {
    ::_exit(125);
  }
  std::vector<std::string> args_copy = argv;
  std::vector<std::string> env_copy = env;
  std::vector<char*> args;
  for (auto& a : args_copy) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  ::execve(args[0], args.data(), envp.data());
  ::_exit(126);
}

// A CLI run to completion: exit code, stdout, stderr.
process_result cli_as(uid_t uid, const std::vector<std::string>& args,
                      const std::vector<std::string>& env) {
  std::vector<std::string> argv{actoken_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn_as(uid, argv, env, "/tmp/cli.out", "/tmp/cli.err");
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp("/tmp/cli.out"),
          slurp("/tmp/cli.err")};
}

// A daemon started on the stage: answering at `socket`, or exited (with its log).
struct stage_daemon {
  pid_t pid = -1;
  bool answering = false;
  int exit_code = -1;  // when it exited at start
  std::string log;
};

stage_daemon start_daemon_as(uid_t uid, const std::vector<std::string>& args,
                             const std::vector<std::string>& env, const fs::path& socket) {
  std::vector<std::string> argv{actokend_path(), "--log-level", "debug"};
  argv.insert(argv.end(), args.begin(), args.end());
  stage_daemon d;
  d.pid = spawn_as(uid, argv, env, "/tmp/actokend.out", "/tmp/actokend.log");
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(d.pid, &status, WNOHANG) == d.pid) {
      d.pid = -1;
      d.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    try {
      if (unix_request(socket, "GET", "/v1/health", "", 1000ms).status == 200) {
        d.answering = true;
        break;
      }
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(10ms);
  }
  d.log = slurp("/tmp/actokend.log");
  return d;
}

int stop(stage_daemon& d) {
  if (d.pid <= 0) return d.exit_code;
  ::kill(d.pid, SIGTERM);
  int status = 0;
  ::waitpid(d.pid, &status, 0);
  d.pid = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Reports the owner and permission bits of `path` as `<key>_uid` and `<key>_mode`.
void say_owner_and_mode(const stage& s, const std::string& key, const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    s.say(key + "_uid", "missing");
    return;
  }
  s.say(key + "_uid", static_cast<long long>(st.st_uid));
  s.say(key + "_mode", static_cast<long long>(st.st_mode & 07777));
  s.say(key + "_is_socket", S_ISSOCK(st.st_mode) ? 1 : 0);
}

// nobody's environment: a home of its own (no config, no keys), no runtime folder.
std::vector<std::string> nobody_env() {
  make_folder("/tmp/home", nobody, 0700);
  return {"HOME=/tmp/home", "PATH=/usr/bin:/bin", "LANG=C"};
}

bool played(const std::optional<report>& said) {
  if (!said) skip_case("no private mount namespace here (unshare/mount refused)");
  return said.has_value();
}

}  // namespace

TEST_CASE("a user daemon without XDG_RUNTIME_DIR: /tmp/actoken-<uid> made 0700; the CLI finds it") {
  const auto said = on_a_private_stage([](const stage& s) {
    const auto env = nobody_env();
    const fs::path socket = "/tmp/actoken-65534/actokend.sock";
    auto daemon = start_daemon_as(nobody, {"--user"}, env, socket);
    s.say("answering", daemon.answering ? 1 : 0);
    s.say("log", daemon.log);
    say_owner_and_mode(s, "folder", socket.parent_path());
    say_owner_and_mode(s, "socket", socket);
    const auto status = cli_as(nobody, {"status"}, env);
    s.say("status_exit", status.exit_code);
    s.say("status_out", status.out);
    s.say("ping_exit", cli_as(nobody, {"ping"}, env).exit_code);
    s.say("stop_exit", stop(daemon));
    s.say("socket_after_stop", fs::exists(fs::symlink_status(socket)) ? 1 : 0);
  });
  if (!played(said)) return;
  const auto& r = *said;
  REQUIRE_MESSAGE(r.at("answering") == "1", r.at("log"));
  CHECK(r.at("folder_uid") == "65534");
  CHECK(r.at("folder_mode") == std::to_string(0700));
  CHECK(r.at("socket_uid") == "65534");
  CHECK(r.at("socket_mode") == std::to_string(0600));
  CHECK(r.at("socket_is_socket") == "1");
  CHECK(r.at("status_exit") == "0");
  CHECK_MESSAGE(r.at("status_out").find("at /tmp/actoken-65534/actokend.sock") != std::string::npos,
                r.at("status_out"));
  CHECK(r.at("ping_exit") == "0");
  CHECK(r.at("stop_exit") == "0");
  CHECK(r.at("socket_after_stop") == "0");
}

TEST_CASE("$XDG_RUNTIME_DIR/actoken made 0700; the CLI finds it, through /run/user/<uid> too") {
  const auto said = on_a_private_stage([](const stage& s) {
    auto env = nobody_env();
    make_folder("/run/user/65534", nobody, 0700);
    const fs::path socket = "/run/user/65534/actoken/actokend.sock";
    auto with_runtime = env;
    with_runtime.push_back("XDG_RUNTIME_DIR=/run/user/65534");
    auto daemon = start_daemon_as(nobody, {"--user"}, with_runtime, socket);
    s.say("answering", daemon.answering ? 1 : 0);
    s.say("log", daemon.log);
    say_owner_and_mode(s, "folder", socket.parent_path());
    say_owner_and_mode(s, "fallback", "/tmp/actoken-65534");
    // As in a login session, then as under cron or sudo (no XDG_RUNTIME_DIR).
    const auto in_session = cli_as(nobody, {"status"}, with_runtime);
    s.say("session_exit", in_session.exit_code);
    s.say("session_out", in_session.out + in_session.err);
    const auto under_cron = cli_as(nobody, {"status"}, env);
    s.say("cron_exit", under_cron.exit_code);
    s.say("cron_out", under_cron.out + under_cron.err);
    stop(daemon);
  });
  if (!played(said)) return;
  const auto& r = *said;
  REQUIRE_MESSAGE(r.at("answering") == "1", r.at("log"));
  CHECK(r.at("folder_uid") == "65534");
  CHECK(r.at("folder_mode") == std::to_string(0700));
  CHECK(r.at("fallback_uid") == "missing");
  CHECK(r.at("session_exit") == "0");
  CHECK_MESSAGE(
      r.at("session_out").find("at /run/user/65534/actoken/actokend.sock") != std::string::npos,
      r.at("session_out"));
  CHECK(r.at("cron_exit") == "0");
  CHECK_MESSAGE(
      r.at("cron_out").find("at /run/user/65534/actoken/actokend.sock") != std::string::npos,
      r.at("cron_out"));
}

TEST_CASE("with no user socket, the CLI finds the system socket in /run/actoken (made 0755)") {
  const auto said = on_a_private_stage([](const stage& s) {
    make_folder("/tmp/keys", 0, 0700);
    {
      std::ofstream config("/tmp/actokend.json");
      config << R"({"key_dir": "/tmp/keys"})";
    }
    const fs::path socket = "/run/actoken/actokend.sock";
    auto daemon = start_daemon_as(0, {"--system", "--config", "/tmp/actokend.json"},
                                  {"HOME=/root", "PATH=/usr/bin:/bin"}, socket);
    s.say("answering", daemon.answering ? 1 : 0);
    s.say("log", daemon.log);
    say_owner_and_mode(s, "folder", socket.parent_path());
    say_owner_and_mode(s, "socket", socket);
    // Root, as under sudo: no XDG_RUNTIME_DIR, no /run/user/0 or /tmp/actoken-0 socket.
    const auto status = cli_as(0, {"status"}, {"HOME=/root", "PATH=/usr/bin:/bin"});
    s.say("status_exit", status.exit_code);
    s.say("status_out", status.out + status.err);
    stop(daemon);
  });
  if (!played(said)) return;
  const auto& r = *said;
  REQUIRE_MESSAGE(r.at("answering") == "1", r.at("log"));
  CHECK(r.at("folder_uid") == "0");
  CHECK(r.at("folder_mode") == std::to_string(0755));
  CHECK(r.at("socket_mode") == std::to_string(0660));
  CHECK(r.at("status_exit") == "0");
  CHECK_MESSAGE(r.at("status_out").find("at /run/actoken/actokend.sock") != std::string::npos,
                r.at("status_out"));
}

TEST_CASE("a user daemon refuses a socket folder of another user or one others can write") {
  struct variant {
    const char* name;
    uid_t owner;
    mode_t mode;
    const char* refusal;  // "" when accepted
  };
  const variant variants[] = {
      {"another user's", 1234, 0700,
       "/tmp/xdg/actoken belongs to uid 1234, neither the daemon's user (uid 65534) nor root"},
      {"group-writable", nobody, 0770, "/tmp/xdg/actoken is writable by its group (mode 0770)"},
      {"its own, 0750", nobody, 0750, ""},
  };
  for (const auto& v : variants) {
    CAPTURE(v.name);
    const auto said = on_a_private_stage([&v](const stage& s) {
      auto env = nobody_env();
      make_folder("/tmp/xdg", nobody, 0700);
      make_folder("/tmp/xdg/actoken", v.owner, v.mode);
      env.push_back("XDG_RUNTIME_DIR=/tmp/xdg");
      const fs::path socket = "/tmp/xdg/actoken/actokend.sock";
      auto daemon = start_daemon_as(nobody, {"--user"}, env, socket);
      s.say("answering", daemon.answering ? 1 : 0);
      s.say("exit", daemon.exit_code);
      s.say("log", daemon.log);
      say_owner_and_mode(s, "folder", socket.parent_path());
      say_owner_and_mode(s, "socket", socket);
      stop(daemon);
    });
    if (!played(said)) return;
    const auto& r = *said;
    // The folder is never "fixed".
    CHECK(r.at("folder_uid") == std::to_string(v.owner));
    CHECK(r.at("folder_mode") == std::to_string(v.mode));
    if (*v.refusal == '\0') {
      CHECK_MESSAGE(r.at("answering") == "1", r.at("log"));
      CHECK(r.at("socket_mode") == std::to_string(0600));
    } else {
      CHECK(r.at("answering") == "0");
      CHECK(r.at("exit") == "1");
      CHECK_MESSAGE(r.at("log").find(v.refusal) != std::string::npos, r.at("log"));
      CHECK(r.at("socket_uid") == "missing");
    }
  }
}
