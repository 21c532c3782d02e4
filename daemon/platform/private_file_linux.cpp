#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "daemon/platform/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <system_error>

namespace actoken::platform {
namespace {

// O_NONBLOCK: opening a FIFO waits for a writer, and a device may wait for
// anything; neither may stall the daemon. O_NOCTTY: a terminal never becomes
// ours. Regular files ignore O_NONBLOCK when read.
constexpr int open_flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

bool trusted_owner(uid_t owner, uid_t daemon_uid) noexcept {
  return owner == daemon_uid || owner == 0;
}

std::string size_text(std::size_t bytes) {
  constexpr std::size_t kib = 1024;
  if (bytes % (kib * kib) == 0) return std::to_string(bytes / (kib * kib)) + " MiB";
  if (bytes % kib == 0) return std::to_string(bytes / kib) + " KiB";
  return std::to_string(bytes) + " bytes";
}

std::string foreign_owner(uid_t owner) {
  return "is owned by uid " + std::to_string(owner) + ", neither the daemon's user nor root";
}

// What a file that is not a regular one is, as the refusal says it.
std::string_view kind_of(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "is a folder";
  if (S_ISFIFO(mode)) return "is a FIFO";
  if (S_ISCHR(mode)) return "is a character device";
  if (S_ISBLK(mode)) return "is a block device";
  if (S_ISSOCK(mode)) return "is a socket";
  if (S_ISLNK(mode)) return "is a symbolic link";
  return "is not a regular file";
}

// Others may replace entries of a folder they can write, unless it is
// sticky: then only an entry's owner (or the folder's) can.
bool others_can_replace_entries(mode_t folder_mode) noexcept {
  return (folder_mode & (S_IWGRP | S_IWOTH)) != 0 && (folder_mode & S_ISVTX) == 0;
}

private_file_result refused(const std::string& subject, std::string_view reason) {
  return {private_file_status::refused, subject + " " + std::string(reason)};
}

private_file_result missing(const std::string& subject) {
  return {private_file_status::missing, subject + " does not exist"};
}

// Why the symbolic link `name` in `dir_fd` may not be followed; "" when it
// may (SPEC §2): the link and its folder belong to the daemon's user or root,
// and no one else can replace the link.
std::string link_problem(int dir_fd, const char* name, uid_t daemon_uid) {
  struct stat link {};
  if (::fstatat(dir_fd, name, &link, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(link.st_mode)) {
    return "cannot be opened: " + errno_text(ELOOP);
  }
  if (!trusted_owner(link.st_uid, daemon_uid)) {
    return "is a symbolic link owned by uid " + std::to_string(link.st_uid) +
           ", neither the daemon's user nor root";
  }
  struct stat folder {};
  if (::fstat(dir_fd, &folder) != 0)
    return "is a symbolic link in a folder that cannot be examined";
  if (!trusted_owner(folder.st_uid, daemon_uid)) {
    return "is a symbolic link in a folder owned by uid " + std::to_string(folder.st_uid) +
           ", neither the daemon's user nor root";
  }
  if (others_can_replace_entries(folder.st_mode)) {
    return "is a symbolic link in a folder others can write";
  }
  return {};
}

// Where the link `name` in `dir_fd` points, for messages ("?" when unreadable).
std::string link_text(int dir_fd, const char* name) {
  std::array<char, 4096> target{};
  const auto n = ::readlinkat(dir_fd, name, target.data(), target.size() - 1);
  return n > 0 ? std::string(target.data(), static_cast<std::size_t>(n)) : std::string("?");
}

// Why `name` in `dir_fd` could not be opened: what it is when that explains it
// (a socket cannot be opened at all), else the error.
std::string open_failure(int dir_fd, const char* name, int stat_flags, int error) {
  struct stat info {};
  if (::fstatat(dir_fd, name, &info, stat_flags) == 0 && !S_ISREG(info.st_mode)) {
    return std::string(kind_of(info.st_mode));
  }
  return "cannot be opened: " + errno_text(error);
}

// The checks made on the open descriptor; "" when the file is acceptable.
std::string descriptor_problem(const struct stat& info, const private_file_rules& rules) {
  if (!S_ISREG(info.st_mode)) return std::string(kind_of(info.st_mode));
  if (!trusted_owner(info.st_uid, rules.daemon_uid)) return foreign_owner(info.st_uid);
  // systemd credentials: root-owned, read access granted by an ACL that shows
  // as the group read bit; nothing else.
  const bool acl_grant = rules.systemd_credential && info.st_uid == 0 &&
                         (info.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) == 0;
  if (rules.owner_only && (info.st_mode & (S_IRWXG | S_IRWXO)) != 0 && !acl_grant) {
    const bool readable = (info.st_mode & (S_IRGRP | S_IROTH)) != 0;
    return "has mode " + octal_mode(info.st_mode) + ": group- or world-" +
           (readable ? "readable" : "accessible") + "; chmod 600 it";
  }
  if (static_cast<std::uintmax_t>(info.st_size) > rules.max_size) {
    return "is larger than " + size_text(rules.max_size);
  }
  return {};
}

// An open and checked private file.
struct opened_file {
  unique_fd fd{-1};
  std::size_t size = 0;
  std::string subject;  ///< the path, and the link's target when one was followed
  private_file_result result;
};

// The checks made with `fstat` on the open descriptor of `file`.
void judge(opened_file& file, const private_file_rules& rules) {
  struct stat info {};
  if (::fstat(file.fd.get(), &info) != 0) {
    file.result = refused(file.subject, "cannot be examined: " + errno_text(errno));
    return;
  }
  if (auto problem = descriptor_problem(info, rules); !problem.empty()) {
    file.result = refused(file.subject, problem);
    return;
  }
  file.size = static_cast<std::size_t>(info.st_size);
}

// A file about to be opened at `path`, refused at once when `path` names a
// folder ("", "." or ".." last).
opened_file about_to_open(const std::filesystem::path& path) {
  opened_file file;
  file.subject = path.string();
  const auto name = path.filename();
  if (name.empty() || name == "." || name == "..")
    file.result = refused(file.subject, "is a folder");
  return file;
}

opened_file open_checked(const std::filesystem::path& path, const private_file_rules& rules) {
  opened_file file = about_to_open(path);
  if (file.result.refused()) return file;
  const auto name = path.filename();
  // The folder is opened first and the file relative to it: the folder the
  // link rule judges is the one the file is opened in.
  const auto folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const unique_fd dir_fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) {
    const int error = errno;
    file.result = error == ENOENT ? missing(file.subject)
                                  : refused(file.subject, "cannot be opened: " + errno_text(error));
    return file;
  }
  int fd = ::openat(dir_fd.get(), name.c_str(), open_flags | O_NOFOLLOW);
  if (fd < 0 && errno == ELOOP) {
    // O_NOFOLLOW met a symbolic link: follow it only where it is safe.
    if (auto problem = link_problem(dir_fd.get(), name.c_str(), rules.daemon_uid);
        !problem.empty()) {
      file.result = refused(file.subject, problem);
      return file;
    }
    file.subject += " (a link to " + link_text(dir_fd.get(), name.c_str()) + ")";
    fd = ::openat(dir_fd.get(), name.c_str(), open_flags);
    if (fd < 0) {
      file.result = refused(file.subject, open_failure(dir_fd.get(), name.c_str(), 0, errno));
      return file;
    }
  } else if (fd < 0) {
    const int error = errno;
    file.result = error == ENOENT ? missing(file.subject)
                                  : refused(file.subject, open_failure(dir_fd.get(), name.c_str(),
                                                                       AT_SYMLINK_NOFOLLOW, error));
    return file;
  }
  file.fd = unique_fd(fd);
  judge(file, rules);
  return file;
}

// Opens `path`'s last name in the folder open as `folder`, never through a
// link (SPEC §6: a file the daemon reads back and writes), and judges it.
opened_file open_checked_in(int folder, const std::filesystem::path& path,
                            const private_file_rules& rules) {
  opened_file file = about_to_open(path);
  if (file.result.refused()) return file;
  const auto name = path.filename();
  const int fd = ::openat(folder, name.c_str(), open_flags | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    const auto why = open_failure(folder, name.c_str(), AT_SYMLINK_NOFOLLOW, error);
    const bool link = why == kind_of(S_IFLNK);
    file.result = error == ENOENT || (link && rules.link_is_missing) ? missing(file.subject)
                                                                     : refused(file.subject, why);
    return file;
  }
  file.fd = unique_fd(fd);
  judge(file, rules);
  return file;
}

// Reads what is left of `file` through `append`, at most `cap` bytes (the file
// may have grown since fstat). The chunk on the stack is wiped: it may hold a
// key.
template <class Append>
private_file_result read_checked(opened_file& file, std::size_t cap, Append append) {
  std::array<char, 4096> chunk{};
  std::size_t total = 0;
  private_file_result result;
  for (;;) {
    const auto n = ::read(file.fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = refused(file.subject, "cannot be read: " + errno_text(errno));
      break;
    }
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
    if (total > cap) {
      result = refused(file.subject, "is larger than " + size_text(cap));
      break;
    }
    append(std::string_view(chunk.data(), static_cast<std::size_t>(n)));
  }
  secure_wipe(chunk.data(), chunk.size());
  return result;
}

}  // namespace

private_file_result read_private_file(const std::filesystem::path& path,
                                      const private_file_rules& rules, secure_buffer& out) {
  out.clear();
  auto file = open_checked(path, rules);
  if (!file.result.ok()) return file.result;
  // Room for all of it up front: no reallocation while the key is read.
  out.reserve(std::min(file.size, rules.max_size) + 1);
  auto result =
      read_checked(file, rules.max_size, [&out](std::string_view part) { out.append(part); });
  if (!result.ok()) out.clear();
  return result;
}

private_file_result read_private_file(const std::filesystem::path& path,
                                      const private_file_rules& rules, std::string& out) {
  out.clear();
  auto file = open_checked(path, rules);
  if (!file.result.ok()) return file.result;
  out.reserve(std::min(file.size, rules.max_size) + 1);
  auto result = read_checked(file, rules.max_size, [&out](std::string_view part) { out += part; });
  if (!result.ok()) out.clear();
  return result;
}

private_file_result check_private_file(const std::filesystem::path& path,
                                       const private_file_rules& rules) {
  return open_checked(path, rules).result;
}

private_file_result read_private_file_in(int folder, const std::filesystem::path& path,
                                         const private_file_rules& rules, std::string& out) {
  out.clear();
  auto file = open_checked_in(folder, path, rules);
  if (!file.result.ok()) return file.result;
  out.reserve(std::min(file.size, rules.max_size) + 1);
  auto result = read_checked(file, rules.max_size, [&out](std::string_view part) { out += part; });
  if (!result.ok()) out.clear();
  return result;
}

private_file_result check_private_file_in(int folder, const std::filesystem::path& path,
                                          const private_file_rules& rules) {
  return open_checked_in(folder, path, rules).result;
}

private_file_result check_private_folder(const std::filesystem::path& path, uid_t daemon_uid) {
  const auto subject = path.string();
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int error = errno;
    return error == ENOENT ? missing(subject)
                           : refused(subject, "cannot be examined: " + errno_text(error));
  }
  if (!S_ISDIR(info.st_mode)) return refused(subject, "is not a folder");
  if (daemon_uid != any_owner && !trusted_owner(info.st_uid, daemon_uid)) {
    return refused(subject, foreign_owner(info.st_uid));
  }
  if (others_can_replace_entries(info.st_mode)) {
    return refused(subject, "has mode " + octal_mode(info.st_mode) +
                                ": writable by group or others without the sticky bit");
  }
  return {};
}

}  // namespace actoken::platform
