#include "daemon/platform/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <random>
#include <string>
#include <system_error>

namespace actoken::platform {
namespace {

// `write_file_atomically` names its temporary file `.<name>.tmp<digits>`;
// this is the part before the digits.
std::string temporary_prefix(const std::filesystem::path& path) {
  return "." + path.filename().string() + ".tmp";
}

// For a name `.<name>.tmp<digits>` of `write_file_atomically`'s making, `<name>`.
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

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view data) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::random_device random;
  std::string name = temporary_prefix(path);
  for (int i = 0; i < 2; ++i) name += std::to_string(random());
  const auto temp = dir / name;
  const auto fail = [&](int error, const char* what) {
    ::unlink(temp.c_str());
    throw std::system_error(error, std::generic_category(),
                            std::string(what) + " " + path.string());
  };
  {
    const unique_fd fd(
        ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create a temporary file for " + path.string());
    }
    std::size_t written = 0;
    while (written < data.size()) {
      const auto n = ::write(fd.get(), data.data() + written, data.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(errno, "cannot write");
      written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) fail(errno, "cannot fsync");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) fail(errno, "cannot rename into");
  // Best effort: the data is already safe, this makes the rename durable.
  const unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) (void)::fsync(dir_fd.get());
}

std::size_t remove_stale_temporary_files(const std::filesystem::path& path, uid_t owner) {
  const auto name = path.filename().string();
  return remove_stale_temporary_files_in(
      path.has_parent_path() ? path.parent_path() : std::filesystem::path("."), owner,
      [&name](std::string_view final_name) { return final_name == name; });
}

std::size_t remove_stale_temporary_files_in(const std::filesystem::path& dir, uid_t owner,
                                            const std::function<bool(std::string_view)>& ours) {
  // Everything below is relative to this descriptor, so a folder swapped
  // while we look cannot point the unlink elsewhere.
  const unique_fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (dir_fd.get() < 0) return 0;
  const int list_fd = ::fcntl(dir_fd.get(), F_DUPFD_CLOEXEC, 0);
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
    if (::fstatat(dir_fd.get(), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(info.st_mode) || info.st_uid != owner) continue;
    if (::unlinkat(dir_fd.get(), entry->d_name, 0) == 0) ++removed;
  }
  ::closedir(listing);
  return removed;
}

}  // namespace actoken::platform
