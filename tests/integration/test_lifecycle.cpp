// The daemon's life and limits (SPEC §4 limits, §6 signals, secrets, logs; §2
// ACTOKEND_CONFIG): SIGINT stops it as SIGTERM does; a request in flight holds
// the stop 5 s at most; idle connections are closed at once at the stop, and
// after 30 s idle otherwise; a newcomer is turned away when every connection
// is busy; the open-file soft limit is raised to the hard one; the process is
// not dumpable; under the journal log lines carry no timestamp; and
// $ACTOKEND_CONFIG names the config file. Windows come from the daemon's fixed
// values (5 s drain, 30 s idle; daemon/app.cpp, transport/http_server.hpp)
// with generous margins.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_env.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using steady = std::chrono::steady_clock;

namespace {

constexpr auto drain_bound = 5s;    // daemon/app.cpp shutdown_bound
constexpr auto idle_timeout = 30s;  // transport::server_limits::idle_timeout
constexpr uid_t nobody = 65534;

// A connection the test needs: the daemon must accept it.
int connected(const fs::path& socket) {
  const int fd = open_connection(socket);
  REQUIRE(fd >= 0);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
}

// Reads until `fd` has a whole HTTP answer with a Content-Length body, or `wait` passes.
std::string read_answer(int fd, std::chrono::milliseconds wait) {
  std::string data;
  const auto until = steady::now() + wait;
  char buffer[4096];
  while (steady::now() < until) {
    const auto head_end = data.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto at = data.find("Content-Length: ");
      if (at != std::string::npos &&
          data.size() >= head_end + 4 + std::stoul(data.substr(at + 16))) {
        return data;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
  }
  return data;
}

// Waits up to `wait` for the peer to close `fd`; how long it took, if it did.
// Bytes that arrive meanwhile are appended to `bytes`.
std::optional<steady::duration> closed_within(int fd, std::chrono::milliseconds wait,
                                              std::string* bytes = nullptr) {
  const auto start = steady::now();
  char buffer[4096];
  while (steady::now() - start < wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return steady::now() - start;
    if (bytes != nullptr) bytes->append(buffer, static_cast<std::size_t>(n));
  }
  return std::nullopt;
}

const std::string health_request = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string token_request = "GET /v1/token?org=acme HTTP/1.1\r\nHost: x\r\n\r\n";

// Runs actokend with `args` (no --config unless given) as `uid`, `env`
// added, stderr to `log`; waits until `socket` answers or the daemon exits.
class spawned_daemon {
 public:
  spawned_daemon(std::vector<std::string> args,
                 const std::vector<std::pair<std::string, std::string>>& env, uid_t uid,
                 const fs::path& log, fs::path socket)
      : socket_(std::move(socket)), log_(log) {
    args.insert(args.begin(), {actokend_path(), "--log-level", "debug"});
    const auto argv = exec_args(args);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      if (uid != 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
                       ::setresuid(uid, uid, uid) != 0)) {
        ::_exit(125);
      }
      ::execv(argv[0], argv.data());
      ::_exit(126);
    }
    const auto until = steady::now() + 10s;
    while (steady::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pid_ = -1;
        return;
      }
      try {
        if (unix_request(socket_, "GET", "/v1/health", "", 1000ms).status == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);  // a throwing constructor runs no destructor
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    FAIL("actokend neither answered nor exited: " << log_text());
  }
  ~spawned_daemon() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // it removes its socket
    for (int i = 0; i < 1000 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(10ms);
      if (i == 999) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
  }
  spawned_daemon(const spawned_daemon&) = delete;
  spawned_daemon& operator=(const spawned_daemon&) = delete;

  bool answering() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::optional<int> exit_code() const { return exit_code_; }
  std::string log_text() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  fs::path socket_;
  fs::path log_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A child as `uid` that tries to open `path`; true when it could.
bool can_open_as(uid_t uid, const fs::path& path) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(2);
    }
    const int fd = ::open(path.c_str(), O_RDONLY);
    ::_exit(fd >= 0 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) != 2);
  return WEXITSTATUS(status) == 0;
}

