// The private-file reader (daemon/platform/private_file.hpp, SPEC §2 "Private
// files") and its read-back form for files the daemon also writes (SPEC §6),
// the files the daemon writes and the removal of stale temporary files
// (daemon/platform/files.hpp): each refusal and the check it names, the
// symbolic-link rule (Kubernetes Secret volumes included), key_dir's own
// check. Works in temporary folders; chown needs root, as the tests run in CI.
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

using namespace actoken::platform;
using actoken::testing::scratch_dir;

namespace {

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

const private_file_rules as_root{};  // the daemon runs as root: root and uid 0 files only

std::string read_ok(const std::filesystem::path& path, const private_file_rules& rules = as_root) {
  std::string out;
  const auto result = read_private_file(path, rules, out);
  REQUIRE_MESSAGE(result.ok(), result.problem);
  CHECK(result.problem.empty());
  return out;
}

// The refusal's text; checks that it names the path and that nothing was read.
std::string refusal(const std::filesystem::path& path, const private_file_rules& rules = as_root) {
  std::string out = "stale";
  const auto result = read_private_file(path, rules, out);
  CHECK(result.refused());
  CHECK(out.empty());
  CHECK(result.problem.find(path.string()) != std::string::npos);
  // The check without reading says the same.
  const auto checked = check_private_file(path, rules);
  CHECK(checked.refused());
  CHECK(checked.problem == result.problem);
  return result.problem;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a regular 0600 file of the daemon's user or root is read whole") {
  scratch_dir dir;
  CHECK(read_ok(dir.write("a.json", "{\"auth_url\": \"https://x\"}\n")) ==
        "{\"auth_url\": \"https://x\"}\n");
  CHECK(read_ok(dir.write("empty.json", "")).empty());
  CHECK(read_ok(dir.write("ro.key", "k\n", 0400)) == "k\n");

  // Into locked memory, for keys.
  secure_buffer key("stale");
  const auto result = read_private_file(dir.write("k.key", "ac+/key==\n"), as_root, key);
  REQUIRE(result.ok());
  CHECK(key.view() == "ac+/key==\n");
  CHECK(check_private_file(dir.path() / "k.key", as_root).ok());
}

TEST_CASE("nothing at the path is `missing`, not a refusal") {
  scratch_dir dir;
  std::string out = "stale";
  const auto result = read_private_file(dir.path() / "absent.json", as_root, out);
  CHECK(result.missing());
  CHECK(out.empty());
  CHECK(contains(result.problem, "does not exist"));
  CHECK(read_private_file(dir.path() / "no-folder" / "x.key", as_root, out).missing());
  CHECK(check_private_file(dir.path() / "absent.json", as_root).missing());
}

TEST_CASE("a FIFO is refused at once: opening it does not wait for a writer") {
  scratch_dir dir;
  const auto fifo = dir.path() / "acme.key";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(contains(refusal(fifo), "is a FIFO"));
  secure_buffer key;
  CHECK(read_private_file(fifo, as_root, key).refused());
}

TEST_CASE("devices, folders and sockets are refused, each by its name") {
  scratch_dir dir;
  CHECK(contains(refusal("/dev/zero"), "/dev/zero is a character device"));
  CHECK(contains(refusal("/dev/null"), "is a character device"));
  CHECK(contains(refusal(dir.folder("folder.key", 0700)), "is a folder"));

  const auto socket_path = dir.path() / "sock.key";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  ::chmod(socket_path.c_str(), 0600);
  CHECK(contains(refusal(socket_path), "is a socket"));
  ::close(fd);
}

TEST_CASE("a file owned by neither the daemon's user nor root is refused") {
  scratch_dir dir;
  const auto theirs = dir.write("theirs.json", "{}");
  REQUIRE_MESSAGE(::chown(theirs.c_str(), nobody, nogroup) == 0, "tests run as root");
  const auto problem = refusal(theirs, {.daemon_uid = 1234});
  CHECK(contains(problem, "is owned by uid 65534, neither the daemon's user nor root"));
  CHECK(refusal(theirs).find("uid 65534") != std::string::npos);  // a root daemon too

  CHECK(read_ok(theirs, {.daemon_uid = nobody}) == "{}");  // its owner's daemon reads it
  const auto roots = dir.write("root.json", "{}");
  REQUIRE(::chown(roots.c_str(), 0, 0) == 0);
  CHECK(read_ok(roots, {.daemon_uid = 1234}) == "{}");  // root's files are fine for anyone
}

TEST_CASE("group or world bits are refused, naming the mode; never the content") {
  scratch_dir dir;
  for (const unsigned mode : {0644U, 0640U, 0604U, 0660U, 0440U}) {
    CAPTURE(mode);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    const auto problem = refusal(dir.write("loose.key", "secret-content\n", mode));
    CHECK(contains(problem, std::string("mode ") + octal + ": group- or world-readable"));
    CHECK_FALSE(contains(problem, "secret-content"));
  }
  for (const unsigned mode : {0620U, 0602U, 0610U, 0601U}) {
    CAPTURE(mode);
    CHECK(contains(refusal(dir.write("loose.key", "k", mode)), ": group- or world-accessible"));
  }
}

TEST_CASE("a systemd credential may show the group read bit, root-owned, nothing more") {
  scratch_dir dir;
  const auto path = dir.write("creds/acme.key", "credential\n", 0440);
  REQUIRE(::chown(path.c_str(), 0, 0) == 0);
  const private_file_rules credential{.daemon_uid = 1234, .systemd_credential = true};
  CHECK(read_ok(path, credential) == "credential\n");
  CHECK(contains(refusal(path, {.daemon_uid = 1234}), "mode 0440"));
  for (const unsigned mode : {0444U, 0460U, 0450U, 0441U}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    refusal(path, credential);
  }
  REQUIRE(::chmod(path.c_str(), 0440) == 0);
  REQUIRE(::chown(path.c_str(), 1234, 1234) == 0);  // the exception is for root's copy only
  refusal(path, credential);
}

TEST_CASE("the size cap: 64 KiB by default, the caller's otherwise") {
  scratch_dir dir;
  const std::string cap(64 * 1024, 'x');
  CHECK(read_ok(dir.write("full.json", cap)).size() == cap.size());
  CHECK(contains(refusal(dir.write("over.json", cap + "x")), "is larger than 64 KiB"));

  const std::string mib(1024 * 1024, 'y');
  const private_file_rules cache{.max_size = 1024 * 1024};
  CHECK(read_ok(dir.write("tokens.cache", mib), cache).size() == mib.size());
  CHECK(contains(refusal(dir.write("tokens.cache", mib + "y"), cache), "is larger than 1 MiB"));
}

TEST_CASE("a symbolic link in a folder only the daemon's user or root can change is followed") {
  scratch_dir dir;  // root-owned 0700
  const auto target = dir.write("real/acme.key", "through-the-link\n");
  const auto keys = dir.folder("keys", 0755);
  std::filesystem::create_symlink(target, keys / "acme.key");
  CHECK(read_ok(keys / "acme.key") == "through-the-link\n");

  // The target is then checked like any file.
  REQUIRE(::chmod(target.c_str(), 0644) == 0);
  const auto problem = refusal(keys / "acme.key");
  CHECK(contains(problem, "(a link to " + target.string() + ")"));
  CHECK(contains(problem, "mode 0644"));
  REQUIRE(::chmod(target.c_str(), 0600) == 0);
  REQUIRE(::chown(target.c_str(), nobody, nogroup) == 0);
  CHECK(contains(refusal(keys / "acme.key"), "is owned by uid 65534"));

  std::filesystem::create_symlink("/dev/zero", keys / "zero.json");
  CHECK(contains(refusal(keys / "zero.json"), "(a link to /dev/zero) is a character device"));
  std::filesystem::create_symlink(dir.path() / "nothing", keys / "dangling.json");
  CHECK(contains(refusal(keys / "dangling.json"), "cannot be opened"));
}

TEST_CASE("a symbolic link in a folder others can write, or owned by others, is not followed") {
  scratch_dir dir;
  const auto target = dir.write("real/acme.key", "k\n");
  for (const unsigned mode : {0777U, 0775U, 0757U, 0770U}) {
    CAPTURE(mode);
    const auto open = dir.folder("open", mode);
    std::filesystem::remove(open / "acme.key");
    std::filesystem::create_symlink(target, open / "acme.key");
    CHECK(contains(refusal(open / "acme.key"), "is a symbolic link in a folder others can write"));
  }

  const auto foreign = dir.folder("foreign", 0755);
  std::filesystem::create_symlink(target, foreign / "acme.key");
  REQUIRE(::chown(foreign.c_str(), nobody, nogroup) == 0);
  CHECK(contains(refusal(foreign / "acme.key"),
                 "is a symbolic link in a folder owned by uid 65534, neither the daemon's user "
                 "nor root"));

  // In a sticky folder, a link someone else made is theirs: refused.
  const auto sticky = dir.folder("sticky", 01777);
  std::filesystem::create_symlink(target, sticky / "acme.key");
  REQUIRE(::lchown((sticky / "acme.key").c_str(), nobody, nogroup) == 0);
  CHECK(contains(refusal(sticky / "acme.key"),
                 "is a symbolic link owned by uid 65534, neither the daemon's user nor root"));
  // ...and so is a file someone else put there.
  const auto planted = dir.write("sticky/beta.key", "k\n");
  REQUIRE(::chown(planted.c_str(), nobody, nogroup) == 0);
  CHECK(contains(refusal(planted), "is owned by uid 65534"));
}

// kubelet mounts a Secret as a root-owned sticky folder: each key is a link to
// `..data/<key>`, `..data` a link to a timestamped folder holding the files
// (mode `defaultMode`).
TEST_CASE("a Kubernetes Secret volume: root-owned 1777 folder, ..data links, defaultMode 0400") {
  scratch_dir dir;
  const auto volume = dir.folder("secret", 01777);
  dir.folder("secret/..2026_11_30_10_00_00.123456789", 0755);
  dir.write("secret/..2026_11_30_10_00_00.123456789/acme.key", "k8s-key\n", 0400);
  std::filesystem::create_symlink("..2026_11_30_10_00_00.123456789", volume / "..data");
  std::filesystem::create_symlink("..data/acme.key", volume / "acme.key");
  CHECK(read_ok(volume / "acme.key", {.daemon_uid = 1234}) == "k8s-key\n");
  CHECK(check_private_folder(volume, 1234).ok());
}

TEST_CASE("key_dir's own check: owner, and writable by others only when sticky") {
  scratch_dir dir;
  CHECK(check_private_folder(dir.path() / "absent", 0).missing());
  CHECK(check_private_folder(dir.folder("private", 0700), 0).ok());
  CHECK(check_private_folder(dir.folder("readable", 0755), 0).ok());
  CHECK(check_private_folder(dir.folder("sticky", 01777), 0).ok());
  for (const unsigned mode : {0777U, 0770U, 0757U}) {
    CAPTURE(mode);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    const auto open = dir.folder("open", mode);
    const auto result = check_private_folder(open, 0);
    CHECK(result.refused());
    CHECK(contains(result.problem, open.string()));
    CHECK(contains(result.problem, std::string("has mode ") + octal +
                                       ": writable by group or others without the sticky bit"));
  }
  const auto theirs = dir.folder("theirs", 0700);
  REQUIRE(::chown(theirs.c_str(), nobody, nogroup) == 0);
  const auto result = check_private_folder(theirs, 1234);
  CHECK(result.refused());
  CHECK(contains(result.problem, "is owned by uid 65534, neither the daemon's user nor root"));
  CHECK(check_private_folder(theirs, nobody).ok());
  CHECK(check_private_folder(theirs, any_owner).ok());  // owner not judged, mode still
  CHECK(check_private_folder(dir.folder("open", 0777), any_owner).refused());
  CHECK(contains(check_private_folder(dir.write("file", "x"), 0).problem, "is not a folder"));
}

// The folder of `path`, reached by the walk as root's daemon would.
actoken::unique_fd walked_to(const std::filesystem::path& path) {
  auto walked = walk_to_folder(folder_of(path), {.daemon_uid = 0});
  REQUIRE_MESSAGE(walked.ok(), walked.problem);
  return std::move(walked.folder);
}

TEST_CASE("remove_stale_temporary_files removes only our own leftovers beside the file") {
  scratch_dir dir;
  const auto cache = dir.write("tokens.cache", "current");
  dir.write(".tokens.cache.tmp12345678901234567890", "stale");
  dir.write(".tokens.cache.tmp7", "stale");
  dir.write(".tokens.cache.tmp", "no digits: not ours");
  dir.write(".tokens.cache.tmp12x", "not ours");
  dir.write(".other.cache.tmp123", "another file's");
  dir.write("tokens.cache.tmp123", "no dot: not ours");
  const auto theirs = dir.write(".tokens.cache.tmp999", "someone else's");
  REQUIRE(::chown(theirs.c_str(), nobody, nogroup) == 0);
  dir.folder(".tokens.cache.tmp55", 0700);
  const auto outside = dir.write("outside", "a link's target");
  std::filesystem::create_symlink(outside, dir.path() / ".tokens.cache.tmp66");

  const auto folder = walked_to(cache);
  CHECK(remove_stale_temporary_files(folder.get(), ::geteuid(), [](std::string_view name) {
          return name == "tokens.cache";
        }) == 2);
  std::set<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    left.insert(entry.path().filename().string());
  }
  CHECK(left == std::set<std::string>{"tokens.cache", ".tokens.cache.tmp", ".tokens.cache.tmp12x",
                                      ".other.cache.tmp123", "tokens.cache.tmp123",
                                      ".tokens.cache.tmp999", ".tokens.cache.tmp55",
                                      ".tokens.cache.tmp66", "outside"});
  CHECK(std::filesystem::exists(outside));
}

