// daemon/platform/ when the system says no: each call that can fail for a
// reason no test provokes from outside (EIO on a read, ENOSPC on a write,
// fstat failing on a descriptor just opened, EINTR, a short write, a lookup
// that needs a larger buffer) is failed with tests/fault, and the answer is
// checked: a refusal that names the path and the step, nothing half-written
// left behind, a retry where the call was only interrupted.
#include "daemon/platform/append_file.hpp"
#include "daemon/platform/child_process.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/home_folder.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/platform/process.hpp"
#include "daemon/platform/process_details.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_env.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <grp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace actoken::platform;
using actoken::testing::fault;
using actoken::testing::fault_scope;
using actoken::testing::slurp;
namespace fs = std::filesystem;

namespace {

// A 0700 temporary folder of this process's user, removed with its contents.
struct scratch : actoken::testing::scratch_dir {
  scratch() : scratch_dir("actoken-platform-faults") {}
};

const uid_t me = ::geteuid();

private_file_rules rules() {
  private_file_rules r;
  r.daemon_uid = me;
  return r;
}

}  // namespace

TEST_CASE("a private file whose folder, open, fstat or read fails is refused, naming the step") {
  const scratch dir;
  const auto key = dir.write("acme.key", "ac_secret_key");
  std::string out;

  SUBCASE("the folder cannot be opened") {
    const fault_scope f({.call = "open", .error = EACCES, .path_contains = dir.path().string()});
    const auto result = read_private_file(key, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem == key.string() + " cannot be opened: Permission denied");
    CHECK(f.hits() == 1);
  }
  SUBCASE("the file cannot be opened (and is a regular file)") {
    const fault_scope f({.call = "openat", .error = EIO, .path_contains = "acme.key"});
    const auto result = read_private_file(key, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem == key.string() + " cannot be opened: Input/output error");
  }
  SUBCASE("fstat on the opened descriptor fails") {
    const fault_scope f({.call = "fstat", .error = EIO});
    const auto result = read_private_file(key, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem == key.string() + " cannot be examined: Input/output error");
  }
  SUBCASE("read fails: nothing of the file is kept") {
    const fault_scope f({.call = "read", .error = EIO, .skip = 1});
    const auto result = read_private_file(key, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem == key.string() + " cannot be read: Input/output error");
    CHECK(out.empty());
  }
  SUBCASE("read fails into a secure buffer: it is emptied too") {
    secure_buffer secret;
    const fault_scope f({.call = "read", .error = EIO, .skip = 1});
    CHECK(read_private_file(key, rules(), secret).refused());
    CHECK(secret.empty());
  }
  SUBCASE("an interrupted read is retried") {
    const fault_scope f({.call = "read", .error = EINTR});
    REQUIRE(read_private_file(key, rules(), out).ok());
    CHECK(out == "ac_secret_key");
    CHECK(f.hits() == 1);
  }
  SUBCASE("short reads add up to the whole file") {
    const fault_scope f({.call = "read", .times = -1, .short_count = 5});
    REQUIRE(read_private_file(key, rules(), out).ok());
    CHECK(out == "ac_secret_key");
    CHECK(f.hits() == 4);  // 5 + 5 + 3 bytes, then the end
  }
}

TEST_CASE("a followed link whose target cannot be opened, and a folder that cannot be examined") {
  const scratch dir;
  const auto key = dir.write("real.key", "ac_secret_key");
  const auto link = dir.path() / "acme.key";
  fs::create_symlink(key, link);
  std::string out;

  SUBCASE("the link's target cannot be opened") {
    // The first openat (O_NOFOLLOW) meets the link; the second, following it, fails.
    const fault_scope f({.call = "openat", .error = EACCES, .skip = 1, .path_contains = "acme"});
    const auto result = read_private_file(link, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem ==
          link.string() + " (a link to " + key.string() + ") cannot be opened: Permission denied");
  }
  SUBCASE("the folder of the link cannot be examined") {
    const fault_scope f({.call = "fstat", .error = EIO});
    const auto result = read_private_file(link, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem ==
          link.string() + " is a symbolic link in a folder that cannot be examined");
  }
  SUBCASE("key_dir that cannot be examined") {
    const fault_scope f({.call = "stat", .error = EACCES, .path_contains = dir.path().string()});
    const auto result = check_private_folder(dir.path(), me);
    CHECK(result.refused());
    CHECK(result.problem == dir.path().string() + " cannot be examined: Permission denied");
  }
}

