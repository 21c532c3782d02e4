#include "client/platform/files.hpp"
#include "client/platform/trust_facts.hpp"
#include "common/text.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace actoken::client::platform {
namespace {

std::string failure(std::string_view what, const std::filesystem::path& path, int error) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(error);
}

// True when group `gid` is `uid`'s own private group (Debian's user private
// groups: named as the user, its primary group, no one else listed), which
// no other user is in: a folder it may write is still the user's alone.
bool is_private_group(gid_t gid, uid_t uid) {
  for (std::size_t size = 4096; size <= std::size_t{1} << 20; size *= 4) {
    std::vector<char> users(size);
    std::vector<char> groups(size);
    passwd user{};
    passwd* found_user = nullptr;
    group entry{};
    group* found_group = nullptr;
    const int user_error = ::getpwuid_r(uid, &user, users.data(), users.size(), &found_user);
    const int group_error = ::getgrgid_r(gid, &entry, groups.data(), groups.size(), &found_group);
    if (user_error == ERANGE || group_error == ERANGE) continue;
    if (found_user == nullptr || found_group == nullptr) return false;
    const bool no_members = entry.gr_mem == nullptr || entry.gr_mem[0] == nullptr;
    return user.pw_gid == gid && no_members && std::string_view(user.pw_name) == entry.gr_name;
  }
  return false;
}

// Why `info` (of `what`) lets a user other than `uid` in, or "": another
// owner than `uid` or root, or write access for others or a shared group.
// `sticky_ok`: a sticky folder others may write is fine (entries are kept by
// their owners), as a folder to make folders in.
std::string foreign(const struct stat& info, const std::string& what, uid_t uid, bool sticky_ok) {
  if (info.st_uid != uid && info.st_uid != 0) {
    return what + " belongs to uid " + std::to_string(info.st_uid);
  }
  if (sticky_ok && (info.st_mode & S_ISVTX) != 0) return "";
  if ((info.st_mode & S_IWOTH) != 0) {
    return what + " is writable by others (mode " + octal_mode(info.st_mode) + ")";
  }
  if ((info.st_mode & S_IWGRP) != 0 && !is_private_group(info.st_gid, uid)) {
    return what + " is writable by its group, gid " + std::to_string(info.st_gid) + " (mode " +
           octal_mode(info.st_mode) + ")";
  }
  return "";
}

// The missing folders of `folder`, outermost first, and the nearest one that
// exists; refused (nothing made) when another user could reach into that one.
std::optional<std::string> make_folders(const std::filesystem::path& folder, uid_t uid,
                                        std::string& refused) {
  std::vector<std::filesystem::path> missing;
  for (auto at = folder; !at.empty(); at = at.parent_path()) {
    struct stat info {};
    if (::stat(at.c_str(), &info) == 0) {
      if (!missing.empty()) {
        refused = foreign(info, "the folder " + at.string() + ", where it would make folders,", uid,
                          true);
      }
      break;
    }
    if (errno != ENOENT) {
      return failure("cannot look at folder", at, errno);
    }
    missing.push_back(at);
    if (at == at.parent_path()) {
      break;
    }
  }
  if (!refused.empty()) return std::nullopt;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      return failure("cannot create folder", *it, errno);
    }
  }
  return std::nullopt;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) {
      continue;
    }
    if (written <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// Reads `fd` (a regular file of at most `max_size` bytes) into `result.text`.
void read_all(int fd, std::size_t max_size, read_result& result) {
  std::array<char, 8192> chunk{};
  for (;;) {
    const auto got = ::read(fd, chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      result.error = errno;
      result.text.clear();
      return;
    }
    if (got == 0) {
      return;
    }
    result.text.append(chunk.data(), static_cast<std::size_t>(got));
    if (result.text.size() > max_size) {  // it grew while we read
      result.error = EFBIG;
      result.text.clear();
      return;
    }
  }
}

// A name for the temporary file beside `name`: random, so another run's is
// never taken.
std::string temporary_name(const std::string& name) {
  static constexpr char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  std::string suffix;
  for (int i = 0; i < 12; ++i) suffix += digits[random() % 36];
  return "." + name + ".actoken-" + suffix;
}

}  // namespace

