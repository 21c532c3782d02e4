#include "daemon/platform/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>
#include <system_error>

namespace actoken::platform {

unique_fd::~unique_fd() {
  if (fd_ >= 0) ::close(fd_);
}

void write_file_atomically(const std::filesystem::path& path, std::string_view data) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::random_device random;
  std::string name = "." + path.filename().string() + ".tmp";
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

}  // namespace actoken::platform
