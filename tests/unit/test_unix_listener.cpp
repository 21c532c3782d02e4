// Which folders may hold the daemon's socket (SPEC §6): reached by the walk
// (daemon/platform/folder_walk.hpp), every folder on the way owned by the
// daemon's uid or root and writable by no one else, a sticky shared folder
// such as /tmp on the way but refused as the socket's own with the advice to
// use a folder of its own below it, a link on the way only root's in a folder
// only root can write. (The socket itself is created by the integration
// tests too, test_transport.)
#include "daemon/transport/unix_listener.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_files.hpp"

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
using actoken::testing::scratch_dir;

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
    "the socket's folder and every folder on the way: the daemon's or root's, no one else's") {
  const scratch_dir dir;
  CHECK(open_problem(dir.folder("own", 0755) / "actokend.sock") == "");
  CHECK(open_problem(dir.folder("setgid", 02750) / "actokend.sock") == "");
  const auto shared = dir.folder("shared", 01777);
  CHECK(open_problem(shared / "actokend.sock") ==
        "cannot use " + shared.string() + " as the socket's folder: " + shared.string() +
            " is writable by others (mode 1777, a shared folder like /tmp): use a folder of its "
            "own below it");
  // Below root's sticky folder, a folder of its own passes (as /tmp/actoken-<uid>).
  CHECK(open_problem(dir.folder("shared/mine", 0700) / "actokend.sock") == "");
  const auto open = dir.folder("open", 0777);
  CHECK(open_problem(open / "actokend.sock")
            .ends_with(open.string() + " is writable by others (mode 0777)"));
  const auto theirs = dir.folder("theirs", 0700, 65534);
  CHECK(open_problem(theirs / "actokend.sock")
            .ends_with(theirs.string() +
                       " belongs to uid 65534, neither the daemon's user (uid 0) nor root"));
  // An ancestor its group may write: whoever is in that group could swap the
  // socket's folder for one of their own.
  const auto group = dir.folder("group", 0775);
  const auto below = dir.folder("group/run", 0755);
  CHECK(open_problem(below / "actokend.sock") == "cannot use " + below.string() +
                                                     " as the socket's folder: " + group.string() +
                                                     " is writable by its group (mode 0775)");
  CHECK_FALSE(std::filesystem::exists(below / "actokend.sock"));
  CHECK_FALSE(std::filesystem::exists(below / "actokend.sock.lock"));
}

TEST_CASE("a link on the way: root's in a folder only root can write is followed, no other") {
  const scratch_dir dir;
  const auto real = dir.folder("real", 0755);
  // Debian's /var/run -> /run.
  const auto var = dir.folder("var", 0755);
  std::filesystem::create_directory_symlink(real, var / "run");
  {
    actoken::transport::listen_options options;
    options.path = var / "run" / "actokend.sock";
    const auto listener = actoken::transport::unix_listener::open(options, std::nullopt);
    struct stat st {};
    CHECK(::lstat((real / "actokend.sock").c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
  }
  // The lock file stays (removing it would race with a daemon starting).
  const auto entries = [&real] {
    return std::distance(std::filesystem::directory_iterator(real), {});
  };
  REQUIRE(entries() == 1);
  // Another user's link in the same folder: refused, nothing made at its target.
  std::filesystem::create_directory_symlink(real, var / "theirs");
  REQUIRE(::lchown((var / "theirs").c_str(), 65534, 65534) == 0);
  CHECK(open_problem(var / "theirs" / "actokend.sock")
            .ends_with((var / "theirs").string() +
                       " is a symbolic link owned by uid 65534: only root's links in folders only "
                       "root can write are followed"));
  // Root's link in a folder others may write.
  const auto shared = dir.folder("shared", 01777);
  std::filesystem::create_directory_symlink(real, shared / "run");
  CHECK(open_problem(shared / "run" / "actokend.sock")
            .find("is a symbolic link in " + shared.string()) != std::string::npos);
  CHECK(entries() == 1);
}

TEST_CASE(
    "paths refused before a socket is made: too long, no file name, a folder that cannot be") {
  const scratch_dir scratch("actoken-listener");
  const std::filesystem::path& folder = scratch.path();

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
}

// Each system call of unix_listener::open failing (tests/fault): a refusal
// naming the path and the step, and no socket left at the path.
TEST_CASE("every step of making the socket can fail, and says which") {
  const scratch_dir scratch("actoken-listener");
  const std::filesystem::path& folder = scratch.path();
  const auto socket = folder / "run" / "actokend.sock";
  const auto run = folder / "run";
  const auto fails = [&](const fault& planned) {
    const fault_scope f(planned);
    auto problem = open_problem(socket);
    CHECK(f.hits() == 1);
    CHECK_FALSE(std::filesystem::exists(socket));
    return problem;
  };

  CHECK(fails({.call = "mkdirat", .error = EACCES}) ==
        "cannot use " + run.string() + " as the socket's folder: cannot create " + run.string() +
            ": Permission denied");
  CHECK(fails({.call = "openat", .error = EMFILE, .path_contains = "run"}) ==
        "cannot use " + run.string() + " as the socket's folder: cannot open " + run.string() +
            ": Too many open files");
  CHECK(fails({.call = "fstat", .error = EIO}) ==
        "cannot use " + run.string() +
            " as the socket's folder: cannot examine /: Input/output "
            "error");
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
}