// "info: ...", "debug: ...": the journal's own format, which stamps each line itself.
bool starts_with_a_level(const std::string& line) {
  for (const char* level : {"trace: ", "debug: ", "info: ", "warning: ", "error: ", "critical: "}) {
    if (line.rfind(level, 0) == 0) return true;
  }
  return false;
}

// "2026-11-30T07:29:18.339 info: ...".
bool starts_with_a_timestamp(const std::string& line) {
  return line.size() > 24 && std::isdigit(static_cast<unsigned char>(line[0])) != 0 &&
         line[4] == '-' && line[10] == 'T' && line[19] == '.' && line[23] == ' ' &&
         starts_with_a_level(line.substr(24));
}

bool every_line(const std::string& text, bool (*check)(const std::string&)) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!check(line)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("SIGINT stops the daemon as SIGTERM does: cache written, socket removed, exit 0") {
  daemon_world w({.start_daemon = false});
  const auto cache = w.dir.path() / "tokens.cache";
  w.config["cache_file"] = cache.string();
  w.start();
  const auto first = w.daemon->get("/v1/token?org=acme").json();
  REQUIRE(first["source"] == "exchange");
  CHECK(w.daemon->stop(SIGINT) == 0);
  CHECK_FALSE(fs::exists(w.socket()));
  CHECK(fs::exists(cache));
  CHECK(w.daemon->log().find("stopping on signal 2") != std::string::npos);
  w.start();
  CHECK(w.daemon->get("/v1/token?org=acme").json()["source"] == "cache");
}

TEST_CASE("a request in flight holds the stop 5 s at most; idle connections close at once") {
  stand_in::behaviour slow;
  slow.delay = 20s;
  daemon_world w({.config = {{"upstream_timeout", 30}}, .behaviour = slow});
  // An idle keep-alive connection, answered once.
  const int idle = connected(w.socket());
  send_all(idle, health_request);
  REQUIRE(read_answer(idle, 5000ms).rfind("HTTP/1.1 200 ", 0) == 0);
  // A request whose exchange outlasts the bound.
  const int busy = connected(w.socket());
  send_all(busy, token_request);
  const auto until = steady::now() + 10s;
  while (w.upstream.exchanges() == 0 && steady::now() < until) std::this_thread::sleep_for(10ms);
  REQUIRE(w.upstream.exchanges() == 1);

  const auto started = steady::now();
  ::kill(w.daemon->pid(), SIGTERM);
  // The idle connection goes at once, well before the bound.
  const auto idle_closed = closed_within(idle, 3000ms);
  CHECK(idle_closed.has_value());
  const int code = w.daemon->stop(0);  // signal 0: only wait for it
  const auto took = steady::now() - started;
  CHECK(code == 0);
  CHECK(took >= drain_bound - 500ms);
  CHECK(took < drain_bound + 5s);
  // The request that outlived the bound gets no answer, only the close.
  std::string late;
  CHECK(closed_within(busy, 1000ms, &late).has_value());
  CHECK(late.empty());
  CHECK_FALSE(fs::exists(w.socket()));
  ::close(idle);
  ::close(busy);
}

