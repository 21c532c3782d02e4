// Which folders may hold the daemon's socket (SPEC §6): owned by the daemon's
// uid or root, writable by no one else; a sticky shared folder such as /tmp
// is refused with the advice to use a folder of its own below it. (The socket
// itself is created by the integration tests, test_transport.)
#include "daemon/transport/unix_listener.hpp"
#include "tests/fault/fault.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

using actoken::testing::fault;
using actoken::testing::fault_scope;
using actoken::transport::socket_folder_problem;

TEST_CASE("the daemon's own or root's folder that no one else can write is accepted") {
  for (const mode_t mode : {0700U, 0750U, 0755U, 0711U, 0500U, 02755U, 01755U}) {
    CAPTURE(mode);
    CHECK(socket_folder_problem(S_IFDIR | mode, 1000, 1000) == "");
    CHECK(socket_folder_problem(S_IFDIR | mode, 0, 1000) == "");
    CHECK(socket_folder_problem(S_IFDIR | mode, 0, 0) == "");
  }
}

TEST_CASE("another user's folder is refused, naming its owner") {
  CHECK(socket_folder_problem(S_IFDIR | 0700, 65534, 1000) ==
        "it belongs to uid 65534, not to the daemon's user (uid 1000) or root");
  CHECK(socket_folder_problem(S_IFDIR | 0700, 1000, 0) ==
        "it belongs to uid 1000, not to the daemon's user (uid 0) or root");
}

TEST_CASE("a folder others can write is refused; a sticky shared one gets the advice") {
  CHECK(socket_folder_problem(S_IFDIR | 01777, 0, 0) ==
        "anyone can write it (mode 1777, a shared folder like /tmp); use a folder of its own "
        "below it");
  CHECK(socket_folder_problem(S_IFDIR | 01777, 1000, 1000).find("own below it") !=
        std::string::npos);
  CHECK(socket_folder_problem(S_IFDIR | 0777, 0, 0) ==
        "others can write it (mode 0777) and so replace the socket");
  CHECK(socket_folder_problem(S_IFDIR | 0775, 1000, 1000) ==
        "others can write it (mode 0775) and so replace the socket");
  CHECK(socket_folder_problem(S_IFDIR | 01770, 0, 0) ==
        "others can write it (mode 1770) and so replace the socket");
}

namespace {

// What unix_listener::open throws for `path` ("" when it opens).
std::string open_problem(const std::filesystem::path& path) {
  try {
    actoken::transport::listen_options options;
    options.path = path;
    const auto listener = actoken::transport::unix_listener::open(options, std::nullopt);
  } catch (const actoken::transport::listen_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(
    "paths refused before a socket is made: too long, no file name, a folder that cannot be") {
  char pattern[] = "/tmp/actoken-listener-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path folder = pattern;

  const auto too_long = folder / std::string(120, 'x');
  CHECK(open_problem(too_long).find("is too long (at most 107 bytes)") != std::string::npos);
  CHECK(open_problem(folder / "..").find("names no file") != std::string::npos);
  CHECK(open_problem(folder / ".").find("names no file") != std::string::npos);

  // A file where the folder should be: it cannot be created, and nothing is.
  const auto file = folder / "file";
  { std::ofstream(file) << "x"; }
  const auto under_file = open_problem(file / "actokend.sock");
  CHECK(under_file.find("cannot ") != std::string::npos);
  CHECK(under_file.find(file.string()) != std::string::npos);
  CHECK(std::filesystem::is_regular_file(file));

  // And a good path opens (the socket and its lock go when the listener does).
  CHECK(open_problem(folder / "actokend.sock") == "");
  CHECK_FALSE(std::filesystem::exists(folder / "actokend.sock"));
  std::filesystem::remove_all(folder);
}

// Each system call of unix_listener::open failing (tests/fault): a refusal
// naming the path and the step, and no socket left at the path.
TEST_CASE("every step of making the socket can fail, and says which") {
  char pattern[] = "/tmp/actoken-listener-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path folder = pattern;
  const auto socket = folder / "run" / "actokend.sock";
  const auto run = folder / "run";
  const auto fails = [&](const fault& planned) {
    const fault_scope f(planned);
    auto problem = open_problem(socket);
    CHECK(f.hits() == 1);
    CHECK_FALSE(std::filesystem::exists(socket));
    return problem;
  };

  CHECK(fails({.call = "mkdir", .error = EACCES}) ==
        "cannot create the socket's folder " + run.string() + ": Permission denied");
  CHECK(fails({.call = "open", .error = EMFILE, .path_contains = run.string()}) ==
        "cannot use " + run.string() + " as the socket's folder: Too many open files");
  CHECK(fails({.call = "fstat", .error = EIO}) ==
        "cannot use " + run.string() + " as the socket's folder: Input/output error");
  CHECK(fails({.call = "access", .error = ENOENT}) ==
        "cannot reach the socket's folder " + run.string() +
            " through /proc/self/fd: is /proc mounted?");
  CHECK(fails({.call = "openat", .error = EACCES, .path_contains = ".lock"}) ==
        "cannot open lock file " + socket.string() + ".lock: Permission denied");
  CHECK(fails({.call = "socket", .error = EMFILE}) ==
        "cannot create a socket: Too many open files");
  CHECK(fails({.call = "bind", .error = EADDRINUSE}) ==
        "cannot bind " + socket.string() + ": Address already in use");
  // The second look, after bind, is the one that checks the socket's mode.
  CHECK(fails({.call = "fstatat", .error = EIO, .skip = 1}) ==
        socket.string() + " was not created with mode 0600 (does its folder carry a default ACL?)");
  CHECK(fails({.call = "listen", .error = EADDRINUSE}) ==
        "cannot listen on " + socket.string() + ": Address already in use");
  {
    actoken::transport::listen_options options;
    options.path = socket;
    options.group = ::getegid();
    const fault_scope f({.call = "fchownat", .error = EPERM});
    CHECK_THROWS_WITH(actoken::transport::unix_listener::open(options, std::nullopt),
                      ("cannot give " + socket.string() + " to group " +
                       std::to_string(::getegid()) + ": Operation not permitted")
                          .c_str());
    CHECK_FALSE(std::filesystem::exists(socket));
  }

  SUBCASE("a stale socket is replaced when the probe cannot even make a socket") {
    const int stale = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(stale, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(stale);
    const fault_scope f({.call = "socket", .error = EMFILE});
    actoken::transport::listen_options options;
    options.path = socket;
    const auto listener = actoken::transport::unix_listener::open(options, std::nullopt);
    CHECK(f.hits() == 1);
    struct stat st {};
    REQUIRE(::lstat(socket.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
  }
  SUBCASE("an adopted socket whose name cannot be read has no path") {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const fault_scope f({.call = "getsockname", .error = ENOBUFS});
    const auto listener = actoken::transport::unix_listener::open({}, fd);
    CHECK(listener.path().empty());
  }
  std::filesystem::remove_all(folder);
}
