// actokend under a service manager: the units themselves (systemd-analyze,
// the syscall filter, the sysusers/tmpfiles snippets), socket activation
// (systemd-socket-activate), sd_notify, one instance per socket, and stopping.
// Tools that are missing here make the case pass with a MESSAGE saying so.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_env.hpp"
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

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace {

const fs::path unit_dir{ACTOKEN_TEST_UNIT_DIR};
const fs::path source_dir{ACTOKEN_SOURCE_DIR};
// The built man pages (man8/actokend.8...), for the units' Documentation=man:
// links; empty when the build has none.
const std::string man_dir{ACTOKEN_TEST_MAN_DIR};

// The absolute path of `name` on PATH (run_process does not search it).
std::optional<std::string> find_tool(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::istringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const auto candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every value of `key=` in a unit file, in order.
std::vector<std::string> unit_values(const fs::path& unit, const std::string& key) {
  std::vector<std::string> values;
  std::istringstream lines(read_text(unit));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key + "=", 0) == 0) values.push_back(line.substr(key.size() + 1));
  }
  return values;
}

std::string unit_value(const fs::path& unit, const std::string& key) {
  const auto values = unit_values(unit, key);
  return values.empty() ? std::string("<unset>") : values.back();
}

bool is_socket_file(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Waits up to `bound` for `pid` to exit; kills it and returns nullopt past that.
std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

// `systemd-socket-activate -l SOCKET actokend --config CONFIG`: systemd's
// socket activation in miniature. It listens, and on the first connection
// execs actokend in its own process with LISTEN_FDS=1.
class activated_daemon {
 public:
  // Listens on `socket`, by default the config's own.
  activated_daemon(const std::string& tool, const temp_dir& dir, const json& config,
                   std::optional<fs::path> socket = std::nullopt)
      : socket_(socket.value_or(config["socket"].get<std::string>())),
        log_path_(dir.path() / "activate.log") {
    const auto config_path = dir.write("actokend.json", config.dump(2));
    // It passes the daemon only the variables named with -E.
    std::vector<std::string> argv{tool, "-l", socket_.string()};
    for (const auto* name : {"HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (std::getenv(name) != nullptr) argv.insert(argv.end(), {"-E", name});
    }
    argv.insert(argv.end(),
                {actokend_path(), "--config", config_path.string(), "--log-level", "debug"});
    const auto args = exec_args(argv);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(args[0], args.data());
      ::_exit(126);
    }
    // Listening once the socket exists (the daemon itself starts later).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (!is_socket_file(socket_) && std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("systemd-socket-activate exited: " + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    if (!is_socket_file(socket_)) throw std::runtime_error("no socket: " + log());
  }
  ~activated_daemon() {
    if (pid_ > 0) wait_exit(std::exchange(pid_, -1), std::chrono::milliseconds{0});
  }
  activated_daemon(const activated_daemon&) = delete;
  activated_daemon& operator=(const activated_daemon&) = delete;

  const fs::path& socket() const noexcept { return socket_; }
  std::string log() const { return read_text(log_path_); }
  /// SIGTERM, then the exit code if it came within `bound`.
  std::optional<int> terminate(std::chrono::milliseconds bound) {
    ::kill(pid_, SIGTERM);
    return wait_exit(std::exchange(pid_, -1), bound);
  }

 private:
  fs::path socket_;
  fs::path log_path_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("the units say what the daemon needs") {
  const auto service = unit_dir / "system" / "actokend.service";
  const auto socket = unit_dir / "system" / "actokend.socket";
  REQUIRE(fs::exists(service));
  CHECK(unit_value(service, "Type") == "notify");
  // The build's units name the build's daemon (not one the tests are pointed at).
  CHECK(unit_value(service, "ExecStart") == built_actokend_path() + " --system");
  CHECK(unit_value(service, "ExecReload") == "/bin/kill -HUP $MAINPID");
  CHECK(unit_value(service, "User") == "actoken");
  CHECK(unit_value(service, "RuntimeDirectory") == "actoken");
  CHECK(unit_value(service, "RuntimeDirectoryMode") == "0755");
  // The socket in /run/actoken belongs to actokend.socket: it must outlive the service.
  CHECK(unit_value(service, "RuntimeDirectoryPreserve") == "yes");
  CHECK(unit_value(service, "StateDirectoryMode") == "0700");
  CHECK(unit_value(service, "UMask") == "0077");
  CHECK(unit_value(service, "ProtectSystem") == "strict");
  CHECK(unit_value(service, "CapabilityBoundingSet").empty());
  // PrivateUsers= would make every peer nobody and break access control.
  CHECK(unit_values(service, "PrivateUsers").empty());
  CHECK(unit_values(service, "IPAddressDeny").empty());

  CHECK(unit_value(socket, "ListenStream") == "/run/actoken/actokend.sock");
  CHECK(unit_value(socket, "SocketMode") == "0660");
  CHECK(unit_value(socket, "SocketGroup") == "actoken");
  CHECK(unit_value(socket, "WantedBy") == "sockets.target");

  const auto user_service = unit_dir / "user" / "actokend.service";
  const auto user_socket = unit_dir / "user" / "actokend.socket";
  CHECK(unit_value(user_service, "ExecStart") == built_actokend_path() + " --user");
  CHECK(unit_value(user_service, "Type") == "notify");
  CHECK(unit_values(user_service, "User").empty());
  // Namespacing settings would need user namespaces in a user manager.
  for (const auto* key : {"ProtectHome", "ProtectSystem", "PrivateTmp", "PrivateUsers"}) {
    CHECK_MESSAGE(unit_values(user_service, key).empty(), std::string(key));
  }
  CHECK(unit_value(user_socket, "ListenStream") == "%t/actoken/actokend.sock");
  CHECK(unit_value(user_socket, "SocketMode") == "0600");
  CHECK(unit_value(user_socket, "DirectoryMode") == "0700");
}

TEST_CASE("systemd-analyze verify accepts the units") {
  const auto tool = find_tool("systemd-analyze");
  INFO("systemd-analyze is not installed (scripts/bootstrap installs it)");
  REQUIRE(tool.has_value());
  for (const std::string scope : {"system", "user"}) {
    CAPTURE(scope);
    temp_dir runtime;  // a user manager's %t
    std::vector<std::string> argv{*tool};
    if (scope == "user") argv.push_back("--user");
    // verify runs `man` for each Documentation=man: link: the built pages must answer.
    if (man_dir.empty()) argv.push_back("--man=no");
    argv.insert(argv.end(), {"verify", (unit_dir / scope / "actokend.service").string(),
                             (unit_dir / scope / "actokend.socket").string()});
    const auto result =
        run_process(argv, {{"XDG_RUNTIME_DIR", runtime.path().string()}, {"MANPATH", man_dir}});
    if (result.exit_code != 0 && result.err.find("actokend") == std::string::npos) {
      skip_case("systemd-analyze verify cannot run here: " + result.err);
      continue;
    }
    CHECK(result.exit_code == 0);
    // Warnings (an unknown key, a bad value) do not change the exit code.
    CHECK(result.err == "");
  }
}

TEST_CASE("the system unit's syscall filter allows every call the daemon makes") {
  const auto tool = find_tool("systemd-analyze");
  INFO("systemd-analyze is not installed (scripts/bootstrap installs it)");
  REQUIRE(tool.has_value());
  const auto listing = run_process({*tool, "syscall-filter"});
  REQUIRE(listing.exit_code == 0);
  // Groups: "@name" at the start of a line, then indented members ("@other" or calls).
  std::map<std::string, std::vector<std::string>> groups;
  std::string current;
  std::istringstream lines(listing.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind('@', 0) == 0) {
      current = line.substr(0, line.find_first_of(" \t"));
      continue;
    }
    const auto start = line.find_first_not_of(" \t");
    if (current.empty() || start == std::string::npos || line[start] == '#') continue;
    groups[current].push_back(line.substr(start, line.find_first_of(" \t", start) - start));
  }
  REQUIRE(groups.count("@system-service") == 1);
  const auto expand = [&groups](const std::string& item) {
    std::set<std::string> calls;
    std::vector<std::string> pending{item};
    while (!pending.empty()) {
      const auto next = pending.back();
      pending.pop_back();
      if (next.rfind('@', 0) != 0) {
        calls.insert(next);
        continue;
      }
      for (const auto& member : groups[next]) pending.push_back(member);
    }
    return calls;
  };

  for (const std::string scope : {"system", "user"}) {
    CAPTURE(scope);
    const auto filters = unit_values(unit_dir / scope / "actokend.service", "SystemCallFilter");
    REQUIRE(!filters.empty());
    REQUIRE(filters.front().rfind('~', 0) != 0);  // an allow list first
    std::set<std::string> allowed;
    for (const auto& filter : filters) {
      const bool deny = filter.rfind('~', 0) == 0;
      std::istringstream items(deny ? filter.substr(1) : filter);
      std::string item;
      while (items >> item) {
        for (const auto& call : expand(item)) {
          if (deny) {
            allowed.erase(call);
          } else {
            allowed.insert(call);
          }
        }
      }
    }
    // What strace showed actokend calling through start, exchanges, reload
    // and stop, plus what a resolver thread and the cache file add.
    for (const auto* call : {"accept",        "accept4",        "bind",
                             "brk",           "chmod",          "clone",
                             "clone3",        "close",          "connect",
                             "epoll_create1", "epoll_ctl",      "epoll_wait",
                             "eventfd2",      "exit_group",     "fcntl",
                             "fdatasync",     "flock",          "fsync",
                             "futex",         "getdents64",     "geteuid",
                             "getpid",        "getrandom",      "getsockopt",
                             "ioctl",         "listen",         "lseek",
                             "madvise",       "mlock",          "mmap",
                             "mprotect",      "munlock",        "munmap",
                             "newfstatat",    "openat",         "pipe2",
                             "poll",          "prctl",          "pread64",
                             "prlimit64",     "read",           "recvfrom",
                             "recvmsg",       "rename",         "renameat",
                             "rt_sigaction",  "sendmsg",        "sendmmsg",
                             "sendto",        "shutdown",       "socket",
                             "sysinfo",       "timerfd_create", "timerfd_settime",
                             "umask",         "unlink",         "write"}) {
      CHECK_MESSAGE(allowed.count(call) == 1, (std::string(call) + " is filtered out"));
    }
    // What the hardening is for.
    for (const auto* call : {"mount", "setuid", "reboot", "init_module", "ptrace", "setrlimit"}) {
      CHECK_MESSAGE(allowed.count(call) == 0, (std::string(call) + " is allowed"));
    }
  }
}

TEST_CASE("sysusers.d and tmpfiles.d make the user and the folders") {
  const auto sysusers = find_tool("systemd-sysusers");
  const auto tmpfiles = find_tool("systemd-tmpfiles");
  INFO("systemd-sysusers or systemd-tmpfiles is not installed (scripts/bootstrap installs it)");
  REQUIRE(sysusers.has_value());
  REQUIRE(tmpfiles.has_value());
  temp_dir root;  // a stand-in for /, so nothing on this machine changes
  fs::create_directories(root.path() / "etc");
  const auto made = run_process({*sysusers, "--root=" + root.path().string(),
                                 (source_dir / "systemd/sysusers.d/actoken.conf").string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const auto passwd = read_text(root.path() / "etc/passwd");
  CHECK(passwd.find("actoken:x:") == 0);
  CHECK(passwd.find(":/var/lib/actoken:") != std::string::npos);
  CHECK(read_text(root.path() / "etc/group").find("actoken:x:") == 0);

  if (::geteuid() != 0) {
    return skip_case("not root: the tmpfiles.d snippet cannot chown, not checked");
  }
  const auto created = run_process({*tmpfiles, "--root=" + root.path().string(), "--create",
                                    (source_dir / "systemd/tmpfiles.d/actoken.conf").string()});
  REQUIRE_MESSAGE(created.exit_code == 0, created.err);
  const auto uid = static_cast<uid_t>(std::stoul(passwd.substr(std::strlen("actoken:x:"))));
  const auto check_dir = [&root](const std::string& path, unsigned mode, uid_t owner,
                                 bool group_is_owner, uid_t gid) {
    CAPTURE(path);
    struct stat st {};
    REQUIRE(::lstat((root.path() / path).c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == mode);
    CHECK(st.st_uid == owner);
    CHECK(st.st_gid == (group_is_owner ? owner : gid));
  };
  check_dir("etc/actoken", 0750, 0, false, uid);  // root:actoken, gid == uid from sysusers
  check_dir("var/lib/actoken", 0700, uid, true, 0);
  check_dir("var/lib/actoken/keys", 0700, uid, true, 0);
}

TEST_CASE("the example config is valid") {
  const auto result = run_process({actokend_path(), "--check-config", "--config",
                                   (source_dir / "systemd/actokend.example.json").string()});
  // Its users and groups (builder, developers, actoken-admin, and the package's
  // actoken for socket_group) may not exist on this machine, nor the host's
  // files it names (selfhosted's key file beside it, /var/cache/actoken): then
  // those are its only problems (SPEC §4, §2 --check-config).
  const auto config = (source_dir / "systemd/actokend.example.json").string();
  if (result.exit_code != 0) {
    std::istringstream lines(result.err);
    std::string line;
    while (std::getline(lines, line)) {
      CHECK_MESSAGE(
          (line.ends_with("; it matches nobody") ||
           line.ends_with("socket_group: no group named actoken; the daemon cannot "
                          "start with it") ||
           line == config + ": organizations.selfhosted: key file " +
                       (source_dir / "systemd/selfhosted.key").string() + " does not exist" ||
           line == config + ": cache_file: cache file /var/cache/actoken/tokens.cache: "
                            "/var/cache/actoken does not exist"),
          line);
    }
  }
  CHECK_MESSAGE(result.exit_code <= 1, result.out << result.err);
}

TEST_CASE("socket activation: the passed socket is served and left in place") {
  const auto tool = find_tool("systemd-socket-activate");
  INFO("systemd-socket-activate is not installed (scripts/bootstrap installs it)");
  REQUIRE(tool.has_value());
  daemon_world w({.start_daemon = false});
  // The unit's socket, not the config's: the daemon serves (and names) the one it is given.
  activated_daemon daemon(*tool, w.dir, w.config, w.dir.path() / "activated.sock");
  const auto socket = daemon.socket().string();

  // The first connection starts actokend, which answers on the socket it was given.
  const auto ping = run_process({actoken_path(), "--socket", socket, "ping"});
  CHECK_MESSAGE(ping.exit_code == 0, ping.err << daemon.log());
  const auto token = run_process({actoken_path(), "--socket", socket, "token", "acme"});
  CHECK_MESSAGE(token.exit_code == 0, token.err << daemon.log());
  CHECK(token.out.size() > 20);
  CHECK(w.upstream.exchanges_for(w.key) == 1);
  CHECK_MESSAGE(
      daemon.log().find("listening on " + socket + " (socket activation)") != std::string::npos,
      daemon.log());
  CHECK_FALSE(fs::exists(w.config["socket"].get<std::string>()));

  const auto code = daemon.terminate(std::chrono::seconds{5});
  REQUIRE_MESSAGE(code.has_value(), "actokend did not stop within 5 s: " << daemon.log());
  CHECK(*code == 0);
  CHECK(is_socket_file(socket));  // the service manager's to remove, not ours
  CHECK(daemon.log().find(w.key) == std::string::npos);
}

TEST_CASE("a second actokend on the same socket exits 1 and the first serves on") {
  const auto timeout = find_tool("timeout");
  REQUIRE(timeout.has_value());
  temp_dir dir;
  daemon_process first(dir, json::object());
  const auto second =
      run_process({*timeout, "20", actokend_path(), "--config", first.config_path().string(),
                   "--socket", first.socket().string()});
  CHECK(second.exit_code == 1);
  CHECK_MESSAGE(second.err.find("already") != std::string::npos, second.err);
  CHECK(first.get("/v1/health").status == 200);
  CHECK(first.stop(SIGTERM) == 0);
}

TEST_CASE("a stale socket left by a killed daemon is replaced") {
  temp_dir dir;
  fs::path socket;
  {
    daemon_process killed(dir, json::object());
    socket = killed.socket();
    CHECK(killed.stop(SIGKILL) == 128 + SIGKILL);
  }
  REQUIRE(is_socket_file(socket));  // left behind: nobody unlinked it
  CHECK_THROWS(unix_request(socket, "GET", "/v1/health"));

  daemon_process next(dir, json::object());
  CHECK(next.get("/v1/health").status == 200);
  CHECK(next.stop(SIGTERM) == 0);
  CHECK_FALSE(fs::exists(socket));
}

TEST_CASE("SIGTERM lets an exchange in flight finish, exits 0 within 5 s, removes the socket") {
  stand_in::behaviour slow;
  slow.delay = std::chrono::milliseconds{1000};
  daemon_world w({.behaviour = slow, .start_daemon = false});
  daemon_process daemon(w.dir, w.config);

  http_reply in_flight;
  std::thread caller([&] { in_flight = daemon.get("/v1/token?org=acme"); });
  // The exchange has reached the stand-in, which holds it for a second.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (w.upstream.exchanges() == 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  REQUIRE(w.upstream.exchanges() == 1);

  const auto started = std::chrono::steady_clock::now();
  const auto code = daemon.stop(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - started;
  caller.join();
  CHECK(code == 0);
  CHECK(took < std::chrono::seconds{5});
  CHECK_MESSAGE(in_flight.status == 200, in_flight.body << daemon.log());
  CHECK_FALSE(fs::exists(daemon.socket()));
}

TEST_CASE("sd_notify: READY=1, STATUS=, watchdog pings, RELOADING=1, STOPPING=1") {
  temp_dir dir;
  datagram_listener manager((dir.path() / "notify.sock").string());
  std::optional<daemon_process> daemon;
  {
    // A 2 s watchdog: the daemon pings every second.
    scoped_env env({{"NOTIFY_SOCKET", manager.name()}, {"WATCHDOG_USEC", "2000000"}});
    daemon.emplace(dir, json::object());
  }
  const auto ready = manager.wait_for("READY=1");
  REQUIRE_MESSAGE(ready.has_value(), daemon->log());
  CHECK(std::any_of(manager.received().begin(), manager.received().end(),
                    [](const std::string& s) { return s.rfind("STATUS=", 0) == 0; }));
  CHECK(manager.wait_for("WATCHDOG=1").has_value());

  daemon->reload();
  const auto reloading = manager.wait_for("RELOADING=1", *ready + 1);
  REQUIRE(reloading.has_value());
  CHECK(manager.wait_for("READY=1", *reloading + 1).has_value());

  CHECK(daemon->stop(SIGTERM) == 0);
  CHECK(manager.wait_for("STOPPING=1", *reloading + 1).has_value());
}
