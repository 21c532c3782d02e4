#include "common/text.hpp"
#include "common/unique_fd.hpp"
#include "daemon/platform/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>
#include <system_error>

namespace actoken::platform {
namespace {

// `.<name>.tmp<digits>`: the name `replace_file` gives its temporary files,
// which `remove_stale_temporary_files` recognises after a crash.
std::string temporary_name(const std::string& name) {
  std::random_device random;
  return "." + name + ".tmp" + std::to_string(random()) + std::to_string(random());
}

// For a name `.<name>.tmp<digits>` of `replace_file`'s making, `<name>`.
std::optional<std::string_view> final_name_of_temporary(std::string_view entry) {
  constexpr std::string_view marker = ".tmp";
  const auto at = entry.rfind(marker);
  if (!entry.starts_with('.') || at == std::string_view::npos || at < 2) return std::nullopt;
  const auto digits = entry.substr(at + marker.size());
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return entry.substr(1, at - 1);
}

// 0, or the errno value of the write that failed.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno;
    if (written == 0) return EIO;
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return 0;
}

// Gives the new file its group and mode, and its content, on its descriptor;
// "" or what failed.
std::string fill(int fd, const std::filesystem::path& path, std::string_view data,
                 const file_options& options) {
  // The group first: a chown may clear bits that the chmod then sets again.
  if (options.group && ::fchown(fd, static_cast<uid_t>(-1), *options.group) != 0) {
    return "cannot give " + path.string() + " group " + std::to_string(*options.group) + ": " +
           errno_text(errno);
  }
  // Whatever the umask made of it.
  if (::fchmod(fd, options.mode) != 0) {
    return "cannot set the mode of " + path.string() + ": " + errno_text(errno);
  }
  if (const int error = write_all(fd, data); error != 0) {
    return "cannot write " + path.string() + ": " + errno_text(error);
  }
  if (::fsync(fd) != 0) return "cannot fsync " + path.string() + ": " + errno_text(errno);
  return {};
}

}  // namespace

std::optional<std::string> replace_file(int folder, const std::filesystem::path& path,
                                        std::string_view data, const file_options& options) {
  const auto name = path.filename().string();
  const auto temp = temporary_name(name);
  std::string problem;
  {
    const unique_fd fd(
        ::openat(folder, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) {
      return "cannot create a temporary file for " + path.string() + ": " + errno_text(errno);
    }
    problem = fill(fd.get(), path, data, options);
  }
  // rename(2) replaces the entry: a symbolic link at `path` is replaced, never followed.
  if (problem.empty() && ::renameat(folder, temp.c_str(), folder, name.c_str()) != 0) {
    problem = "cannot rename into " + path.string() + ": " + errno_text(errno);
  }
  if (!problem.empty()) {
    ::unlinkat(folder, temp.c_str(), 0);
    return problem;
  }
  // Best effort: the data is already safe, this makes the rename durable.
  (void)::fsync(folder);
  return std::nullopt;
}

removal remove_file(int folder, const std::filesystem::path& path) {
  // unlink(2) removes a link itself, never its target.
  if (::unlinkat(folder, path.filename().c_str(), 0) == 0) return {true, {}};
  if (errno == ENOENT) return {};
  return {false, "cannot remove " + path.string() + ": " + errno_text(errno)};
}

std::size_t remove_stale_temporary_files(int folder, uid_t owner,
                                         const std::function<bool(std::string_view)>& ours) {
  // A listing of its own: readdir moves the descriptor's position.
  const int list_fd = ::openat(folder, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return 0;
  DIR* listing = ::fdopendir(list_fd);
  if (listing == nullptr) {
    ::close(list_fd);
    return 0;
  }
  std::size_t removed = 0;
  while (const dirent* entry = ::readdir(listing)) {
    const auto final_name = final_name_of_temporary(entry->d_name);
    if (!final_name || !ours(*final_name)) continue;
    struct stat info {};
    if (::fstatat(folder, entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(info.st_mode) || info.st_uid != owner) continue;
    if (::unlinkat(folder, entry->d_name, 0) == 0) ++removed;
  }
  ::closedir(listing);
  return removed;
}

}  // namespace actoken::platform
