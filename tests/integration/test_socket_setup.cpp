// What the daemon finds at its socket's path before it binds (SPEC §6 "One
// instance per socket"), and its socket_group (SPEC §2, §4): a file that is
// not a socket is never replaced, a socket something else listens on is left
// alone, a stale one is replaced (test_systemd), and socket_group is looked up
// at start. test_transport covers the folder's rules and the socket's mode.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

namespace {

// Starts actokend with `config`; its error when it refuses to start, "" when
// it started (then it is stopped again).
std::string start_failure(const temp_dir& dir, const json& config) {
  try {
    daemon_process daemon(dir, config);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// A listening Unix socket at `path`, as another program would hold it.
class foreign_listener {
 public:
  explicit foreign_listener(const fs::path& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
  }
  ~foreign_listener() { ::close(fd_); }
  foreign_listener(const foreign_listener&) = delete;
  foreign_listener& operator=(const foreign_listener&) = delete;

  /// True when a connection is waiting to be accepted (and accepts it).
  bool has_a_caller() const {
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const int connection = ::accept(fd_, nullptr, nullptr);
    if (connection < 0) return false;
    ::close(connection);
    return true;
  }

 private:
  int fd_ = -1;
};

bool is_socket_file(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

TEST_CASE("a file at the socket's path that is not a socket is refused and left as it is") {
  daemon_world w({.start_daemon = false});
  const auto socket = fs::path(w.config["socket"].get<std::string>());
  SUBCASE("a regular file") { w.dir.write("actokend.sock", "someone's notes\n", 0644); }
  SUBCASE("a folder") { fs::create_directory(socket); }
  SUBCASE("a symbolic link to a socket") {
    {
      // A socket file nobody listens on any more (a listener would hold the
      // harness's readiness probe, which follows the link).
      const foreign_listener closed(w.dir.path() / "elsewhere.sock");
    }
    fs::create_symlink(w.dir.path() / "elsewhere.sock", socket);
    const auto error = start_failure(w.dir, w.config);
    CHECK_MESSAGE(error.find(socket.string() + " exists and is not a socket; not replacing it") !=
                      std::string::npos,
                  error);
    CHECK(fs::is_symlink(socket));
    CHECK(is_socket_file(w.dir.path() / "elsewhere.sock"));
  }
  if (fs::is_symlink(socket)) return;
  const auto before = fs::status(socket).type();
  const auto content = fs::is_regular_file(socket) ? slurp(socket) : "";
  const auto error = start_failure(w.dir, w.config);
  CHECK_MESSAGE(error.find(socket.string() + " exists and is not a socket; not replacing it") !=
                    std::string::npos,
                error);
  CHECK(fs::status(socket).type() == before);
  if (before == fs::file_type::regular) CHECK(slurp(socket) == content);
}

TEST_CASE("a socket something else listens on is left alone; the daemon exits 1 saying so") {
  daemon_world w({.start_daemon = false});
  const auto socket = fs::path(w.config["socket"].get<std::string>());
  const foreign_listener other(socket);
  const auto config_path = w.dir.write("actokend.json", w.config.dump());
  // Bounded: a daemon that wrongly starts would otherwise serve on forever.
  const auto result =
      run_process({"/usr/bin/timeout", "20", actokend_path(), "--config", config_path.string()});
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(
      result.err.find("something is already listening on " + socket.string()) != std::string::npos,
      result.err);
  // Still the other program's: there, and reaching it.
  CHECK(is_socket_file(socket));
  const auto reached = [&] {
    try {
      unix_raw(socket, "", std::chrono::milliseconds{10});
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  }();
  CHECK(reached);
  CHECK(other.has_a_caller());
}

TEST_CASE("socket_group: looked up at start; a group that does not exist stops the start") {
  daemon_world w({.start_daemon = false});
  auto config = w.config;
  config["socket_group"] = "no-such-group-actoken-test";
  const auto config_path = w.dir.write("actokend.json", config.dump());
  const auto result =
      run_process({"/usr/bin/timeout", "20", actokend_path(), "--config", config_path.string()});
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(result.err.find("socket_group no-such-group-actoken-test does not exist") !=
                    std::string::npos,
                result.err);
  CHECK_FALSE(fs::exists(config["socket"].get<std::string>()));

  // The control: a group that exists gives the socket to it.
  config["socket_group"] = "nogroup";
  daemon_process daemon(w.dir, config);
  struct stat st {};
  REQUIRE(::lstat(daemon.socket().c_str(), &st) == 0);
  CHECK(st.st_gid == 65534);
}

// SPEC §4: a name that does not resolve is a config problem, reported by
// --check-config; SPEC §2: a socket_group that does not exist stops the start.
TEST_CASE("--check-config reports a socket_group that does not exist") {
  daemon_world w({.start_daemon = false});
  auto config = w.config;
  config["socket_group"] = "no-such-group-actoken-test";
  const auto config_path = w.dir.write("checked.json", config.dump());
  const auto checked =
      run_process({actokend_path(), "--check-config", "--config", config_path.string()});
  CHECK(checked.exit_code == 1);
  CHECK_MESSAGE(checked.err.find("socket_group: no group named no-such-group-actoken-test") !=
                    std::string::npos,
                checked.out << checked.err);
  CHECK(checked.out.find(": ok") == std::string::npos);
}
