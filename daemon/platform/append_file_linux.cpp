#include "daemon/platform/append_file.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace actoken::platform {
namespace {

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::string os_error(const std::filesystem::path& path, const char* step, int error) {
  return "cannot " + std::string(step) + " " + path.string() + ": " +
         std::generic_category().message(error);
}

// The folder `path` would be created in, reached by the walk; or why not.
std::variant<unique_fd, std::string> open_folder(const std::filesystem::path& path,
                                                 uid_t daemon_uid) {
  if (!names_a_file(path)) return path.string() + " names no file";
  // The file is then opened relative to this descriptor, so no folder on the
  // way can be swapped between the walk and the open.
  auto walked = walk_to_folder(folder_of(path), {.daemon_uid = daemon_uid});
  if (!walked.ok()) return std::move(walked.problem);
  return std::move(walked.folder);
}

// Opens `path`'s last component in `dir` for appending (creating it when
// `create`) and checks what was opened; or why not. Not `create` and
// nothing there: no descriptor (-1).
std::variant<unique_fd, std::string> open_in(int dir, const std::filesystem::path& path,
                                             uid_t daemon_uid, bool create) {
  const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
  unique_fd fd(::openat(dir, path.filename().c_str(), create ? flags | O_CREAT : flags, 0600));
  if (fd.get() < 0) {
    if (!create && errno == ENOENT) return unique_fd();
    if (errno == ELOOP) return path.string() + " is a symbolic link";
    return os_error(path, "open", errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error(path, "stat", errno);
  if (!S_ISREG(st.st_mode)) return path.string() + " is not a regular file";
  if (daemon_uid != any_owner && st.st_uid != daemon_uid) {
    return path.string() + " belongs to uid " + std::to_string(st.st_uid) +
           ", not to the daemon's user";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return path.string() + " has mode " + mode_text(st.st_mode) +
           ": group or others may write it; chmod 600 it";
  }
  return fd;
}

}  // namespace

std::variant<unique_fd, std::string> open_append_file(const std::filesystem::path& path,
                                                      uid_t daemon_uid) {
  auto dir = open_folder(path, daemon_uid);
  if (auto* why = std::get_if<std::string>(&dir)) return std::move(*why);
  return open_in(std::get<unique_fd>(dir).get(), path, daemon_uid, /*create=*/true);
}

std::string check_append_file(const std::filesystem::path& path, uid_t daemon_uid) {
  auto dir = open_folder(path, daemon_uid);
  if (auto* why = std::get_if<std::string>(&dir)) return std::move(*why);
  // Nothing there yet is fine: the daemon creates it.
  auto file = open_in(std::get<unique_fd>(dir).get(), path, daemon_uid, /*create=*/false);
  if (auto* why = std::get_if<std::string>(&file)) return std::move(*why);
  return {};
}

int append_all(int fd, std::string_view data, std::size_t& written) noexcept {
  written = 0;
  while (written < data.size()) {
    const auto n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    written += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace actoken::platform