TEST_CASE("the walk: every failed call ends it, naming the path and the step") {
  const scratch dir;
  const auto target = dir.path() / "run" / "actoken";
  const auto fails = [&](const fault& planned, std::optional<mode_t> create = std::nullopt) {
    fs::remove_all(dir.path() / "run");
    const fault_scope f(planned);
    auto walked = walk_to_folder(target, {.daemon_uid = me, .create_mode = create});
    CHECK(f.hits() == 1);
    CHECK_FALSE(walked.ok());
    return walked.problem;
  };
  CHECK(fails({.call = "open", .error = EMFILE}) == "cannot open /: Too many open files");
  CHECK(fails({.call = "fstat", .error = EIO}) == "cannot examine /: Input/output error");
  CHECK(fails({.call = "openat", .error = EACCES, .path_contains = "tmp"}) ==
        "cannot open /tmp: Permission denied");
  CHECK(fails({.call = "mkdirat", .error = EROFS}, 0700) ==
        "cannot create " + (dir.path() / "run").string() + ": Read-only file system");
  // The new folder opened for its mode, and its mode set.
  CHECK(fails({.call = "openat", .error = EMFILE, .skip = 1, .path_contains = "run"}, 0700) ==
        "cannot open " + (dir.path() / "run").string() + ": Too many open files");
  CHECK(fails({.call = "fchmod", .error = EPERM}, 0700) ==
        "cannot set the mode of " + (dir.path() / "run").string() + ": Operation not permitted");
  // A folder made meanwhile by someone else is judged like any other.
  {
    const fault_scope f({.call = "mkdirat", .error = EEXIST});
    fs::remove_all(dir.path() / "run");
    CHECK(walk_to_folder(target, {.daemon_uid = me, .create_mode = 0700}).missing);
  }
  // Links on the way: examined, then read.
  const auto real = dir.path() / "real";
  fs::create_directory(real);
  fs::create_directory_symlink(real, dir.path() / "link");
  const auto through = dir.path() / "link" / "x";
  {
    const fault_scope f({.call = "fstatat", .error = EIO, .path_contains = "link"});
    CHECK(walk_to_folder(through, {.daemon_uid = me}).problem ==
          "cannot examine " + (dir.path() / "link").string() + ": Input/output error");
  }
  {
    const fault_scope f({.call = "readlinkat", .error = EIO});
    CHECK(walk_to_folder(through, {.daemon_uid = me}).problem ==
          "cannot read the symbolic link " + (dir.path() / "link").string());
  }
  // A last folder that cannot be read is still handed back, to write in.
  {
    fs::create_directory(real / "x");
    const fault_scope f({.call = "openat", .error = EACCES, .path_contains = "."});
    const auto walked = walk_to_folder(real / "x", {.daemon_uid = me});
    CHECK(walked.ok());
  }
}

// The folder of `path` as the walk reaches it for this process's user.
actoken::unique_fd walked_to(const fs::path& path) {
  auto walked = walk_to_folder(folder_of(path), {.daemon_uid = me});
  REQUIRE_MESSAGE(walked.ok(), walked.problem);
  return std::move(walked.folder);
}

