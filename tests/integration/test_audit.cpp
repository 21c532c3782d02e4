// The audit log (SPEC §6 "Audit"), end to end: the real actokend (as root)
// with `audit_log` set, peers that are this test process, the CLI and a
// child that drops to `nobody`. Each line is read back as JSON and checked
// member by member: who (uid, user, pid, executable), what, which
// organization, the result and the token's fingerprint, never a token or a
// key. Also: a SIGHUP after logrotate's rename starts a new file; a write the
// kernel refuses (RLIMIT_FSIZE) is counted in /metrics while tokens are
// still served; `"-"` puts the lines in the daemon's own log.
#include "daemon/platform/process_details.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

// Audit lines keep their members' order when read back.
using line_json = nlohmann::ordered_json;

namespace {

// Lines are written at the end of the daemon's turn, just after the answer
// went out: wait for them, with a bound far above what a turn takes.
constexpr auto line_wait = std::chrono::seconds{10};

std::vector<line_json> parse_lines(const std::string& text) {
  std::vector<line_json> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    if (end == std::string::npos) break;  // a line still being written
    lines.push_back(line_json::parse(text.substr(start, end - start)));
    start = end + 1;
  }
  return lines;
}

// The file's lines once it has at least `count` of them.
std::vector<line_json> wait_for_lines(const std::filesystem::path& path, std::size_t count) {
  const auto until = std::chrono::steady_clock::now() + line_wait;
  for (;;) {
    auto lines = parse_lines(slurp(path));
    if (lines.size() >= count || std::chrono::steady_clock::now() > until) return lines;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

// Exactly SPEC's members, in SPEC's order.
void check_shape(const line_json& line) {
  CAPTURE(line.dump());
  std::vector<std::string> keys;
  for (const auto& [key, value] : line.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"at", "peer", "action", "org", "sub_org", "result",
                                         "source", "token"});
  CHECK(line["at"].get<std::string>().size() == 20);  // 2026-11-30T03:12:05Z
  if (!line["peer"].is_null()) {
    std::vector<std::string> peer_keys;
    for (const auto& [key, value] : line["peer"].items()) peer_keys.push_back(key);
    CHECK(peer_keys == std::vector<std::string>{"uid", "user", "pid", "exe", "unit"});
  }
}

// What a peer that is this test process looks like in a line.
void check_self(const line_json& peer) {
  CAPTURE(peer.dump());
  CHECK(peer["uid"] == ::geteuid());
  CHECK(peer["pid"] == ::getpid());
  CHECK(peer["exe"] == std::filesystem::read_symlink("/proc/self/exe").string());
  const auto unit = platform::systemd_unit_of_cgroup(slurp("/proc/self/cgroup"));
  CHECK(peer["unit"] == (unit ? line_json(*unit) : line_json(nullptr)));
}

constexpr int become_failed = 120;

// Asks for `target` as `nobody` from a child process, which stays alive until
// answered (the daemon reads its details at accept). Returns the child's pid
// and the HTTP status it got.
std::pair<pid_t, int> request_as_nobody(const std::filesystem::path& socket,
                                        const std::string& method, const std::string& target) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
      ::_exit(become_failed);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      ::_exit(2);
    }
    const std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      ::_exit(3);
    }
    char answer[64] = {};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0 || ::recv(fd, answer, sizeof answer - 1, 0) < 12) ::_exit(4);
    // "HTTP/1.1 403": the status less 200 fits an exit code.
    ::_exit((answer[9] - '0') * 100 + (answer[10] - '0') * 10 + (answer[11] - '0') - 200);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == become_failed || code < 0)
    throw std::runtime_error("could not become nobody (run as root)");
  return {pid, code + 200};
}

// A world whose daemon audits to DIR/audit.log (relative: beside the config)
// and lets every user reach its socket, so that refusals are the access
// policy's.
struct audit_world : daemon_world {
  audit_world() : daemon_world({.config = {{"audit_log", "audit.log"}, {"socket_mode", "0666"}}}) {}
  std::filesystem::path log_path() const { return dir.path() / "audit.log"; }
};

std::string token_for(const daemon_world& world) {
  const auto reply = unix_request(world.socket(), "GET", "/v1/token?org=acme");
  REQUIRE(reply.status == 200);
  return reply.json()["access_token"].get<std::string>();
}

