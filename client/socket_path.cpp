#include "client/socket_path.hpp"

#include <sys/stat.h>

namespace actoken::client {

bool path_exists(const std::filesystem::path& path) {
  // lstat, not std::filesystem::exists: no exceptions and no allocation on the hot path.
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

std::vector<std::filesystem::path> user_socket_candidates(const env_lookup& env, uid_t uid) {
  const auto uid_text = std::to_string(uid);
  std::filesystem::path runtime_dir;
  if (const char* runtime = env("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0') {
    runtime_dir = runtime;
  } else {
    // systemd-logind's folder, which cron, su and sudo leave out of the environment.
    runtime_dir = std::filesystem::path("/run/user") / uid_text;
  }
  return {runtime_dir / "actoken" / "actokend.sock",
          std::filesystem::path("/tmp") / ("actoken-" + uid_text) / "actokend.sock"};
}

std::filesystem::path discover_socket(const std::optional<std::string>& flag, const env_lookup& env,
                                      uid_t uid, const exists_check& exists) {
  if (flag) {
    return *flag;
  }
  if (const char* from_env = env("ACTOKEN_SOCKET"); from_env != nullptr && *from_env != '\0') {
    return from_env;
  }
  for (auto& candidate : user_socket_candidates(env, uid)) {
    if (exists(candidate)) {
      return candidate;
    }
  }
  return actoken::system_socket_path();
}

std::vector<std::filesystem::path> env_socket_candidates(const std::optional<std::string>& flag,
                                                         const env_lookup& env, uid_t uid) {
  if (flag) {
    return {*flag};
  }
  if (const char* from_env = env("ACTOKEN_SOCKET"); from_env != nullptr && *from_env != '\0') {
    return {from_env};
  }
  auto candidates = user_socket_candidates(env, uid);
  candidates.push_back(actoken::system_socket_path());
  return candidates;
}

}  // namespace actoken::client