TEST_CASE("replace_file: a failed step leaves the old file and no temporary file") {
  const scratch dir;
  const auto file = dir.write("cache", "old");
  const auto folder = walked_to(file);
  const auto fails = [&](const fault& planned, std::optional<gid_t> group = std::nullopt) {
    const fault_scope f(planned);
    const auto problem = replace_file(folder.get(), file, "new contents", {.group = group});
    CHECK(f.hits() == 1);
    CHECK(slurp(file) == "old");
    CHECK(dir.entries() == 1);
    return problem.value_or("");
  };
  CHECK(fails({.call = "openat", .error = ENOSPC, .path_contains = ".cache.tmp"}) ==
        "cannot create a temporary file for " + file.string() + ": No space left on device");
  CHECK(fails({.call = "fchown", .error = EPERM}, gid_t{0}) ==
        "cannot give " + file.string() + " group 0: Operation not permitted");
  CHECK(fails({.call = "fchmod", .error = EPERM}) ==
        "cannot set the mode of " + file.string() + ": Operation not permitted");
  CHECK(fails({.call = "write", .error = ENOSPC}) ==
        "cannot write " + file.string() + ": No space left on device");
  CHECK(fails({.call = "write", .short_count = 0}) ==
        "cannot write " + file.string() + ": Input/output error");
  CHECK(fails({.call = "fsync", .error = EIO}) ==
        "cannot fsync " + file.string() + ": Input/output error");
  CHECK(fails({.call = "renameat", .error = EXDEV}) ==
        "cannot rename into " + file.string() + ": Invalid cross-device link");

  SUBCASE("interrupted and short writes are carried on") {
    const fault_scope interrupted({.call = "write", .error = EINTR});
    const fault_scope short_writes({.call = "write", .times = -1, .short_count = 3});
    CHECK_FALSE(replace_file(folder.get(), file, "new contents"));
    CHECK(slurp(file) == "new contents");
    CHECK(interrupted.hits() == 1);
    CHECK(short_writes.hits() >= 4);
    CHECK(dir.entries() == 1);
  }
  SUBCASE("removing: a failure other than ENOENT is named") {
    {
      const fault_scope f({.call = "unlinkat", .error = EBUSY, .path_contains = "cache"});
      const auto removal = remove_file(folder.get(), file);
      CHECK_FALSE(removal.removed);
      CHECK(removal.problem == "cannot remove " + file.string() + ": Device or resource busy");
    }
    CHECK(remove_file(folder.get(), file).removed);
    CHECK(remove_file(folder.get(), file).problem.empty());  // already gone: fine
  }
}

TEST_CASE("remove_stale_temporary_files gives up quietly when the folder cannot be listed") {
  const scratch dir;
  const auto file = dir.write("cache", "x");
  dir.write(".cache.tmp123", "left by a crash");
  const auto folder = walked_to(file);
  const auto cache = [](std::string_view name) { return name == "cache"; };
  SUBCASE("open") {
    const fault_scope f({.call = "openat", .error = EACCES});
    CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 0);
  }
  SUBCASE("fstatat of an entry: it is left") {
    const fault_scope f({.call = "fstatat", .error = EIO, .path_contains = ".cache.tmp"});
    CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 0);
    CHECK(fs::exists(dir.path() / ".cache.tmp123"));
  }
  SUBCASE("nothing failing: it is removed") {
    CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 1);
    CHECK(dir.entries() == 1);
  }
}

