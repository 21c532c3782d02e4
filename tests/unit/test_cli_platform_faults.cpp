// client/platform/ when the system says no (tests/fault): the config store
// the CLI reads and replaces for `actoken appcircle-config`, and the facts it
// gathers about the daemon's socket folder and listener before it sends a
// byte (SPEC §5). Each failure is an error that names the path and the step;
// a failed replacement leaves the old file and no temporary file.
#include "client/platform/files.hpp"
#include "client/platform/trust_facts.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

using namespace actoken::client::platform;
using actoken::testing::fault;
using actoken::testing::fault_scope;
using actoken::testing::slurp;
namespace fs = std::filesystem;

namespace {

// A 0700 temporary folder of this process's user, removed with its contents.
struct scratch : actoken::testing::scratch_dir {
  scratch() : scratch_dir("actoken-cli-faults") {}
};

}  // namespace

TEST_CASE("read_file_in: each failing call is its errno, never a partial text") {
  const scratch dir;
  const auto file = dir.write("config.json", R"({"current":"default"})");
  const auto folder = open_checked_folder(dir.path(), ::geteuid());
  REQUIRE(folder.fd.get() >= 0);

  const auto read_with = [&](const fault& planned) {
    const fault_scope f(planned);
    auto result = read_file_in(folder, "config.json", 1024, ::geteuid());
    CHECK(f.hits() == 1);
    CHECK(result.text.empty());
    CHECK_FALSE(result.missing);
    return result.error;
  };
  CHECK(read_with({.call = "fstatat", .error = EACCES}) == EACCES);
  CHECK(read_with({.call = "openat", .error = EACCES, .path_contains = "config.json"}) == EACCES);
  CHECK(read_with({.call = "fstat", .error = EIO}) == EINVAL);
  CHECK(read_with({.call = "read", .error = EIO}) == EIO);

  SUBCASE("a link whose target vanished between fstatat and openat is missing") {
    const fault_scope f({.call = "openat", .error = ENOENT, .path_contains = "config.json"});
    const auto result = read_file_in(folder, "config.json", 1024, ::geteuid());
    CHECK(result.missing);
    CHECK(result.error == 0);
  }
  SUBCASE("interrupted and short reads add up") {
    const fault_scope interrupted({.call = "read", .error = EINTR});
    const fault_scope pieces({.call = "read", .times = -1, .short_count = 4});
    const auto result = read_file_in(folder, "config.json", 1024, ::geteuid());
    CHECK(result.error == 0);
    CHECK(result.text == R"({"current":"default"})");
    CHECK(interrupted.hits() == 1);
  }
  SUBCASE("a file that is larger when read than fstat said is EFBIG") {
    // A /proc file is a regular file whose fstat size is 0, as a file that
    // grew after the check would be.
    const auto proc = open_checked_folder("/proc/self", 0);
    REQUIRE(proc.fd.get() >= 0);
    CHECK(read_file_in(proc, "status", 16, 0).error == EFBIG);
  }
}

TEST_CASE("open_checked_folder: a folder that cannot be looked at, made or opened is named") {
  const scratch dir;
  const auto deep = dir.path() / "a" / "b";
  {
    const fault_scope f({.call = "stat", .error = EACCES, .path_contains = "/a/b"});
    CHECK(open_checked_folder(deep, ::geteuid()).problem ==
          "cannot look at folder " + deep.string() + ": Permission denied");
  }
  {
    const fault_scope f({.call = "mkdir", .error = EROFS, .path_contains = "/a/b"});
    CHECK(open_checked_folder(deep, ::geteuid()).problem ==
          "cannot create folder " + deep.string() + ": Read-only file system");
  }
  {
    const fault_scope f({.call = "open", .error = EMFILE, .path_contains = "/a/b"});
    const auto folder = open_checked_folder(deep, ::geteuid());
    CHECK(folder.problem == "cannot open folder " + deep.string() + ": Too many open files");
    CHECK(folder.fd.get() < 0);
  }
  const auto made = open_checked_folder(deep, ::geteuid());
  CHECK(made.fd.get() >= 0);
  CHECK(made.problem.empty());
  CHECK(made.refused.empty());
  CHECK(actoken::testing::mode_of(dir.path() / "a") == 0700);
}

