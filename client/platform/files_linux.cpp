#include "client/platform/files.hpp"
#include "client/platform/trust_facts.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace actoken::client::platform {
namespace {

// Closes a descriptor when it goes out of scope.
class fd_closer {
 public:
  explicit fd_closer(int fd) noexcept : fd_(fd) {}
  ~fd_closer() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
  int get() const noexcept { return fd_; }
  // Closes now, reporting failure (a delayed write error shows here).
  bool close_now() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string failure(std::string_view what, const std::filesystem::path& path, int error) {
  return std::string(what) + " " + path.string() + ": " + std::strerror(error);
}

// mkdir -p with mode 0700 for every folder it creates (umask permitting less).
std::optional<std::string> create_folders(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> missing;
  for (auto at = folder; !at.empty(); at = at.parent_path()) {
    struct stat info {};
    if (::stat(at.c_str(), &info) == 0) {
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

}  // namespace

read_result read_whole_file(const std::filesystem::path& path, std::size_t max_size) {
  read_result result;
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    result.missing = errno == ENOENT;
    result.error = result.missing ? 0 : errno;
    return result;
  }
  result.is_link = S_ISLNK(info.st_mode);
  const fd_closer fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    result.missing = errno == ENOENT;  // a dangling link
    result.error = result.missing ? 0 : errno;
    return result;
  }
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    result.error = EINVAL;
    return result;
  }
  if (static_cast<std::size_t>(info.st_size) > max_size) {
    result.error = EFBIG;
    return result;
  }
  std::array<char, 8192> chunk{};
  for (;;) {
    const auto got = ::read(fd.get(), chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      result.error = errno;
      return result;
    }
    if (got == 0) {
      return result;
    }
    result.text.append(chunk.data(), static_cast<std::size_t>(got));
    if (result.text.size() > max_size) {  // it grew while we read
      result.error = EFBIG;
      return result;
    }
  }
}

std::optional<std::string> replace_file(const std::filesystem::path& path, std::string_view data) {
  const auto folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (auto problem = create_folders(folder)) {
    return problem;
  }
  std::string temp = (folder / ("." + path.filename().string() + ".actoken-XXXXXX")).string();
  fd_closer fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return failure("cannot create a temporary file in", folder, errno);
  }
  const auto abandon = [&](std::string_view what, int error) {
    ::unlink(temp.c_str());
    return failure(what, path, error);
  };
  // mkostemp makes it 0600 already; said again, whatever the umask did.
  if (::fchmod(fd.get(), 0600) != 0 || !write_all(fd.get(), data) || ::fsync(fd.get()) != 0 ||
      !fd.close_now()) {
    return abandon("cannot write", errno);
  }
  // rename(2) replaces the directory entry: a symbolic link there is replaced, never followed.
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return abandon("cannot replace", errno);
  }
  // Best effort: the data is safe; this makes the rename itself durable.
  const fd_closer folder_fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (folder_fd.get() >= 0) {
    (void)::fsync(folder_fd.get());
  }
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
