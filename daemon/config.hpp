#pragma once

/// @file
/// The daemon's configuration (SPEC §2): a struct with every default, and a
/// pure parser from JSON text (with comments) to a config or a list of
/// problems, each naming the key and the reason.

#include "common/paths.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/upstream/api_version.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace actoken {

/// Users and groups, each given by name or number (SPEC §4 access control).
/// The names are resolved to numbers, added to `uids` and `gids`, when the
/// config is loaded (`resolve_principal_names`); access is decided on the
/// numbers alone.
struct principal_set {
  std::vector<std::string> user_names;
  std::vector<uid_t> uids;
  std::vector<std::string> group_names;
  std::vector<gid_t> gids;

  bool empty() const noexcept {
    return user_names.empty() && uids.empty() && group_names.empty() && gids.empty();
  }
  friend bool operator==(const principal_set&, const principal_set&) = default;
};

/// The names of users and groups by number, as the daemon learnt them when
/// the config was loaded (name_resolution.hpp): the names the config lists,
/// and root's and the daemon's own. The only names it shows while serving
/// (`/v1/whoami`, `forbidden` messages): it never asks the name service then.
struct name_book {
  std::map<uid_t, std::string> users;
  std::map<gid_t, std::string> groups;
};

/// One entry of `organizations`.
struct org_config {
  std::optional<std::filesystem::path> key_file;  ///< already resolved to an absolute path
  std::optional<std::string> auth_url;
  std::optional<upstream::api_version> api_version;
  std::optional<std::string> scope;
  std::optional<principal_set> allow;
  std::map<std::string, std::string> sub_organizations;  ///< alias -> GUID (lower case)

  friend bool operator==(const org_config&, const org_config&) = default;
};

/// One thing wrong with a config file: `file: key: reason`.
struct config_problem {
  std::string file;
  std::string key;
  std::string reason;

  /// `file: key: reason`.
  std::string to_string() const;
};

/// Every key of the config file, with SPEC §2's defaults. Mode-dependent
/// values (socket, key_dir, socket_mode) are filled in by `parse_config`.
struct config {
  std::filesystem::path socket;
  unsigned socket_mode = 0600;
  std::optional<std::string> socket_group;
  std::optional<gid_t> socket_gid;  ///< `socket_group` resolved at load (name_resolution.hpp)
  std::filesystem::path key_dir;
  std::string auth_url = "https://auth.appcircle.io";
  upstream::api_version api_version = upstream::api_version::v3;
  std::string scope = "openid,profile,email";
  std::optional<std::filesystem::path> ca_file;
  /// The proxy URL as written; in locked memory, as it may hold a password.
  std::optional<platform::secure_buffer> proxy;
  std::chrono::seconds upstream_timeout{15};
  std::chrono::seconds min_ttl{60};
  std::chrono::seconds refresh_before{900};
  std::chrono::seconds default_token_ttl{600};
  std::chrono::seconds retry_rejected_after{300};
  unsigned max_exchanges_per_minute = 60;
  std::optional<std::filesystem::path> cache_file;
  std::size_t max_connections = 1024;
  std::string log_level = "info";
  std::optional<std::string> default_org;
  principal_set admin;
  principal_set allow;
  std::map<std::string, org_config> organizations;
  /// The audit log (SPEC §6): a file (relative: to the config's folder), or
  /// "-" for the daemon's own log; none when unset.
  std::optional<std::filesystem::path> audit_log;
  /// `$CREDENTIALS_DIRECTORY` at load time ("" if unset): key files there are
  /// managed by systemd (see `read_key_file`).
  std::filesystem::path credentials_dir;
  /// Problems that do not stop the config from loading: user and group names
  /// that do not resolve (their entries match nobody). `--check-config` and
  /// `last_reload` report them.
  std::vector<config_problem> warnings;
  /// Names by number, learnt at load (see `name_book`).
  name_book names;
};

/// Where relative paths in the file are resolved, and the mode's defaults.
struct config_context {
  std::filesystem::path file;             ///< the config file's path (for messages)
  mode_defaults defaults;                 ///< socket, key_dir, socket_mode by mode
  std::filesystem::path credentials_dir;  ///< `$CREDENTIALS_DIRECTORY`, "" if unset
};

using config_result = std::variant<config, std::vector<config_problem>>;

/// Parses config text (JSON with `//` and `/* */` comments). Pure: no files
/// are read; an empty text means "all defaults".
config_result parse_config(std::string_view text, const config_context& context);

}  // namespace actoken

namespace actoken {

/// Reads and parses the config file at `path`. A missing file is "all
/// defaults" unless `must_exist` (an explicit `--config`/`$ACTOKEND_CONFIG`).
config_result load_config(const std::filesystem::path& path, bool must_exist,
                          const config_context& context);

}  // namespace actoken
