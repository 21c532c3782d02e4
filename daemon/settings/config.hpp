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

/// One sub-organization of an organization (SPEC §2 `sub_organizations`):
/// its GUID, and the peers that may use it when it has an `allow` of its own
/// (SPEC §4 "Least privilege for sub-organizations").
struct sub_org_config {
  std::string id;                      ///< the GUID, lower case
  std::optional<principal_set> allow;  ///< its own list; none: the organization's rule

  friend bool operator==(const sub_org_config&, const sub_org_config&) = default;
};

/// An organization's `sub_organizations` and `any_sub_org`, indexed both ways
/// when the config is loaded: a GUID listed under an alias is the same entry,
/// with the same `allow`, whichever way a request names it (SPEC §3).
class sub_org_list {
 public:
  /// Lists `sub` under `alias` (replacing an entry of that alias).
  void add(std::string alias, sub_org_config sub);

  /// The entry listed under `alias`, or null.
  const sub_org_config* by_alias(std::string_view alias) const;
  /// The entry listed for `guid` (lower case), or null when it is not listed.
  const sub_org_config* by_id(std::string_view guid) const;
  /// The first alias (by name) listed for `guid`, or null.
  const std::string* alias_of(std::string_view guid) const;

  /// Every entry by alias, sorted by alias.
  const std::map<std::string, sub_org_config, std::less<>>& entries() const noexcept {
    return by_alias_;
  }
  bool empty() const noexcept { return by_alias_.empty(); }
  /// Calls `resolve(alias, allow)` for each entry with an `allow` of its own,
  /// for the names in it to be resolved at load (name_resolution.hpp).
  template <class Resolve>
  void resolve_allows(Resolve&& resolve) {
    for (auto& [alias, sub] : by_alias_) {
      if (sub.allow) resolve(alias, *sub.allow);
    }
  }

  /// `any_sub_org`: whether GUIDs that are not listed may be asked for (by
  /// the peers the organization's rule lets in); false: they are `forbidden`.
  bool any_sub_org = true;

  friend bool operator==(const sub_org_list&, const sub_org_list&) = default;

 private:
  std::map<std::string, sub_org_config, std::less<>> by_alias_;
  std::map<std::string, std::string, std::less<>> alias_by_id_;  // GUID -> first alias
};

/// What a sink writes (SPEC §6 "Sinks").
enum class sink_format { token, json, env, appcircle_cli };

/// "token", "json", "env" or "appcircle-cli".
std::string_view to_string(sink_format format) noexcept;

/// One entry of an organization's `sinks`: a file the daemon keeps holding a
/// valid token (daemon/outputs/sinks.hpp).
struct sink_config {
  std::string
      path;  ///< as written: absolute, or `~/...` (the daemon user's home, expanded when used)
  sink_format format = sink_format::token;
  std::string sub_org_label;  ///< as written (alias or GUID), "" for the organization itself
  std::string sub_org;        ///< its GUID, lower case; "" for the organization itself
  unsigned mode =
      0600;  ///< permission bits: 0600, 0640, 0644, 0400, ... (no write or exec for others)
  std::optional<std::string> group;  ///< the file's group, by name or number, as written
  std::optional<gid_t> gid;          ///< `group` resolved at load (name_resolution.hpp)
  std::string group_problem;         ///< why `group` did not resolve: the sink is not written

  friend bool operator==(const sink_config&, const sink_config&) = default;
};

/// One entry of `organizations`.
struct org_config {
  std::optional<std::filesystem::path> key_file;  ///< already resolved to an absolute path
  /// argv of a program that prints the key (SPEC §2): non-empty; argv[0] an
  /// absolute path or a bare name looked up on the daemon's PATH when it runs.
  std::optional<std::vector<std::string>> key_command;
  std::optional<std::string> auth_url;
  std::optional<upstream::api_version> api_version;
  std::optional<std::string> scope;
  std::optional<principal_set> allow;
  sub_org_list sub_organizations;  ///< with `any_sub_org`
  std::vector<sink_config> sinks;  ///< SPEC §6 "Sinks"

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

/// Takes the top-level `proxy` string out of config `text` (JSON with
/// comments): its value decoded into locked memory, its literal overwritten
/// in `text` by `""` and spaces, so that the JSON library that parses the
/// rest never holds the password (SPEC §6). The last one when there are
/// several, as the parser keeps; nothing when there is none, or when the text
/// is not an object this small reader can walk (the parser then says why, or
/// reads the value itself). Pure.
std::optional<platform::secure_buffer> take_proxy(platform::secure_buffer& text);

/// Parses config text (JSON with `//` and `/* */` comments) from a copy in
/// locked memory, the proxy URL taken out first (`take_proxy`): neither the
/// text nor the parse holds a password once loaded. Pure: no files are read;
/// an empty text means "all defaults".
config_result parse_config(std::string_view text, const config_context& context);

}  // namespace actoken

namespace actoken {
/// The largest config file read (a config is a few KiB; this is a bound, not a
/// budget).
inline constexpr std::size_t max_config_size = 1024 * 1024;

/// Reads and parses the config file at `path`. A missing file is "all
/// defaults" unless `must_exist` (an explicit `--config`/`$ACTOKEND_CONFIG`);
/// one that exists but cannot be read, is not a regular file or is over
/// `max_config_size` is a problem.
config_result load_config(const std::filesystem::path& path, bool must_exist,
                          const config_context& context);

}  // namespace actoken