checked_folder open_checked_folder(const std::filesystem::path& folder, uid_t uid) {
  checked_folder result;
  if (auto problem = make_folders(folder, uid, result.refused)) {
    result.problem = std::move(*problem);
    return result;
  }
  if (!result.refused.empty()) return result;
  unique_fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat info {};
  if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0) {
    result.problem = failure("cannot open folder", folder, errno);
    return result;
  }
  result.refused = foreign(info, "its folder " + folder.string(), uid, false);
  if (result.refused.empty()) result.fd = std::move(fd);
  return result;
}

read_result read_file_in(const checked_folder& folder, const std::string& name,
                         std::size_t max_size, uid_t uid) {
  read_result result;
  struct stat info {};
  if (::fstatat(folder.fd.get(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    result.missing = errno == ENOENT;
    result.error = result.missing ? 0 : errno;
    return result;
  }
  result.is_link = S_ISLNK(info.st_mode);
  if (result.is_link && info.st_uid != uid && info.st_uid != 0) {
    result.refused = "it is a symbolic link of uid " + std::to_string(info.st_uid);
    return result;
  }
  // The folder is the caller's alone: the entry is still the one looked at.
  const int no_follow = result.is_link ? 0 : O_NOFOLLOW;
  const unique_fd fd(::openat(folder.fd.get(), name.c_str(),
                              O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | no_follow));
  if (fd.get() < 0) {
    result.missing = errno == ENOENT;  // a dangling link
    result.error = result.missing ? 0 : errno;
    return result;
  }
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    result.error = EINVAL;
    return result;
  }
  if (info.st_uid != uid && info.st_uid != 0) {
    result.refused =
        (result.is_link ? "it is a symbolic link to a file of uid " : "it belongs to uid ") +
        std::to_string(info.st_uid);
    return result;
  }
  if (static_cast<std::size_t>(info.st_size) > max_size) {
    result.error = EFBIG;
    return result;
  }
  read_all(fd.get(), max_size, result);
  return result;
}

std::optional<std::string> replace_file_in(const checked_folder& folder, const std::string& name,
                                           const std::filesystem::path& path,
                                           std::string_view data) {
  const int dir = folder.fd.get();
  std::string temp;
  unique_fd fd;
  for (int attempt = 0; attempt < 8 && fd.get() < 0; ++attempt) {
    temp = temporary_name(name);
    fd = unique_fd(
        ::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0 && errno != EEXIST) break;
  }
  if (fd.get() < 0) {
    return failure("cannot create a temporary file in", path.parent_path(), errno);
  }
  const auto abandon = [&](std::string_view what, int error) {
    ::unlinkat(dir, temp.c_str(), 0);
    return failure(what, path, error);
  };
  // Made 0600 already; said again, whatever the umask did.
  if (::fchmod(fd.get(), 0600) != 0 || !write_all(fd.get(), data) || ::fsync(fd.get()) != 0 ||
      ::close(fd.release()) != 0) {
    return abandon("cannot write", errno);
  }
  // renameat(2) replaces the directory entry: a symbolic link there is replaced, never followed.
  if (::renameat(dir, temp.c_str(), dir, name.c_str()) != 0) {
    return abandon("cannot replace", errno);
  }
  // Best effort: the data is safe; this makes the rename itself durable.
  (void)::fsync(dir);
  return std::nullopt;
}

std::optional<unsigned> folder_mode(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return std::nullopt;
  }
  return static_cast<unsigned>(info.st_mode & 07777);
}

bool system_daemon_installed() {
  // Where the package (/lib on Debian), `cmake --install --prefix /usr` and an
  // administrator's own copy put the system socket unit.
  constexpr std::array<const char*, 4> units{
      "/etc/systemd/system/actokend.socket", "/lib/systemd/system/actokend.socket",
      "/usr/lib/systemd/system/actokend.socket", "/usr/local/lib/systemd/system/actokend.socket"};
  for (const char* unit : units) {
    if (::access(unit, F_OK) == 0) {
      return true;
    }
  }
  return uid_of_user("actoken").has_value();
}

}  // namespace actoken::client::platform
