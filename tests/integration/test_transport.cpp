// The socket and the connections on it (SPEC §4, §6), against the real daemon:
// the socket's folder rules (refused, never "fixed"), the socket born with its
// final mode (never chmod-ed by path), socket_mode's permission bits,
// descriptor exhaustion, and what a key PUT leaves in the daemon's memory (a
// real core, from gdb's gcore). Needs root, as CI runs.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace {

std::optional<std::string> find_tool(const std::string& name) {
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    const auto candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A folder inside `parent` with exactly `mode` (mkdir then chmod: the test's
// own umask must not decide it) and `owner`.
fs::path make_folder(const fs::path& parent, const std::string& name, mode_t mode,
                     uid_t owner = 0) {
  const auto path = parent / name;
  REQUIRE(::mkdir(path.c_str(), 0700) == 0);
  REQUIRE(::chown(path.c_str(), owner, static_cast<gid_t>(-1)) == 0);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

// Starts actokend with `config` (and `args`); its error when it refuses to
// start, "" when it started (then it is stopped again).
std::string start_failure(const temp_dir& dir, const json& config,
                          const std::vector<std::string>& args = {}) {
  try {
    daemon_process daemon(dir, config, args);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// A config of the usual world whose socket is `socket`.
json with_socket(const daemon_world& w, const fs::path& socket) {
  auto config = w.config;
  config["socket"] = socket.string();
  return config;
}

// `text` percent-encoded as a form body carries it: %XX in `hex`'s case.
std::string form_encoded(const std::string& text, const char* hex) {
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      out.push_back(c);
    } else {
      out += '%';
      out += hex[static_cast<unsigned char>(c) >> 4U];
      out += hex[static_cast<unsigned char>(c) & 0xFU];
    }
  }
  return out;
}

// How many `window`-byte pieces of `needle` occur in `haystack` (a partial
// copy, say a small-string buffer's worth, counts too).
std::size_t pieces_found(const std::string& haystack, const std::string& needle,
                         std::size_t window = 12) {
  std::size_t found = 0;
  for (std::size_t i = 0; i + window <= needle.size(); ++i) {
    if (haystack.find(needle.substr(i, window)) != std::string::npos) ++found;
  }
  return found;
}

}  // namespace

TEST_CASE("a sticky shared folder is refused as the socket's folder, and its mode kept") {
  daemon_world w({.start_daemon = false});
  const auto shared = make_folder(w.dir.path(), "shared", 01777);
  for (const char* mode : {"--user", "--system"}) {
    const std::vector<std::string> args{mode};
    CAPTURE(args.front());
    const auto error = start_failure(w.dir, with_socket(w, shared / "actokend.sock"), args);
    CHECK_MESSAGE(error.find("use a folder of its own below it") != std::string::npos, error);
    CHECK(error.find(shared.string()) != std::string::npos);
    CHECK(mode_of(shared) == 01777);
    CHECK_FALSE(fs::exists(shared / "actokend.sock"));
  }
}

// Every folder on the way is judged (SPEC §6 "Every file the daemon writes
// or deletes"), not only the socket's own: its group could swap the folder
// below a group-writable one. A link on the way is followed only when it is
// root's in a folder only root can write (test_unix_listener: /var/run).
TEST_CASE(
    "a folder others can write, owned by another user, below a group-writable one, or another "
    "user's link on the way is refused") {
  daemon_world w({.start_daemon = false});
  struct variant {
    const char* name;
    fs::path folder;
    std::string reason;
    mode_t mode;
  };
  const auto target = make_folder(w.dir.path(), "target", 0755);
  const auto link = w.dir.path() / "link";
  fs::create_directory_symlink(target, link);
  REQUIRE(::lchown(link.c_str(), 65534, 65534) == 0);
  const auto ancestor = make_folder(w.dir.path(), "ancestor", 0775);
  const variant variants[] = {
      {"world-writable", make_folder(w.dir.path(), "open", 0777),
       "is writable by others (mode 0777)", 0777},
      {"group-writable", make_folder(w.dir.path(), "group", 0775),
       "is writable by its group (mode 0775)", 0775},
      {"owned by nobody", make_folder(w.dir.path(), "theirs", 0755, 65534), "belongs to uid 65534",
       0755},
      {"below a group-writable folder", make_folder(ancestor, "run", 0755),
       ancestor.string() + " is writable by its group (mode 0775)", 0755},
      {"another user's symbolic link", link,
       link.string() + " is a symbolic link owned by uid 65534", 0777},
  };
  for (const auto& v : variants) {
    CAPTURE(v.name);
    const auto error = start_failure(w.dir, with_socket(w, v.folder / "actokend.sock"));
    CHECK_MESSAGE(error.find(v.reason) != std::string::npos, error);
    CHECK(mode_of(v.folder) == v.mode);
    CHECK_FALSE(fs::exists(fs::symlink_status(v.folder / "actokend.sock")));
    CHECK_FALSE(fs::exists(fs::symlink_status(v.folder / "actokend.sock.lock")));
  }
  CHECK(fs::is_empty(target));
  CHECK(mode_of(target) == 0755);
}

TEST_CASE("an existing folder's mode is never changed; a missing one is made 0700 or 0755") {
  daemon_world w({.start_daemon = false});
  // Root's 0755 folder passes (owned by root, no one else can write it), in
  // either mode, and keeps its mode: user mode used to take it to 0700.
  const auto existing = make_folder(w.dir.path(), "existing", 0755);
  for (const std::string mode : {"--user", "--system"}) {
    CAPTURE(mode);
    daemon_process daemon(w.dir, with_socket(w, existing / "actokend.sock"), {mode});
    CHECK(daemon.get("/v1/health").status == 200);
    CHECK(mode_of(existing) == 0755);
    CHECK(daemon.stop() == 0);
    CHECK(mode_of(existing) == 0755);
  }
  const std::pair<std::string, mode_t> created[] = {{"--user", 0700}, {"--system", 0755}};
  for (const auto& item : created) {
    // Named, not bound: clang 14 cannot capture a structured binding (CAPTURE is a lambda).
    const auto& mode = item.first;
    const auto folder_mode = item.second;
    CAPTURE(mode);
    const auto missing = w.dir.path() / ("missing" + mode);
    daemon_process daemon(w.dir, with_socket(w, missing / "actokend.sock"), {mode});
    CHECK(daemon.get("/v1/health").status == 200);
    CHECK(mode_of(missing) == folder_mode);
  }
}

TEST_CASE("the socket is born with its final mode and group") {
  daemon_world w({.start_daemon = false});
  for (const char* mode : {"0600", "0660", "0666"}) {
    CAPTURE(mode);
    auto config = w.config;
    config["socket_mode"] = mode;
    config["socket_group"] = "nogroup";
    daemon_process daemon(w.dir, config);
    struct stat st {};
    REQUIRE(::lstat(daemon.socket().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == std::strtoul(mode, nullptr, 8));
    CHECK(st.st_gid == 65534);
  }
}

TEST_CASE("the socket's mode and group are never set by path: no chmod, no chown that follows") {
  const auto strace = find_tool("strace");
  INFO("strace is not installed (scripts/bootstrap installs it)");
  REQUIRE(strace.has_value());
  daemon_world w({.start_daemon = false});
  auto config = w.config;
  config["socket_mode"] = "0660";
  config["socket_group"] = "nogroup";
  const auto config_path = w.dir.write("traced.json", config.dump());
  const auto socket = fs::path(config["socket"].get<std::string>());
  const auto trace = w.dir.path() / "trace.txt";
  std::vector<std::string> argv{*strace,
                                "-f",
                                "-qq",
                                "-o",
                                trace.string(),
                                "-e",
                                "trace=chmod,fchmodat,chown,lchown,fchownat,bind",
                                actokend_path(),
                                "--config",
                                config_path.string()};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // strace and the daemon: one group, stopped together
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  REQUIRE(pid > 0);
  // Until it answers: the socket is then made, grouped and listening.
  bool ready = false;
  for (const auto until = std::chrono::steady_clock::now() + 20s;
       !ready && std::chrono::steady_clock::now() < until;) {
    try {
      ready = unix_request(socket, "GET", "/v1/health").status == 200;
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  ::kill(-pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(ready);
  const auto calls = read_bytes(trace);
  CAPTURE(calls);
  CHECK(calls.find("bind(") != std::string::npos);  // the trace saw the socket made
  CHECK(calls.find("chmod(") == std::string::npos);
  CHECK(calls.find("fchmodat(") == std::string::npos);
  CHECK(calls.find(" chown(") == std::string::npos);
  CHECK(calls.find("lchown(") == std::string::npos);
  // The one chown: by name inside the checked folder's descriptor, not following a link.
  std::istringstream lines(calls);
  std::string line;
  int fchownats = 0;
  while (std::getline(lines, line)) {
    if (line.find("fchownat(") == std::string::npos) continue;
    ++fchownats;
    CHECK(line.find("AT_FDCWD") == std::string::npos);
    CHECK(line.find("AT_SYMLINK_NOFOLLOW") != std::string::npos);
  }
  CHECK(fchownats == 1);
}

TEST_CASE(
    "socket_mode with setuid, setgid or sticky bits is refused by --check-config and at start") {
  daemon_world w({.start_daemon = false});
  for (const char* mode : {"6777", "1777", "4600"}) {
    CAPTURE(mode);
    auto config = w.config;
    config["socket_mode"] = mode;
    const auto path = w.dir.write("bits.json", config.dump());
    const auto checked =
        run_process({actokend_path(), "--check-config", "--config", path.string()});
    CHECK(checked.exit_code == 1);
    CHECK_MESSAGE(checked.err.find("socket_mode: takes permission bits only") != std::string::npos,
                  checked.out << checked.err);
    const auto error = start_failure(w.dir, config);
    CHECK_MESSAGE(error.find("socket_mode") != std::string::npos, error);
  }
}

TEST_CASE("out of descriptors, 100 idle connections do not lock a new client out") {
  // RLIMIT_NOFILE 64, soft and hard (the daemon raises soft to hard), with
  // max_connections at its default of 1024: the descriptor table is the limit.
  daemon_world w({.start_daemon = false});
  w.daemon.emplace(w.dir, w.config, std::vector<std::string>{}, 64U);
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    const int fd = open_connection(w.socket());
    REQUIRE(fd >= 0);  // accepted, or waiting in the listen queue
    idle.push_back(fd);
  }
  // The new client's token needs an exchange: an upstream connection, one
  // more descriptor, while the table is full.
  const auto start = std::chrono::steady_clock::now();
  const auto answer =
      unix_raw(w.socket(),
               "GET /v1/token?org=acme HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 3000ms);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_MESSAGE(answer.rfind("HTTP/1.1 200 ", 0) == 0, answer << w.daemon->log());
  CHECK(took < 3s);
  CHECK(w.upstream.exchanges_for(w.key) == 1);
  // And once more, from the cache, with the idle connections still queueing.
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.daemon->log().find("out of file descriptors") != std::string::npos);
  for (const int fd : idle) ::close(fd);
}

TEST_CASE("a core of the daemon after a key PUT holds no copy of the key") {
  // Under AddressSanitizer the daemon maps tens of GiB (the allocator's space,
  // quarantine) that gcore would write out in full: the core test does not run.
  if (skipped_under_asan("whose mappings make a core of tens of GiB")) return;
  const auto gcore = find_tool("gcore");
  REQUIRE_MESSAGE(gcore.has_value(), "gcore (Debian package gdb, see scripts/bootstrap) is needed");
  // An organization whose name the daemon holds in ordinary heap memory: the
  // core is searched for it too, so a search that finds nothing means something.
  const auto control = "control-" + random_text(24);
  daemon_world w({.config = {{"organizations", {{control, json::object()}}}}});
  // '+', '/' and '=' are sent as they are in JSON and as %2B, %2F, %3D in a form.
  const auto key = random_text(40) + "+/" + random_text(40) + "=";
  w.upstream.add_account(key, acme_org_id);
  const auto body = json{{"key", key}, {"persist", false}}.dump();

  // A real core of the running daemon: gdb attaches as root (CAP_SYS_PTRACE),
  // which the daemon's PR_SET_DUMPABLE 0 does not keep out, and leaves out
  // what is marked MADV_DONTDUMP, as the kernel's own core dump would.
  const auto check_core = [&](const std::string& when) {
    CAPTURE(when);
    const auto prefix = w.dir.path() / "core";
    const auto pid = std::to_string(w.daemon->pid());
    const auto dumped = run_process({*gcore, "-o", prefix.string(), pid});
    const auto core_path = prefix.string() + "." + pid;
    REQUIRE_MESSAGE(fs::exists(core_path), dumped.out << dumped.err);
    const auto size = fs::file_size(core_path);
    if (size > (std::uintmax_t{1} << 30)) fs::remove(core_path);
    REQUIRE_MESSAGE(size <= (std::uintmax_t{1} << 30), "a core of " << size << " bytes");
    const auto core = read_bytes(core_path);
    fs::remove(core_path);
    REQUIRE(core.size() > 100'000);
    CHECK(core.find(control) != std::string::npos);
    CHECK(pieces_found(core, key) == 0);
    CHECK(pieces_found(core, form_encoded(key, "0123456789ABCDEF")) == 0);
    CHECK(pieces_found(core, form_encoded(key, "0123456789abcdef")) == 0);
    CHECK(w.daemon->get("/v1/health").status == 200);  // gcore let it go
  };

  const auto put = unix_request(w.socket(), "PUT", "/v1/orgs/acme/key", body);
  REQUIRE_MESSAGE(put.status == 200, put.body);
  check_core("right after the PUT");

  // Again on a connection kept alive past the PUT, with a request pipelined
  // behind it in the same read buffer; then a token exchanged with the key.
  const auto twice = unix_raw(w.socket(),
                              "PUT /v1/orgs/acme/key HTTP/1.1\r\nHost: x\r\n"
                              "Content-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body +
                                  "GET /v1/health HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\n\r\n");
  CHECK(twice.rfind("HTTP/1.1 200 ", 0) == 0);
  CHECK(twice.find("\"status\":\"ok\"") != std::string::npos);
  const auto token = w.daemon->get("/v1/token?org=acme");
  REQUIRE_MESSAGE(token.status == 200, token.body);
  CHECK(w.upstream.exchanges_for(key) == 1);
  check_core("after a pipelined PUT and an exchange");
}

TEST_CASE("a key with white space or a control character inside is bad_request, nothing stored") {
  daemon_world w;
  for (const std::string& inside : {std::string("\n"), std::string(" "), std::string("\t"),
                                    std::string("\r"), std::string(1, '\0'), std::string("\x7f")}) {
    const auto key = random_text(20) + inside + random_text(20);
    const auto body = json{{"key", key}}.dump();
    const auto reply = unix_request(w.socket(), "PUT", "/v1/orgs/newco/key", body);
    CHECK(reply.status == 400);
    CHECK(reply.json()["error"] == "bad_request");
    CHECK(reply.json()["message"].get<std::string>().find("white space or a control character") !=
          std::string::npos);
    CHECK(pieces_found(reply.body, key, 8) == 0);
    CHECK_FALSE(fs::exists(w.dir.path() / "keys" / "newco.key"));
    CHECK(w.org_view("newco").is_null());
  }
  // White space around the key is trimmed, as in a key file.
  const auto key = random_text(40);
  const auto reply = unix_request(w.socket(), "PUT", "/v1/orgs/newco/key",
                                  json{{"key", "\n " + key + " \n"}}.dump());
  CHECK(reply.status == 200);
  CHECK(read_bytes(w.dir.path() / "keys" / "newco.key") == key + "\n");
  CHECK(w.daemon->log().find(key) == std::string::npos);
}