TEST_CASE("the audit log's file: every failed call is a refusal naming the path and the step") {
  const scratch dir;
  const auto log = dir.path() / "audit.log";
  const auto refusal = [&](const fault& planned) {
    const fault_scope f(planned);
    auto opened = open_append_file(log, me);
    REQUIRE(std::holds_alternative<std::string>(opened));
    CHECK(f.hits() == 1);
    return std::get<std::string>(opened);
  };
  // The walk's own failures are its (above); then the file's.
  CHECK(refusal({.call = "openat", .error = EACCES, .path_contains = "actoken-platform"}) ==
        "cannot open " + dir.path().string() + ": Permission denied");
  CHECK(refusal({.call = "openat", .error = ENOSPC, .path_contains = "audit.log"}) ==
        "cannot open " + log.string() + ": No space left on device");
  // One fstat per folder on the way ("/", "tmp", the scratch folder), then the file's.
  const auto folders = static_cast<int>(std::distance(dir.path().begin(), dir.path().end()));
  CHECK(refusal({.call = "fstat", .error = EIO, .skip = folders}) ==
        "cannot stat " + log.string() + ": Input/output error");
  CHECK(check_append_file(log, me).empty());  // nothing there yet is fine

  SUBCASE("append_all: EINTR and short writes carry on; an error or a zero write stops") {
    auto opened = open_append_file(log, me);
    REQUIRE(std::holds_alternative<actoken::unique_fd>(opened));
    const int fd = std::get<actoken::unique_fd>(opened).get();
    std::size_t written = 0;
    {
      const fault_scope interrupted({.call = "write", .error = EINTR});
      const fault_scope short_writes({.call = "write", .times = -1, .short_count = 2});
      CHECK(append_all(fd, "line one\n", written) == 0);
      CHECK(written == 9);
    }
    {
      const fault_scope f({.call = "write", .error = ENOSPC, .skip = 1});
      const fault_scope short_writes({.call = "write", .times = 1, .short_count = 4});
      CHECK(append_all(fd, "line two\n", written) == ENOSPC);
      CHECK(written == 4);
    }
    {
      const fault_scope zero({.call = "write", .short_count = 0});
      CHECK(append_all(fd, "x", written) == EIO);
      CHECK(written == 0);
    }
    CHECK(slurp(log) == "line one\nline");
  }
}

TEST_CASE("a read-back file: open, fstat and read failures are refusals; EINTR is retried") {
  const scratch dir;
  const auto sink = dir.write("token.json", "{}");
  const auto folder = walked_to(sink);
  std::string out;
  {
    const fault_scope f({.call = "openat", .error = EACCES, .path_contains = "token"});
    CHECK(read_private_file_in(folder.get(), sink, rules(), out).problem ==
          sink.string() + " cannot be opened: Permission denied");
  }
  {
    const fault_scope f({.call = "fstat", .error = EIO});
    CHECK(read_private_file_in(folder.get(), sink, rules(), out).problem ==
          sink.string() + " cannot be examined: Input/output error");
  }
  {
    const fault_scope f({.call = "read", .error = EIO});
    CHECK(read_private_file_in(folder.get(), sink, rules(), out).problem ==
          sink.string() + " cannot be read: Input/output error");
  }
  {
    const fault_scope f({.call = "read", .error = EINTR});
    CHECK(read_private_file_in(folder.get(), sink, rules(), out).ok());
    CHECK(out == "{}");
  }
}

TEST_CASE("home_folder: the password database when HOME is unset or relative") {
  const actoken::testing::scoped_env relative_home("HOME", "relative/home");
  SUBCASE("an entry that needs a larger buffer is asked for again") {
    const fault_scope f({.call = "getpwuid_r", .error = ERANGE, .times = 2});
    const auto home = home_folder(0);
    CHECK(f.hits() == 2);
    REQUIRE(home.has_value());
    CHECK(home->is_absolute());
  }
  SUBCASE("a failing lookup gives no home") {
    const fault_scope f({.call = "getpwuid_r", .error = EIO});
    CHECK_FALSE(home_folder(0).has_value());
  }
}