double metric(const daemon_world& world, const std::string& name) {
  const auto text = unix_request(world.socket(), "GET", "/metrics").body;
  const auto at = text.find("\n" + name + " ");
  REQUIRE_MESSAGE(at != std::string::npos, name << " not in /metrics");
  return std::stod(text.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("served, refused, flushed, keys put and removed, reloaded: one line each, no secret") {
  audit_world world;
  CHECK(mode_of(world.log_path()) == 0600);

  // A token by exchange, then from the cache, asked by this process.
  const auto token = token_for(world);
  CHECK(token_for(world) == token);
  // The CLI: its own executable.
  const auto cli = world.cli({"token", "acme"});
  REQUIRE(cli.exit_code == 0);
  // Refused: nobody is not allowed (no allow list: root and the daemon's user only).
  const auto [nobody_pid, nobody_status] =
      request_as_nobody(world.socket(), "GET", "/v1/token?org=acme");
  CHECK(nobody_status == 403);
  // A flush, a key put and its removal, by root.
  CHECK(unix_request(world.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
  const std::string beta_key = "beta-" + awkward_key();
  CHECK(unix_request(world.socket(), "PUT", "/v1/orgs/beta/key",
                     json{{"key", beta_key}, {"persist", false}}.dump())
            .status == 200);
  CHECK(unix_request(world.socket(), "DELETE", "/v1/orgs/beta/key").status == 200);
  // A reload by signal (no peer), then one asked for on the socket.
  world.daemon->reload();
  CHECK(unix_request(world.socket(), "POST", "/v1/reload").status == 200);

  const auto lines = wait_for_lines(world.log_path(), 9);
  REQUIRE(lines.size() == 9);
  for (const auto& line : lines) check_shape(line);

  const auto& exchanged = lines[0];
  CHECK(exchanged["action"] == "token");
  CHECK(exchanged["org"] == "acme");
  CHECK(exchanged["sub_org"].is_null());
  CHECK(exchanged["result"] == "ok");
  CHECK(exchanged["source"] == "exchange");
  CHECK(exchanged["token"] == fingerprint_of(token));
  check_self(exchanged["peer"]);
  CHECK(exchanged["peer"]["user"] == "root");

  CHECK(lines[1]["source"] == "cache");
  CHECK(lines[1]["token"] == fingerprint_of(token));
  check_self(lines[1]["peer"]);

  const auto& by_cli = lines[2];
  CHECK(by_cli["result"] == "ok");
  CHECK(by_cli["token"] == fingerprint_of(token));
  CHECK(by_cli["peer"]["exe"] == std::filesystem::canonical(actoken_path()).string());
  CHECK(by_cli["peer"]["pid"] != ::getpid());

  const auto& refused = lines[3];
  CHECK(refused["action"] == "token");
  CHECK(refused["org"] == "acme");
  CHECK(refused["result"] == "forbidden");
  CHECK(refused["source"].is_null());
  CHECK(refused["token"].is_null());
  CHECK(refused["peer"]["uid"] == 65534);
  CHECK(refused["peer"]["user"].is_null());  // the config names no such user: not looked up
  CHECK(refused["peer"]["pid"] == nobody_pid);
  // A fork of this test: the same executable, read while it waited for its answer.
  CHECK(refused["peer"]["exe"] == std::filesystem::read_symlink("/proc/self/exe").string());

  CHECK(lines[4]["action"] == "flush");
  CHECK(lines[4]["org"] == "acme");
  CHECK(lines[4]["result"] == "ok");
  CHECK(lines[5]["action"] == "key_put");
  CHECK(lines[5]["org"] == "beta");
  CHECK(lines[5]["result"] == "ok");
  CHECK(lines[6]["action"] == "key_delete");
  CHECK(lines[6]["org"] == "beta");
  CHECK(lines[6]["result"] == "ok");
  CHECK(lines[7]["action"] == "reload");
  CHECK(lines[7]["peer"].is_null());
  CHECK(lines[7]["result"] == "ok");
  CHECK(lines[8]["action"] == "reload");
  check_self(lines[8]["peer"]);
  for (const auto& line : lines) CHECK(line["peer"].is_null() == (line == lines[7]));

  // No token and no key anywhere in the file, nor in the daemon's log.
  const auto text = slurp(world.log_path());
  for (const auto& secret : {token, world.key, beta_key}) {
    CHECK(text.find(secret) == std::string::npos);
    CHECK(world.daemon->log().find(secret) == std::string::npos);
  }
  CHECK(metric(world, "actoken_audit_errors_total") == 0);
}

TEST_CASE("refusals are audited with their error code, and what was typed only when well-formed") {
  audit_world world;
  const auto [flush_pid, flush_status] = request_as_nobody(world.socket(), "DELETE", "/v1/tokens");
  CHECK(flush_status == 403);
  CHECK(unix_request(world.socket(), "DELETE", "/v1/orgs/acmee/key").status == 404);
  CHECK(unix_request(world.socket(), "GET", "/v1/token?org=bad%20name").status == 400);
  CHECK(unix_request(world.socket(), "GET", "/v1/token?org=acme&sub_org=not%20an%20alias").status ==
        400);
  const auto lines = wait_for_lines(world.log_path(), 4);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["action"] == "flush");
  CHECK(lines[0]["org"].is_null());  // every organization
  CHECK(lines[0]["result"] == "forbidden");
  CHECK(lines[0]["peer"]["pid"] == flush_pid);
  CHECK(lines[1]["action"] == "key_delete");
  CHECK(lines[1]["org"] == "acmee");
  CHECK(lines[1]["result"] != "ok");
  // What a caller typed as an organization is never repeated unless it is a valid name.
  CHECK(lines[2]["result"] == "bad_request");
  CHECK(lines[2]["org"].is_null());
  CHECK(lines[3]["result"] == "bad_request");
  CHECK(lines[3]["org"] == "acme");
  CHECK(lines[3]["sub_org"].is_null());
}

TEST_CASE("a key put with verify is audited once its trial exchange is done") {
  audit_world world;
  const auto bad = unix_request(world.socket(), "PUT", "/v1/orgs/beta/key",
                                json{{"key", "not-" + world.key}, {"verify", true}}.dump());
  CHECK(bad.status == 502);
  const auto good =
      unix_request(world.socket(), "PUT", "/v1/orgs/acme/key",
                   json{{"key", world.key}, {"verify", true}, {"persist", false}}.dump());
  CHECK(good.status == 200);
  const auto lines = wait_for_lines(world.log_path(), 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["action"] == "key_put");
  CHECK(lines[0]["org"] == "beta");
  CHECK(lines[0]["result"] == "key_rejected");
  CHECK(lines[0]["peer"]["pid"] == ::getpid());
  CHECK(lines[1]["action"] == "key_put");
  CHECK(lines[1]["org"] == "acme");
  CHECK(lines[1]["result"] == "ok");
  CHECK(slurp(world.log_path()).find(world.key) == std::string::npos);
}

TEST_CASE("SIGHUP after logrotate renamed the file: a new 0600 file gets the next lines") {
  audit_world world;
  const auto token = token_for(world);
  REQUIRE(wait_for_lines(world.log_path(), 1).size() == 1);
  const auto rotated = world.dir.path() / "audit.log.1";
  std::filesystem::rename(world.log_path(), rotated);

  world.daemon->reload();
  CHECK(mode_of(world.log_path()) == 0600);
  token_for(world);
  const auto lines = wait_for_lines(world.log_path(), 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["action"] == "reload");
  CHECK(lines[1]["action"] == "token");
  CHECK(lines[1]["source"] == "cache");
  // The old file kept its line and got no other.
  CHECK(parse_lines(slurp(rotated)).size() == 1);
}

TEST_CASE("a refused config still reopens the file, and its reload is audited as config_refused") {
  audit_world world;
  token_for(world);
  REQUIRE(wait_for_lines(world.log_path(), 1).size() == 1);
  std::filesystem::rename(world.log_path(), world.dir.path() / "audit.log.1");
  // logrotate runs while someone has broken the config.
  auto broken = world.config;
  broken["colour"] = "blue";
  world.dir.write("actokend.json", broken.dump());
  world.daemon->reload();
  CHECK(world.daemon->get("/v1/status").json()["last_reload"]["ok"] == false);
  CHECK(unix_request(world.socket(), "POST", "/v1/reload").json()["ok"] == false);
  const auto lines = wait_for_lines(world.log_path(), 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["action"] == "reload");
  CHECK(lines[0]["peer"].is_null());
  CHECK(lines[0]["result"] == "config_refused");
  CHECK(lines[1]["action"] == "reload");
  CHECK(lines[1]["peer"]["uid"] == 0);
  CHECK(lines[1]["result"] == "config_refused");
}

TEST_CASE("a write the kernel refuses is counted, logged without secrets, and tokens still flow") {
  audit_world world;
  const auto token = token_for(world);
  REQUIRE(wait_for_lines(world.log_path(), 1).size() == 1);
  // The file may grow no further (RLIMIT_FSIZE, set on the daemon by root):
  // every write fails with EFBIG, as on a full disk.
  const auto size = std::filesystem::file_size(world.log_path());
  rlimit before{};
  REQUIRE(::prlimit(world.daemon->pid(), RLIMIT_FSIZE, nullptr, &before) == 0);
  const rlimit limit{size, before.rlim_max};  // the soft limit: it can be raised again
  REQUIRE(::prlimit(world.daemon->pid(), RLIMIT_FSIZE, &limit, nullptr) == 0);

  CHECK(token_for(world) == token);
  CHECK(token_for(world) == token);
  const auto until = std::chrono::steady_clock::now() + line_wait;
  while (metric(world, "actoken_audit_errors_total") < 2 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  CHECK(metric(world, "actoken_audit_errors_total") == 2);
  CHECK(std::filesystem::file_size(world.log_path()) == size);
  // (The daemon's own log is a file under the same limit here: its warning
  // is checked in the next case.)

  // Room again: the next line is written, the count stays.
  REQUIRE(::prlimit(world.daemon->pid(), RLIMIT_FSIZE, &before, nullptr) == 0);
  CHECK(token_for(world) == token);
  const auto lines = wait_for_lines(world.log_path(), 2);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["token"] == fingerprint_of(token));
  CHECK(metric(world, "actoken_audit_errors_total") == 2);
}

TEST_CASE("an audit file in a folder others may write is refused, and the daemon serves on") {
  temp_dir open_dir;
  ::chmod(open_dir.path().c_str(), 01777);  // like /tmp
  daemon_world world({.config = {{"audit_log", (open_dir.path() / "audit.log").string()}}});
  CHECK_FALSE(std::filesystem::exists(open_dir.path() / "audit.log"));
  const auto status = world.daemon->get("/v1/status").json();
  CHECK(status["last_reload"]["message"].get<std::string>().find(
            open_dir.path().string() + " is writable by others (mode 1777") != std::string::npos);
  token_for(world);
  const auto until = std::chrono::steady_clock::now() + line_wait;
  while (metric(world, "actoken_audit_errors_total") < 1 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  CHECK(metric(world, "actoken_audit_errors_total") == 1);
  const auto log = world.daemon->log();
  CHECK(log.find("audit log: 1 lines lost") != std::string::npos);
  CHECK(log.find("actoken_audit_errors_total") != std::string::npos);
}

TEST_CASE("--check-config reports an audit file the daemon would refuse") {
  temp_dir dir;
  temp_dir open_dir;
  ::chmod(open_dir.path().c_str(), 01777);
  const auto check = [&](const std::string& audit_log) {
    const auto config = dir.write(
        "actokend.json",
        json{{"audit_log", audit_log}, {"key_dir", (dir.path() / "keys").string()}}.dump());
    return run_process({actokend_path(), "--check-config", "--config", config.string()});
  };
  const auto refused = check((open_dir.path() / "audit.log").string());
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find(": audit_log: " + open_dir.path().string() + " is writable by others") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(open_dir.path() / "audit.log"));
  const auto fine = check("audit.log");
  CHECK(fine.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "audit.log"));  // checked, not created
  CHECK(check("-").exit_code == 0);
}

TEST_CASE("audit_log \"-\": the lines go to the daemon's own log") {
  daemon_world world({.config = {{"audit_log", "-"}, {"log_level", "error"}}});
  const auto token = token_for(world);
  const auto until = std::chrono::steady_clock::now() + line_wait;
  std::string log;
  while ((log = world.daemon->log()).find("audit {") == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  // Whatever log_level says: the audit trail is not a debug message.
  const auto at = log.find("audit {");
  REQUIRE(at != std::string::npos);
  const auto line = line_json::parse(log.substr(at + 6, log.find('\n', at) - at - 6));
  check_shape(line);
  CHECK(line["token"] == fingerprint_of(token));
  CHECK(log.find(token) == std::string::npos);
}

TEST_CASE("docs/operations.md: the jq queries find the job that used acme's token") {
  // scripts/bootstrap installs jq: without it this is a failure, not a skip
  // (a fresh machine once skipped it here and looked green).
  INFO("jq is not installed (scripts/bootstrap installs it)");
  REQUIRE(::system("command -v jq >/dev/null 2>&1") == 0);
  audit_world world;
  const auto token = token_for(world);
  request_as_nobody(world.socket(), "GET", "/v1/token?org=acme");
  const auto lines = wait_for_lines(world.log_path(), 2);
  REQUIRE(lines.size() == 2);

  // The page's query, on this file and this minute.
  const auto page = slurp(std::filesystem::path(ACTOKEN_SOURCE_DIR) / "docs" / "operations.md");
  const auto heading = page.find("**Which job used acme's token at 03:12:**");
  REQUIRE(heading != std::string::npos);
  const auto start = page.find("```sh\n", heading) + 6;
  auto query = page.substr(start, page.find("```", start) - start);
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = query.find(from);
    REQUIRE(at != std::string::npos);
    query.replace(at, from.size(), to);
  };
  replace("/var/log/actoken/audit.log", world.log_path().string());
  replace("2026-11-30T03:12", lines[0]["at"].get<std::string>().substr(0, 16));
  const auto found = run_process({"/bin/sh", "-c", query});
  REQUIRE(found.exit_code == 0);
  // Both answers of that minute (unless the minute turned between them), each
  // naming the asker.
  const auto first = json::parse(found.out.substr(0, found.out.find('\n')));
  CHECK(first["uid"] == 0);
  CHECK(first["pid"] == ::getpid());
  CHECK(first["result"] == "ok");
  CHECK(first["token"] == fingerprint_of(token));
  if (lines[1]["at"].get<std::string>().substr(0, 16) ==
      lines[0]["at"].get<std::string>().substr(0, 16)) {
    CHECK(found.out.find("\"uid\":65534") != std::string::npos);
  }

  // The page's way back from a token that turned up somewhere to who received it.
  const auto span = [&](const std::string& opening) {
    const auto at = page.find("`" + opening);
    REQUIRE(at != std::string::npos);
    return page.substr(at + 1, page.find('`', at + 1) - at - 1);
  };
  auto lookup = span("jq -c --arg fp");
  const std::string doc_path = "/var/log/actoken/audit.log";
  lookup.replace(lookup.find(doc_path), doc_path.size(), "\"$LOG\"");
  const auto by_fingerprint = run_process({"/bin/sh", "-c", span("fp=$(") + " && " + lookup},
                                          {{"TOKEN", token}, {"LOG", world.log_path().string()}});
  REQUIRE(by_fingerprint.exit_code == 0);
  CHECK(json::parse(by_fingerprint.out)["peer"]["pid"] == ::getpid());
}

namespace {

// A cgroup hierarchy this test may make cgroups in, with the kind of line
// /proc/PID/cgroup shows for it: the unified one (cgroup2, at /sys/fs/cgroup
// or /sys/fs/cgroup/unified), else systemd's v1 `name=systemd`; nullopt when
// there is none.
std::optional<std::filesystem::path> writable_cgroup_root() {
  for (const char* root : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}) {
    const std::filesystem::path path(root);
    if (std::filesystem::exists(path / "cgroup.procs") && ::access(path.c_str(), W_OK) == 0) {
      return path;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a peer under a user's service manager is written with it: user@1003.service/...") {
  // A user may make cgroups below their own user@.service (it is delegated to
  // them), named as a system unit is: the line must not look like that unit's.
  // Made here, as root, under a slice of this test's own.
  const auto root = writable_cgroup_root();
  if (!root) return skip_case("no cgroup hierarchy this test may write");
  const auto slice = *root / ("actoken-test-" + std::to_string(::getpid()) + ".slice");
  const auto manager = slice / "user@1003.service";
  const auto unit = manager / "app.slice" / "backup-prod.service";
  std::error_code made;
  std::filesystem::create_directories(unit, made);
  if (made) return skip_case("cannot make cgroups: " + made.message());

  audit_world world;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Into the cgroup, then ask: the daemon reads the unit at accept.
    const auto procs = unit / "cgroup.procs";
    const int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0\n", 2) != 2) ::_exit(5);
    ::close(fd);
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, world.socket().c_str(), sizeof address.sun_path - 1);
    static constexpr char request[] =
        "GET /v1/token?org=acme HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::send(sock, request, sizeof request - 1, MSG_NOSIGNAL) <= 0) {
      ::_exit(6);
    }
    char answer[64] = {};
    pollfd p{sock, POLLIN, 0};
    ::_exit(::poll(&p, 1, 60000) > 0 && ::recv(sock, answer, sizeof answer, 0) > 0 ? 0 : 7);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::error_code ignored;
  for (const auto& path : {unit, unit.parent_path(), manager, slice}) {
    std::filesystem::remove(path, ignored);
  }
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 5) return skip_case("cannot move a process into a cgroup here");
  REQUIRE(WEXITSTATUS(status) == 0);

  const auto lines = wait_for_lines(world.log_path(), 1);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["peer"]["pid"] == pid);
  CHECK(lines[0]["peer"]["unit"] == "user@1003.service/backup-prod.service");
  CHECK(lines[0]["result"] == "ok");
}
