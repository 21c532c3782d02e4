#include "common/paths.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace actoken {
namespace {

const char* non_empty(const char* value) {
  return (value != nullptr && *value != '\0') ? value : nullptr;
}

std::filesystem::path home_dir(const env_lookup& env, uid_t uid) {
  if (const char* home = non_empty(env("HOME"))) {
    return home;
  }
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr) {
    return found->pw_dir;
  }
  return "/";
}

}  // namespace

env_lookup process_env() {
  return [](const char* name) -> const char* { return std::getenv(name); };
}

std::filesystem::path system_socket_path() { return "/run/actoken/actokend.sock"; }

std::filesystem::path user_socket_path(const env_lookup& env, uid_t uid) {
  if (const char* runtime = non_empty(env("XDG_RUNTIME_DIR"))) {
    return std::filesystem::path(runtime) / "actoken" / "actokend.sock";
  }
  return std::filesystem::path("/tmp") / ("actoken-" + std::to_string(uid)) / "actokend.sock";
}

std::filesystem::path user_config_dir(const env_lookup& env, uid_t uid) {
  if (const char* config_home = non_empty(env("XDG_CONFIG_HOME"))) {
    return std::filesystem::path(config_home) / "actoken";
  }
  return home_dir(env, uid) / ".config" / "actoken";
}

std::filesystem::path user_state_dir(const env_lookup& env, uid_t uid) {
  if (const char* state_home = non_empty(env("XDG_STATE_HOME"))) {
    return std::filesystem::path(state_home) / "actoken";
  }
  return home_dir(env, uid) / ".local" / "state" / "actoken";
}

mode_defaults defaults_for(run_mode mode, const env_lookup& env, uid_t uid) {
  if (mode == run_mode::system) {
    return {"/etc/actoken/actokend.json", "/var/lib/actoken/keys", system_socket_path(), 0660};
  }
  const auto dir = user_config_dir(env, uid);
  return {dir / "actokend.json", dir / "keys", user_socket_path(env, uid), 0600};
}

}  // namespace actoken