TEST_CASE("replace_file_in: each failing step is named; the old file stays, no temporary is left") {
  const scratch dir;
  const auto file = dir.write("config.json", "old");
  const auto folder = open_checked_folder(dir.path(), ::geteuid());
  REQUIRE(folder.fd.get() >= 0);
  const auto replace_with = [&](const fault& planned) {
    const fault_scope f(planned);
    auto problem = replace_file_in(folder, "config.json", file, "new");
    CHECK(f.hits() == 1);
    CHECK(slurp(file) == "old");
    CHECK(dir.entries() == 1);
    return problem.value_or("");
  };
  CHECK(replace_with({.call = "openat", .error = EACCES, .path_contains = ".actoken-"}) ==
        "cannot create a temporary file in " + dir.path().string() + ": Permission denied");
  CHECK(replace_with({.call = "fchmod", .error = EPERM}) ==
        "cannot write " + file.string() + ": Operation not permitted");
  CHECK(replace_with({.call = "write", .error = ENOSPC}) ==
        "cannot write " + file.string() + ": No space left on device");
  CHECK(replace_with({.call = "write", .short_count = 0}).starts_with("cannot write "));
  CHECK(replace_with({.call = "fsync", .error = EIO}) ==
        "cannot write " + file.string() + ": Input/output error");
  CHECK(replace_with({.call = "renameat", .error = EXDEV}) ==
        "cannot replace " + file.string() + ": Invalid cross-device link");

  SUBCASE("a temporary name already taken: another is drawn") {
    const fault_scope f({.call = "openat", .error = EEXIST, .path_contains = ".actoken-"});
    CHECK_FALSE(replace_file_in(folder, "config.json", file, "newer").has_value());
    CHECK(f.hits() == 1);
    CHECK(slurp(file) == "newer");
  }
  SUBCASE("interrupted and short writes still write it all") {
    const fault_scope interrupted({.call = "write", .error = EINTR});
    const fault_scope pieces({.call = "write", .times = -1, .short_count = 1});
    CHECK_FALSE(replace_file_in(folder, "config.json", file, "new contents").has_value());
    CHECK(slurp(file) == "new contents");
    CHECK(pieces.hits() == 12);
  }
}

TEST_CASE("folder_mode and system_daemon_installed answer from what the system says") {
  const scratch dir;
  CHECK(folder_mode(dir.path()) == 0700U);
  {
    const fault_scope f({.call = "stat", .error = EACCES, .path_contains = dir.path().string()});
    CHECK_FALSE(folder_mode(dir.path()).has_value());
  }
  CHECK_FALSE(folder_mode(dir.write("file", "x")).has_value());
  {
    // No unit file in any of the four folders and no `actoken` user: not installed.
    const fault_scope units({.call = "access", .error = ENOENT, .times = -1});
    const fault_scope users({.call = "getpwnam_r", .error = ENOENT});
    CHECK_FALSE(system_daemon_installed());
    CHECK(units.hits() == 4);
    CHECK(users.hits() == 1);
  }
}

TEST_CASE("the socket folder's facts: lstat and a link's target failing are errors") {
  const scratch dir;
  const auto folder = dir.path() / "run";
  fs::create_directory(folder);
  const auto link = dir.path() / "link";
  fs::create_directory_symlink(folder, link);

  {
    const fault_scope f({.call = "lstat", .error = EACCES});
    CHECK(inspect_folder(folder).error == EACCES);
  }
  {
    const fault_scope f({.call = "stat", .error = ELOOP});
    const auto facts = inspect_folder(link);
    CHECK(facts.error == ELOOP);
    CHECK(facts.link_owner == ::geteuid());
  }
  const auto facts = inspect_folder(link);
  CHECK(facts.error == 0);
  CHECK(facts.link_owner == ::geteuid());
  CHECK(facts.owner == ::geteuid());
  CHECK(inspect_folder(dir.write("plain", "x")).error == ENOTDIR);
}

TEST_CASE("peer_uid and uid_of_user when the kernel or the database fails") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  CHECK(peer_uid(pair[0]) == ::geteuid());
  {
    const fault_scope f({.call = "getsockopt", .error = ENOTSOCK});
    errno = 0;
    CHECK_FALSE(peer_uid(pair[0]).has_value());
    CHECK(errno == ENOTSOCK);
  }
  ::close(pair[0]);
  ::close(pair[1]);

  {
    const fault_scope f({.call = "getpwnam_r", .error = ERANGE, .times = 2});
    CHECK(uid_of_user("root") == uid_t{0});
    CHECK(f.hits() == 2);
  }
  {
    const fault_scope f({.call = "getpwnam_r", .error = ERANGE, .times = -1});
    CHECK_FALSE(uid_of_user("root").has_value());
  }
  {
    const fault_scope f({.call = "getpwnam_r", .error = EIO});
    CHECK_FALSE(uid_of_user("root").has_value());
  }
}
