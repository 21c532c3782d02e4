#include "daemon/platform/home_folder.hpp"

#include <pwd.h>
#include <stdlib.h>

#include <cerrno>
#include <vector>

namespace actoken::platform {

std::optional<std::filesystem::path> home_folder(uid_t uid) {
  if (const char* home = ::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::filesystem::path(home);
  }
  std::vector<char> buffer(4096);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int error = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE && buffer.size() < (1U << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (error != 0 || found == nullptr || found->pw_dir == nullptr || found->pw_dir[0] != '/') {
      return std::nullopt;
    }
    return std::filesystem::path(found->pw_dir);
  }
}

}  // namespace actoken::platform