TEST_CASE(
    "every connection busy: a newcomer is turned away at once, then served once they finish") {
  stand_in::behaviour slow;
  slow.delay = 5s;
  daemon_world w({.config = {{"max_connections", 2}}, .behaviour = slow});
  // Two cache keys, so each request makes an exchange of its own: once the
  // stand-in has seen both, the daemon has read both requests (an unread one
  // would count as idle and make room), whatever the load on the machine.
  const std::string sub_org = "9b2f6d1e-0000-4000-8000-00000000000b";
  w.upstream.add_account(w.key, acme_org_id, {sub_org});
  const int first = connected(w.socket());
  const int second = connected(w.socket());
  send_all(first, token_request);
  send_all(second, "GET /v1/token?org=acme&sub_org=" + sub_org + " HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto until = steady::now() + 10s;
  while (w.upstream.exchanges() < 2 && steady::now() < until) std::this_thread::sleep_for(10ms);
  REQUIRE(w.upstream.exchanges() == 2);  // both wait for theirs: both busy; each takes 5 s

  const int newcomer = connected(w.socket());
  // The daemon may close it before these bytes go out (EPIPE): being turned
  // away that fast is the point, so the send's own result is not asserted.
  (void)::send(newcomer, health_request.data(), health_request.size(), MSG_NOSIGNAL);
  std::string answered;
  const auto turned_away = closed_within(newcomer, 2000ms, &answered);
  CHECK(turned_away.has_value());
  CHECK(answered.empty());
  ::close(newcomer);

  CHECK(read_answer(first, 10000ms).rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(read_answer(second, 10000ms).rfind("HTTP/1.1 200 ", 0) == 0);
  ::close(first);
  ::close(second);
  CHECK(w.daemon->get("/v1/health").status == 200);
}

TEST_CASE("an idle connection is closed after 30 s, with or without a request before") {
  daemon_world w;
  const int silent = connected(w.socket());
  const int answered = connected(w.socket());
  send_all(answered, health_request);
  REQUIRE(read_answer(answered, 5000ms).rfind("HTTP/1.1 200 ", 0) == 0);
  const auto start = steady::now();
  const auto answered_closed = closed_within(answered, idle_timeout + 15s);
  const auto silent_closed = closed_within(silent, 5000ms);
  REQUIRE(answered_closed.has_value());
  CHECK(*answered_closed >= idle_timeout - 1s);
  CHECK(*answered_closed < idle_timeout + 10s);
  CHECK(silent_closed.has_value());
  CHECK(steady::now() - start >= idle_timeout - 1s);
  ::close(silent);
  ::close(answered);
  CHECK(w.daemon->get("/v1/health").status == 200);
}

TEST_CASE("the open-file soft limit is raised to the hard limit at start") {
  rlimit own{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &own) == 0);
  if (own.rlim_max <= 256) {
    return skip_case("the hard open-file limit is too low to tell a raise from none");
  }
  daemon_world w({.start_daemon = false});
  {
    // The daemon inherits a soft limit of 256 under a higher hard one.
    const rlimit low{256, own.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    try {
      w.start();
    } catch (...) {
      ::setrlimit(RLIMIT_NOFILE, &own);
      throw;
    }
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &own) == 0);
  }
  std::ifstream limits("/proc/" + std::to_string(w.daemon->pid()) + "/limits");
  std::string line;
  std::string open_files;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) == 0) open_files = line;
  }
  REQUIRE_FALSE(open_files.empty());
  std::istringstream fields(open_files.substr(std::strlen("Max open files")));
  std::string soft;
  std::string hard;
  fields >> soft >> hard;
  CHECK(soft == std::to_string(own.rlim_max));
  CHECK(hard == std::to_string(own.rlim_max));
}