TEST_CASE("peer credentials and name lookups when the kernel or the database fails") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  const actoken::unique_fd a(pair[0]);
  const actoken::unique_fd b(pair[1]);

  SUBCASE("SO_PEERCRED fails: no credentials, so no access") {
    const fault_scope f({.call = "getsockopt", .error = EBADF});
    CHECK_FALSE(peer_of(a.get()).has_value());
  }
  SUBCASE("a kernel without SO_PEERGROUPS: credentials with no groups") {
    const fault_scope f({.call = "getsockopt", .error = ENOPROTOOPT, .skip = 1});
    const auto peer = peer_of(a.get());
    REQUIRE(peer.has_value());
    CHECK(peer->uid == me);
    CHECK(peer->groups.empty());
  }
  SUBCASE("SO_PEERGROUPS fails otherwise: no credentials") {
    const fault_scope f({.call = "getsockopt", .error = EIO, .skip = 1});
    CHECK_FALSE(peer_of(a.get()).has_value());
  }
  SUBCASE("a user or group entry that needs a larger buffer is asked for again") {
    std::string problem;
    const fault_scope users({.call = "getpwnam_r", .error = ERANGE, .times = 3});
    const fault_scope groups({.call = "getgrnam_r", .error = ERANGE, .times = 3});
    CHECK(lookup_user("root", problem) == uid_t{0});
    CHECK(problem.empty());
    CHECK(lookup_group("root", problem) == gid_t{0});
    CHECK(users.hits() == 3);
    CHECK(groups.hits() == 3);
  }
  SUBCASE("an entry over 1 MiB is a problem, not an unknown name") {
    std::string problem;
    const fault_scope users({.call = "getpwnam_r", .error = ERANGE, .times = -1});
    CHECK_FALSE(lookup_user("root", problem).has_value());
    CHECK(problem == "cannot read the password entry of root: its entry is over 1024 KiB");
  }
  SUBCASE("a database that fails is a problem; one that says no such entry is not") {
    std::string problem;
    {
      const fault_scope f({.call = "getgrnam_r", .error = EIO});
      CHECK_FALSE(lookup_group("root", problem).has_value());
      CHECK(problem == "cannot read the group entry of root: Input/output error");
    }
    {
      const fault_scope f({.call = "getgrnam_r", .error = ENOENT});
      CHECK_FALSE(lookup_group("root", problem).has_value());
      CHECK(problem.empty());
    }
    {
      const fault_scope f({.call = "getpwuid_r", .error = EIO});
      CHECK_FALSE(user_name_of(0).has_value());
    }
    {
      const fault_scope f({.call = "getgrgid_r", .error = EIO});
      CHECK_FALSE(group_name_of(0).has_value());
    }
    CHECK(user_name_of(0) == "root");
    CHECK(group_name_of(0) == "root");
  }
}

TEST_CASE("a helper program that cannot be started says why") {
  std::string problem;
  SUBCASE("no pipe") {
    const fault_scope f({.call = "pipe2", .error = EMFILE});
    CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
    CHECK(problem == "cannot make a pipe: Too many open files");
  }
  SUBCASE("the second pipe") {
    const fault_scope f({.call = "pipe2", .error = ENFILE, .skip = 1});
    CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
    CHECK(problem == "cannot make a pipe: Too many open files in system");
  }
  SUBCASE("the pipe cannot be made non-blocking") {
    const fault_scope f({.call = "fcntl", .error = EBADF});
    CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
    CHECK(problem == "cannot make a pipe: Bad file descriptor");
  }
  SUBCASE("the spawn attributes cannot be made") {
    const fault_scope f({.call = "posix_spawnattr_init", .error = ENOMEM});
    CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
    CHECK(problem == "cannot set up the command: Cannot allocate memory");
  }
  SUBCASE("standard input cannot be set up") {
    const fault_scope f({.call = "posix_spawn_file_actions_addopen", .error = ENOMEM});
    CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
    CHECK(problem == "cannot set up the command: Cannot allocate memory");
  }
  SUBCASE("the spawn itself fails: by path, the error; by name, not found on PATH") {
    {
      const fault_scope f({.call = "posix_spawnp", .error = EACCES});
      CHECK_FALSE(start_child({"/bin/true"}, problem).has_value());
      CHECK(problem == "/bin/true: Permission denied");
    }
    {
      const fault_scope f({.call = "posix_spawnp", .error = ENOENT});
      CHECK_FALSE(start_child({"true"}, problem).has_value());
      CHECK(problem == "true: not found on PATH");
    }
  }
  SUBCASE("an interrupted wait is retried; a child not ours any more has ended") {
    auto child = start_child({"/bin/true"}, problem);
    REQUIRE(child.has_value());
    {
      const fault_scope f({.call = "waitpid", .error = EINTR});
      reap_now(*child);
      CHECK(f.hits() == 1);
    }
    CHECK(child->pid == -1);
    child_process gone;
    gone.pid = ::getpid() + 1000000;  // no child of ours
    const auto ended = try_reap(gone);
    REQUIRE(ended.has_value());
    CHECK_FALSE(ended->exited);
    CHECK(describe(*ended) == "ended");
  }
}

