// The walk to a folder the daemon writes in (daemon/platform/folder_walk.hpp,
// SPEC §6 "Every file the daemon writes or deletes"): which folders pass on
// the way and as the last one, which symbolic links are followed, what is
// created and with which mode, and that what is done through the descriptor
// it returns happens in the folder that was judged, whatever is renamed after.
// The tests run as root (CI does): chown and lchown make the other users.
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace actoken::platform;
using actoken::testing::slurp;
namespace fs = std::filesystem;

namespace {

constexpr uid_t nobody = 65534;

// A root-owned 0700 folder under /tmp (root's sticky folder, which the walk
// allows on the way), removed with its contents.
struct scratch : actoken::testing::scratch_dir {
  scratch() : scratch_dir("actoken-walk") {}
};

// Why the walk to `folder` is refused ("" when it is not).
std::string refusal(const fs::path& folder, uid_t daemon_uid = 0) {
  const auto walked = walk_to_folder(folder, {.daemon_uid = daemon_uid});
  CHECK(walked.ok() == walked.problem.empty());
  return walked.problem;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The inode of `path` (a folder followed through links), to tell folders apart.
ino_t inode_of(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_ino;
}

ino_t inode_of(int fd) {
  struct stat info {};
  REQUIRE(::fstat(fd, &info) == 0);
  return info.st_ino;
}

}  // namespace

TEST_CASE("folders of root's or the daemon's user that no one else can write pass") {
  const scratch dir;
  CHECK(refusal(dir.path()).empty());
  CHECK(refusal(dir.folder("a/b", 0755)).empty());
  CHECK(refusal(dir.folder("ro", 0500)).empty());
  CHECK(refusal(dir.folder("setgid", 02750)).empty());
  // The daemon's own folder, below root's.
  const auto own = dir.folder("own", 0700, nobody);
  CHECK(refusal(own, nobody).empty());
  CHECK(contains(refusal(own, 1234), own.string() +
                                         " belongs to uid 65534, neither the daemon's user "
                                         "(uid 1234) nor root"));
  CHECK(refusal(own, any_owner).empty());  // owners not judged
  // "/" itself, and a path given relative to the working folder, with . and ..
  CHECK(refusal("/").empty());
  const auto cwd = fs::current_path();
  fs::current_path(dir.path());
  const auto relative = walk_to_folder("a/./b/../b", {.daemon_uid = 0});
  fs::current_path(cwd);
  REQUIRE(relative.ok());
  CHECK(inode_of(relative.folder.get()) == inode_of(dir.path() / "a" / "b"));
}

TEST_CASE("a sticky folder of root's may be on the way, never the last one") {
  const scratch dir;
  const auto shared = dir.folder("shared", 01777);
  const auto below = dir.folder("shared/mine", 0700);
  CHECK(refusal(below).empty());
  CHECK(refusal(shared) == shared.string() +
                               " is writable by others (mode 1777, a shared folder like /tmp): "
                               "use a folder of its own below it");
  // Sticky but another user's: nothing says who may rename what in it.
  dir.folder("theirs", 01777, nobody);
  const auto under_theirs = dir.folder("theirs/mine", 0700);
  CHECK(refusal(under_theirs, nobody) ==
        (dir.path() / "theirs").string() + " is writable by others (mode 1777)");
}

TEST_CASE("a folder group or others may write is refused, on the way and last, naming it") {
  const scratch dir;
  const auto group = dir.folder("group", 0775);
  const auto below_group = dir.folder("group/sinks", 0755);
  CHECK(refusal(below_group) == group.string() + " is writable by its group (mode 0775)");
  CHECK(refusal(group) == group.string() + " is writable by its group (mode 0775)");
  const auto open = dir.folder("open", 0777);
  CHECK(refusal(dir.folder("open/x", 0700)) ==
        open.string() + " is writable by others (mode 0777)");
  CHECK(refusal(dir.folder("group-sticky", 01770)) ==
        (dir.path() / "group-sticky").string() + " is writable by its group (mode 1770)");
  // Modes only, for a check whose daemon user is not known.
  CHECK_FALSE(refusal(below_group, any_owner).empty());
  // Another user's folder on the way, even one only they can write.
  const auto theirs = dir.folder("theirs", 0755, nobody);
  CHECK(refusal(dir.folder("theirs/x", 0700)) ==
        theirs.string() + " belongs to uid 65534, neither the daemon's user (uid 0) nor root");
}

TEST_CASE("a link is followed only when it is root's in a folder only root can write") {
  const scratch dir;
  const auto real = dir.folder("real", 0755);
  // Debian's /var/run -> /run: root's link in root's 0755 folder, absolute or relative.
  dir.folder("var", 0755);
  dir.link("var/run", real);
  dir.link("var/up", "../real");
  for (const auto& through : {dir.path() / "var" / "run", dir.path() / "var" / "up"}) {
    CAPTURE(through);
    const auto walked = walk_to_folder(through, {.daemon_uid = 0});
    REQUIRE_MESSAGE(walked.ok(), walked.problem);
    CHECK(inode_of(walked.folder.get()) == inode_of(real));
  }
  // Another user's link, even in root's folder: they chose where it points.
  const auto theirs = dir.link("var/theirs", real, nobody);
  CHECK(refusal(theirs / "x") ==
        theirs.string() +
            " is a symbolic link owned by uid 65534: only root's links in folders only root can "
            "write are followed");
  // Root's link where others may write (a sticky /tmp): someone else may have made it.
  const auto shared = dir.folder("shared", 01777);
  const auto planted = dir.link("shared/sinks", real);
  CHECK(refusal(planted) == planted.string() + " is a symbolic link in " + shared.string() +
                                ", which others than root can write: it is not followed");
  // Root's link in the daemon's own folder: the daemon's user could have changed it.
  dir.folder("daemons", 0755, nobody);
  const auto in_daemons = dir.link("daemons/link", real);
  CHECK(contains(refusal(in_daemons, nobody), "which others than root can write"));
  // A loop ends.
  dir.link("var/loop-a", "loop-b");
  dir.link("var/loop-b", "loop-a");
  CHECK(refusal(dir.path() / "var" / "loop-a").ends_with(": too many symbolic links"));
  // The target is judged like any folder on the way.
  const auto open = dir.folder("open", 0777);
  dir.link("var/to-open", open);
  CHECK(refusal(dir.path() / "var" / "to-open") ==
        open.string() + " is writable by others (mode 0777)");
}

TEST_CASE("a missing folder ends the walk, or is created with exactly the mode asked") {
  const scratch dir;
  const auto missing = dir.path() / "run" / "actoken";
  const auto walked = walk_to_folder(missing, {.daemon_uid = 0});
  CHECK_FALSE(walked.ok());
  CHECK(walked.missing);
  CHECK(walked.problem == (dir.path() / "run").string() + " does not exist");
  CHECK_FALSE(fs::exists(dir.path() / "run"));

  const auto old_umask = ::umask(0077);
  const auto created = walk_to_folder(missing, {.daemon_uid = 0, .create_mode = 0755});
  ::umask(old_umask);
  REQUIRE_MESSAGE(created.ok(), created.problem);
  CHECK(actoken::testing::mode_of(dir.path() / "run") == 0755);
  CHECK(actoken::testing::mode_of(missing) == 0755);
  CHECK(inode_of(created.folder.get()) == inode_of(missing));
  // An existing folder's mode is never changed, and one that fails is not fixed.
  REQUIRE(::chmod(missing.c_str(), 0750) == 0);
  CHECK(walk_to_folder(missing, {.daemon_uid = 0, .create_mode = 0700}).ok());
  CHECK(actoken::testing::mode_of(missing) == 0750);
  REQUIRE(::chmod(missing.c_str(), 0770) == 0);
  CHECK_FALSE(walk_to_folder(missing, {.daemon_uid = 0, .create_mode = 0700}).ok());
  CHECK(actoken::testing::mode_of(missing) == 0770);
  // Never below something that is not a folder.
  const auto file = dir.write("file", "x");
  const auto under_file = walk_to_folder(file / "x", {.daemon_uid = 0, .create_mode = 0700});
  CHECK(under_file.problem == file.string() + " is not a folder");
  CHECK_FALSE(under_file.missing);
}

TEST_CASE(
    "what goes through the descriptor lands in the folder judged, though the path is swapped") {
  const scratch dir;
  const auto sinks = dir.folder("parent/sinks", 0755);
  const auto other = dir.folder("parent/other", 0755);
  dir.write("parent/sinks/config.json", "the daemon's");
  dir.write("parent/other/config.json", "someone else's");
  const auto judged = inode_of(sinks);
  const auto walked = walk_to_folder(sinks, {.daemon_uid = 0});
  REQUIRE(walked.ok());
  // Between the walk and the use, the folders trade places (as an attacker
  // who could write `parent` would do, in a loop).
  REQUIRE(::renameat2(AT_FDCWD, sinks.c_str(), AT_FDCWD, other.c_str(), RENAME_EXCHANGE) == 0);
  REQUIRE(inode_of(other) == judged);
  std::string read_back;
  REQUIRE(read_private_file_in(walked.folder.get(), sinks / "config.json",
                               {.daemon_uid = 0, .owner_only = false}, read_back)
              .ok());
  CHECK(read_back == "the daemon's");
  REQUIRE_FALSE(replace_file(walked.folder.get(), sinks / "config.json", "new token"));
  REQUIRE_FALSE(replace_file(walked.folder.get(), sinks / "token", "t"));
  CHECK(slurp(other / "config.json") == "new token");  // the judged folder, wherever it is now
  CHECK(slurp(other / "token") == "t");
  CHECK(slurp(sinks / "config.json") == "someone else's");
  CHECK_FALSE(fs::exists(sinks / "token"));
  CHECK(remove_file(walked.folder.get(), sinks / "token").removed);
  CHECK_FALSE(fs::exists(other / "token"));
}