TEST_CASE("the daemon is not dumpable: its own user cannot read its /proc files") {
  // Run as nobody, the daemon's /proc/PID files belong to root and its
  // environment cannot be read by nobody (PR_SET_DUMPABLE 0); a process of
  // nobody's that did not ask for that is the control.
  temp_dir dir;
  const auto home = dir.path() / "nobody";
  fs::create_directories(home / "run");
  REQUIRE(::chown(home.c_str(), nobody, nobody) == 0);
  REQUIRE(::chown((home / "run").c_str(), nobody, nobody) == 0);
  ::chmod((home / "run").c_str(), 0700);
  const auto config = dir.write("actokend.json",
                                json{{"socket", (home / "run" / "actokend.sock").string()},
                                     {"key_dir", (home / "keys").string()}}
                                    .dump(),
                                0644);
  const spawned_daemon daemon({"--user", "--config", config.string()}, {{"HOME", home.string()}},
                              nobody, home / "actokend.log", home / "run" / "actokend.sock");
  REQUIRE_MESSAGE(daemon.answering(), daemon.log_text());
  const auto proc = fs::path("/proc") / std::to_string(daemon.pid());
  struct stat st {};
  REQUIRE(::stat((proc / "status").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  CHECK_FALSE(can_open_as(nobody, proc / "environ"));

  // The control: an ordinary program of nobody's (exec makes a process
  // dumpable again after the change of user, as it did for the daemon).
  const pid_t sleeper = ::fork();
  REQUIRE(sleeper >= 0);
  if (sleeper == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
        ::setresuid(nobody, nobody, nobody) != 0) {
      ::_exit(2);
    }
    ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    ::_exit(126);
  }
  // Wait for the exec: before it, the child may not have changed user yet.
  const auto other = fs::path("/proc") / std::to_string(sleeper);
  const auto until = steady::now() + 10s;
  while (slurp(other / "comm") != "sleep\n" && steady::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(::stat((other / "status").c_str(), &st) == 0);
  CHECK(st.st_uid == nobody);
  CHECK(can_open_as(nobody, other / "environ"));
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
}

TEST_CASE("under the journal (JOURNAL_STREAM names stderr) log lines carry no timestamp") {
  daemon_world w({.start_daemon = false});
  const auto log = w.dir.write("actokend.log", "", 0600);
  struct stat st {};
  REQUIRE(::stat(log.c_str(), &st) == 0);
  const auto stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  {
    const scoped_env journal("JOURNAL_STREAM", stream.c_str());
    w.start();
  }
  const auto text = w.daemon->log();
  REQUIRE(text.find("info: actokend ") != std::string::npos);
  CHECK_MESSAGE(every_line(text, starts_with_a_level), text);

  // The control: a JOURNAL_STREAM for another file (stderr is not the journal).
  w.daemon.reset();
  w.dir.write("actokend.log", "", 0600);
  {
    const scoped_env elsewhere("JOURNAL_STREAM", "0:1");
    w.start();
  }
  const auto stamped = w.daemon->log();
  REQUIRE(stamped.find(" info: actokend ") != std::string::npos);
  CHECK_MESSAGE(every_line(stamped, starts_with_a_timestamp), stamped);
}

TEST_CASE(
    "$ACTOKEND_CONFIG names the config file; --config wins; a missing one is named, not echoed") {
  // Every daemon here gets --socket in the test's folder, so that one that
  // read no config at all would still touch nothing outside it; which file
  // was read shows in the organization it names.
  temp_dir dir;
  const auto socket = dir.path() / "actokend.sock";
  const auto config_naming = [&](const std::string& org) {
    return dir.write(org + ".json",
                     json{{"key_dir", (dir.path() / "keys").string()},
                          {"organizations", {{org, json::object()}}}}
                         .dump(),
                     0644);
  };
  const auto from_env = config_naming("from-env");
  const auto from_flag = config_naming("from-flag");
  const auto orgs_served = [&] {
    std::string names;
    const auto all = unix_request(socket, "GET", "/v1/orgs").json();  // outlives the loop
    for (const auto& org : all["orgs"]) {
      names += org["name"].get<std::string>() + " ";
    }
    return names;
  };
  {
    const spawned_daemon daemon({"--socket", socket.string()},
                                {{"ACTOKEND_CONFIG", from_env.string()}}, 0, dir.path() / "env.log",
                                socket);
    REQUIRE_MESSAGE(daemon.answering(), daemon.log_text());
    CHECK(orgs_served() == "from-env ");
  }
  {
    const spawned_daemon daemon({"--socket", socket.string(), "--config", from_flag.string()},
                                {{"ACTOKEND_CONFIG", from_env.string()}}, 0,
                                dir.path() / "flag.log", socket);
    REQUIRE_MESSAGE(daemon.answering(), daemon.log_text());
    CHECK(orgs_served() == "from-flag ");
  }
  const std::string pasted = "ac_pak_ThisLooksLikeAKeyPastedByMistake0123";
  const auto missing =
      run_process({"/usr/bin/timeout", "20", actokend_path(), "--socket", socket.string()},
                  {{"ACTOKEND_CONFIG", (dir.path() / pasted).string()}});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err == "actokend: the config file named by $ACTOKEND_CONFIG does not exist\n");
  CHECK(missing.err.find(pasted) == std::string::npos);
}