TEST_CASE("the open-file limit: a getrlimit that fails reports 0, a set that fails keeps it") {
  {
    const fault_scope f({.call = "getrlimit", .error = EPERM});
    CHECK(raise_open_file_limit() == 0);
  }
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  rlimit lowered = before;
  lowered.rlim_cur = before.rlim_max > 256 ? 256 : before.rlim_max;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  {
    const fault_scope f({.call = "setrlimit", .error = EPERM});
    CHECK(raise_open_file_limit() == lowered.rlim_cur);
  }
  CHECK(raise_open_file_limit() == before.rlim_max);
}

TEST_CASE("memory that cannot be locked is reported once, and still wiped and usable") {
  // The first failure is reported once per process: one before this case (a
  // memlock limit, a sanitizer's runtime) leaves nothing for the fault to show.
  if (!secure_memory_locked()) {
    actoken::testing::skip_case("secure memory could not be locked before the fault was armed");
    return;
  }
  std::string reported;
  int reports = 0;
  on_secure_memory_failure([&](const std::string& why) {
    reported = why;
    ++reports;
  });
  {
    const fault_scope f({.call = "mlock", .error = ENOMEM, .times = 2});
    void* first = secure_allocate(100);
    void* second = secure_allocate(100);
    CHECK(f.hits() == 2);
    secure_deallocate(first, 100);
    secure_deallocate(second, 100);
  }
  CHECK_FALSE(secure_memory_locked());
  CHECK(reports == 1);
  CHECK(reported == "mlock: Cannot allocate memory");
  on_secure_memory_failure(nullptr);
}

TEST_CASE("a helper program's life: empty commands, waits interrupted or failing, odd signals") {
  std::string problem;
  CHECK_FALSE(start_child({}, problem).has_value());
  CHECK(problem == "the command is empty");
  {
    // ENOENT for a path (not a bare name) is the error, not "not found on PATH".
    const fault_scope f({.call = "posix_spawnp", .error = ENOENT});
    CHECK_FALSE(start_child({"/opt/none/helper"}, problem).has_value());
    CHECK(problem == "/opt/none/helper: No such file or directory");
  }
  child_process none;  // never started: nothing to kill or reap
  kill_child_group(none);
  reap_now(none);
  CHECK(none.pid == -1);

  auto child = start_child({"/bin/sleep", "30"}, problem);
  REQUIRE(child.has_value());
  CHECK_FALSE(try_reap(*child).has_value());  // still running
  {
    const fault_scope interrupted({.call = "waitid", .error = EINTR});
    CHECK_FALSE(has_ended(*child));
    CHECK(interrupted.hits() == 1);
  }
  {
    // A child the kernel no longer counts as ours has ended: nothing to wait for.
    const fault_scope gone({.call = "waitid", .error = ECHILD});
    CHECK(has_ended(*child));
  }
  {
    const fault_scope interrupted({.call = "waitpid", .error = EINTR});
    CHECK_FALSE(try_reap(*child).has_value());
    CHECK(interrupted.hits() == 1);
  }
  kill_child_group(*child);
  reap_now(*child);
  CHECK(child->pid == -1);

  child_process stranger;
  stranger.pid = 1;  // not our child: waitpid fails with ECHILD, the wait ends
  reap_now(stranger);
  CHECK(stranger.pid == -1);
  CHECK(describe({false, 0, 200}) == "killed by signal 200");
  CHECK(describe({false, 0, SIGKILL}) == "killed by signal SIGKILL");
}

TEST_CASE("lookups that find nothing are not problems, whatever errno says no entry with") {
  for (const int error : {ESRCH, EBADF, EPERM}) {
    CAPTURE(error);
    std::string problem = "stale";
    const fault_scope f({.call = "getpwnam_r", .error = error});
    CHECK_FALSE(lookup_user("root", problem).has_value());
    CHECK(problem.empty());
  }
  CHECK_FALSE(user_name_of(3999999999U).has_value());
  CHECK_FALSE(group_name_of(3999999999U).has_value());

  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  {
    // ERANGE without a larger size to ask for: no credentials rather than a loop.
    const fault_scope f({.call = "getsockopt", .error = ERANGE, .skip = 1});
    CHECK_FALSE(peer_of(pair[0]).has_value());
  }
  ::close(pair[0]);
  ::close(pair[1]);
}

