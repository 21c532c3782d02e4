#include "client/socket_path.hpp"

#include <sys/stat.h>

namespace actoken::client {

bool path_exists(const std::filesystem::path& path) {
  // lstat, not std::filesystem::exists: no exceptions and no allocation on the hot path.
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

std::filesystem::path discover_socket(const std::optional<std::string>& flag, const env_lookup& env,
                                      uid_t uid, const exists_check& exists) {
  if (flag) {
    return *flag;
  }
  if (const char* from_env = env("ACTOKEN_SOCKET"); from_env != nullptr && *from_env != '\0') {
    return from_env;
  }
  auto user = actoken::user_socket_path(env, uid);
  if (exists(user)) {
    return user;
  }
  return actoken::system_socket_path();
}

}  // namespace actoken::client