// Files the daemon writes (daemon/platform/files.hpp), in a folder the walk reached.
TEST_CASE("a replaced file: mode and group whatever the umask, a link replaced, nothing left") {
  scratch_dir dir;
  const auto folder_path = dir.folder("sinks", 0755);
  const auto victim = dir.write("victim", "precious", 0644);
  const auto path = folder_path / "token";
  std::filesystem::create_symlink(victim, path);
  const auto folder = walked_to(path);
  const auto old_umask = ::umask(0077);
  const auto problem = replace_file(folder.get(), path, "t1\n", {.mode = 0640, .group = nogroup});
  ::umask(old_umask);
  REQUIRE_FALSE(problem);
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK((info.st_mode & 07777) == 0640);
  CHECK(info.st_gid == nogroup);
  CHECK(actoken::testing::slurp(path) == "t1\n");
  CHECK(actoken::testing::slurp(victim) == "precious");
  CHECK(std::distance(std::filesystem::directory_iterator(folder_path),
                      std::filesystem::directory_iterator()) == 1);
  // Removed: a link itself, never its target; a missing file is no error.
  const auto link = folder_path / "link";
  std::filesystem::create_symlink(victim, link);
  const auto removed = remove_file(folder.get(), link);
  CHECK(removed.removed);
  CHECK(removed.problem.empty());
  CHECK_FALSE(std::filesystem::exists(std::filesystem::symlink_status(link)));
  CHECK(actoken::testing::slurp(victim) == "precious");
  const auto again = remove_file(folder.get(), link);
  CHECK_FALSE(again.removed);
  CHECK(again.problem.empty());
}