TEST_CASE("peer groups: sorted and each once; past a limit left unread, then read whole") {
  if (::geteuid() != 0) return actoken::testing::skip_case("needs root to set its own groups");
  std::vector<gid_t> saved(static_cast<std::size_t>(::getgroups(0, nullptr)));
  REQUIRE(::getgroups(static_cast<int>(saved.size()), saved.data()) >= 0);
  const std::vector<gid_t> given{30, 10, 20, 10};
  REQUIRE(::setgroups(given.size(), given.data()) == 0);
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  REQUIRE(::setgroups(saved.size(), saved.data()) == 0);  // the socket keeps what was given
  const actoken::unique_fd a(pair[0]);
  const actoken::unique_fd b(pair[1]);

  const auto whole = peer_of(a.get());
  REQUIRE(whole.has_value());
  CHECK(whole->groups == std::vector<gid_t>{10, 20, 30});
  CHECK(whole->groups_unread == 0);
  // More than the limit: nothing copied, the count told (duplicates counted
  // as the kernel keeps them), and read whole when asked.
  const auto deferred = peer_of(a.get(), 3);
  REQUIRE(deferred.has_value());
  CHECK(deferred->groups.empty());
  CHECK(deferred->groups_unread == 4);
  CHECK(deferred->uid == me);
  CHECK(read_peer_groups(a.get()) == std::vector<gid_t>{10, 20, 30});
  CHECK(peer_of(a.get(), 4)->groups == std::vector<gid_t>{10, 20, 30});
  {
    const fault_scope f({.call = "getsockopt", .error = EIO});
    CHECK_FALSE(read_peer_groups(a.get()).has_value());
  }
}

TEST_CASE("a read-back file that grows past fstat's size; home_folder without HOME") {
  // /proc/self is root's link in root's /proc: followed, as /var/run is.
  const auto folder = walked_to("/proc/self/status");
  std::string out;
  private_file_rules small;
  small.daemon_uid = me;
  small.max_size = 16;
  small.owner_only = false;
  const auto grown = read_private_file_in(folder.get(), "/proc/self/status", small, out);
  CHECK(grown.problem == "/proc/self/status is larger than 16 bytes");  // fstat says 0 bytes
  CHECK(out.empty());

  const actoken::testing::scoped_env no_home("HOME", nullptr);
  CHECK(home_folder(0) == fs::path("/root"));
  CHECK_FALSE(home_folder(3999999999U).has_value());  // no such user
}

TEST_CASE("private files: names that are no file, a link that vanishes while it is judged") {
  const scratch dir;
  std::string out;
  for (const auto& odd : {dir.path() / "..", dir.path() / ".", fs::path()}) {
    CAPTURE(odd);
    const auto result = read_private_file(odd, rules(), out);
    CHECK(result.refused());
    CHECK(result.problem.ends_with(" is a folder"));
  }
  const auto key = dir.write("real.key", "ac_secret_key");
  fs::create_symlink(key, dir.path() / "acme.key");
  {
    const fault_scope f({.call = "fstatat", .error = ENOENT, .path_contains = "acme.key"});
    const auto result = read_private_file(dir.path() / "acme.key", rules(), out);
    CHECK(result.problem == (dir.path() / "acme.key").string() +
                                " cannot be opened: Too many levels of symbolic links");
  }
  {
    const fault_scope f({.call = "readlinkat", .error = EIO});
    REQUIRE(read_private_file(dir.path() / "acme.key", rules(), out).ok());
    CHECK(out == "ac_secret_key");
    CHECK(f.hits() == 1);
  }
  // A relative path is read relative to the working folder.
  const auto cwd = fs::current_path();
  fs::current_path(dir.path());
  CHECK(read_private_file("real.key", rules(), out).ok());
  fs::current_path(cwd);
}

