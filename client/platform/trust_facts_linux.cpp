#include "client/platform/trust_facts.hpp"

#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace actoken::client::platform {

folder_facts inspect_folder(const std::filesystem::path& folder) noexcept {
  folder_facts facts;
  struct stat info {};
  if (::lstat(folder.c_str(), &info) != 0) {
    facts.error = errno;
    return facts;
  }
  if (S_ISLNK(info.st_mode)) {
    // Judged twice: the link (whoever planted it chose the target) and the target.
    facts.link_owner = info.st_uid;
    if (::stat(folder.c_str(), &info) != 0) {
      facts.error = errno;
      return facts;
    }
  }
  if (!S_ISDIR(info.st_mode)) {
    facts.error = ENOTDIR;
    return facts;
  }
  facts.owner = info.st_uid;
  facts.mode = info.st_mode & 07777;
  return facts;
}

std::optional<uid_t> peer_uid(int fd) noexcept {
  ucred cred{};
  socklen_t length = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) {
    return std::nullopt;
  }
  if (length != sizeof cred) {
    errno = EPROTO;
    return std::nullopt;
  }
  return cred.uid;
}

std::optional<uid_t> uid_of_user(const char* name) {
  // A large entry (long gecos, NSS from a directory) gives ERANGE: grow and ask again.
  for (std::size_t size = 4096; size <= std::size_t{1} << 20; size *= 4) {
    std::vector<char> buffer(size);
    passwd entry{};
    passwd* found = nullptr;
    const int error = ::getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE) {
      continue;
    }
    if (error != 0 || found == nullptr) {
      return std::nullopt;
    }
    return found->pw_uid;
  }
  return std::nullopt;
}

uid_t own_uid() noexcept { return ::geteuid(); }

}  // namespace actoken::client::platform