// A file the daemon reads back before it replaces it (an appcircle-cli sink,
// the cache file): never through a link, only the daemon's or root's.
TEST_CASE("a read-back file: regular, the daemon's or root's, never through a link") {
  scratch_dir dir;
  const auto folder_path = dir.folder("sinks", 0755);
  const auto folder = walked_to(folder_path / "x");
  const private_file_rules sink{.daemon_uid = 1234, .owner_only = false, .link_is_missing = true};
  const private_file_rules cache{.daemon_uid = 1234};
  std::string out;

  const auto mine = dir.write("sinks/mine.json", "{}", 0644);
  REQUIRE(::chown(mine.c_str(), 1234, 1234) == 0);
  CHECK(read_private_file_in(folder.get(), mine, sink, out).ok());
  CHECK(out == "{}");
  CHECK(contains(read_private_file_in(folder.get(), mine, cache, out).problem, "mode 0644"));

  const auto theirs = dir.write("sinks/theirs.json", R"({"current":"evil"})", 0600);
  REQUIRE(::chown(theirs.c_str(), nobody, nogroup) == 0);
  const auto foreign = read_private_file_in(folder.get(), theirs, sink, out);
  CHECK(foreign.refused());
  CHECK(out.empty());
  CHECK(foreign.problem ==
        theirs.string() + " is owned by uid 65534, neither the daemon's user nor root");

  // A link, even a safe one, is not read through: nothing there for a sink
  // (replaced), a refusal for the cache file.
  const auto link = folder_path / "link.json";
  std::filesystem::create_symlink(mine, link);
  CHECK(read_private_file_in(folder.get(), link, sink, out).missing());
  CHECK(read_private_file_in(folder.get(), link, cache, out).problem ==
        link.string() + " is a symbolic link");
  CHECK(check_private_file_in(folder.get(), link, cache).refused());
  REQUIRE(::mkfifo((folder_path / "fifo").c_str(), 0600) == 0);
  CHECK(read_private_file_in(folder.get(), folder_path / "fifo", sink, out).problem ==
        (folder_path / "fifo").string() + " is a FIFO");
  CHECK(read_private_file_in(folder.get(), folder_path / "absent", sink, out).missing());
  CHECK(check_private_file_in(folder.get(), folder_path / "absent", cache).missing());
  CHECK(read_private_file_in(folder.get(), folder_path / "..", sink, out).refused());
  const private_file_rules tiny{.daemon_uid = 1234, .max_size = 1, .owner_only = false};
  CHECK(contains(read_private_file_in(folder.get(), mine, tiny, out).problem,
                 "is larger than 1 bytes"));
}