TEST_CASE("the audit log's file: no file name, not a regular file, any owner for a check") {
  CHECK(std::get<std::string>(open_append_file("/tmp/..", me)) == "/tmp/.. names no file");
  CHECK(std::get<std::string>(open_append_file("", me)) == " names no file");
  // /dev is root's: accepted as a folder for any daemon user; /dev/null is no file.
  CHECK(std::get<std::string>(open_append_file("/dev/null", 4000)) ==
        "/dev/null is not a regular file");
  const scratch dir;
  fs::permissions(dir.path(), fs::perms::owner_all);
  CHECK(check_append_file(dir.path() / "audit.log", any_owner).empty());
}

TEST_CASE("secure memory: zero bytes, madvise refusing, a report registered after the failure") {
  void* none = secure_allocate(0);
  CHECK(none != nullptr);
  secure_deallocate(none, 0);
  secure_deallocate(nullptr, 100);
  on_secure_memory_failure(nullptr);
  {
    const fault_scope f({.call = "madvise", .error = EINVAL});
    void* page = secure_allocate(10);
    CHECK(f.hits() == 1);
    secure_deallocate(page, 10);
  }
  CHECK_FALSE(secure_memory_locked());
  // Registered after the first failure: told at once.
  std::string told;
  on_secure_memory_failure([&told](const std::string& why) { told = why; });
  CHECK_FALSE(told.empty());
  on_secure_memory_failure(nullptr);
}

TEST_CASE("stale temporary files: odd names are left; one that will not go is not counted") {
  const scratch dir;
  const auto file = dir.write("cache", "x");
  dir.write(".tmp1", "too short a name");
  dir.write(".cache.tmpabc", "not digits");
  dir.write(".cache.tmp42", "ours");
  const auto folder = walked_to(file);
  const auto cache = [](std::string_view name) { return name == "cache"; };
  {
    const fault_scope f({.call = "fdopendir", .error = ENOMEM});
    CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 0);
  }
  {
    const fault_scope f({.call = "unlinkat", .error = EBUSY});
    CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 0);
  }
  CHECK(remove_stale_temporary_files(folder.get(), me, cache) == 1);
  CHECK(dir.entries() == 3);
  // A bare name: the working folder.
  const auto cwd = fs::current_path();
  fs::current_path(dir.path());
  const auto here = walked_to("cache");
  CHECK_FALSE(replace_file(here.get(), "cache", "y"));
  CHECK(remove_stale_temporary_files(here.get(), me, cache) == 0);
  fs::current_path(cwd);
  CHECK(slurp(file) == "y");
}

TEST_CASE("process details: cgroup lines of every shape; a read that fails says nothing") {
  CHECK(systemd_unit_of_cgroup("no colon\n1:only-one\n0::/system.slice/ci.service\n") ==
        "ci.service");
  CHECK(systemd_unit_of_cgroup("0:cpu:/system.slice/x.service\n") == std::nullopt);
  CHECK(systemd_unit_of_cgroup("1:name=systemd:/user.slice/session-3.scope") == "session-3.scope");
  {
    const fault_scope interrupted({.call = "read", .error = EINTR});
    const auto details = process_details_of(::getpid());
    CHECK(interrupted.hits() == 1);
    CHECK(details.exe.has_value());
  }
  {
    const fault_scope f({.call = "read", .error = EIO});
    CHECK_FALSE(process_details_of(::getpid()).unit.has_value());
  }
  {
    const fault_scope f({.call = "readlink", .error = EACCES});
    CHECK_FALSE(process_details_of(::getpid()).exe.has_value());
  }
  CHECK_FALSE(process_details_of(0).exe.has_value());
}

TEST_CASE("probe_secure_memory locks one page: a failure shows before any secret is held") {
  {
    const fault_scope f({.call = "mlock", .error = EPERM});
    CHECK_FALSE(probe_secure_memory());
    CHECK(f.hits() == 1);
  }
  CHECK_FALSE(secure_memory_locked());
}
