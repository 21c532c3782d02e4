#pragma once

/// @file
/// The key store (SPEC §2 "Organizations and keys"): which organizations
/// exist, where each one's key comes from, and whether it is usable. Keys
/// live only in locked, wiped memory (`platform::secure_buffer`).

#include "daemon/platform/secure_memory.hpp"
#include "daemon/settings/config.hpp"
#include "daemon/upstream/url.hpp"

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace actoken {

class key_command_run;

/// Where an organization's key came from.
enum class key_source { config, key_dir, runtime, command };

/// "config", "key_dir", "runtime" or "command".
std::string_view to_string(key_source source) noexcept;

/// A key added through the API with `persist: false`, with the settings it
/// was added with; it lives in memory only. A persisted key is not kept here:
/// it is read back from key_dir like any key file.
struct runtime_key {
  platform::shared_key key;
  std::optional<std::string> auth_url;
  std::optional<upstream::api_version> api_version;
};

/// Everything the token service needs to know about one organization.
struct org_settings {
  std::string name;
  platform::shared_key key;          ///< null when there is no usable key
  std::optional<key_source> source;  ///< where `key` came from (or was meant to)
  std::string key_problem;           ///< why there is no usable key, "" if there is
  /// The run of its `key_command` that is still going, if any: a request
  /// that needs the key waits for it (key_command.hpp).
  std::shared_ptr<key_command_run> command;
  /// Why a key file, `<org>.json` or key_dir of this organization was refused
  /// (SPEC §2 "Private files"), for `/v1/orgs` `problems`.
  std::vector<std::string> problems;
  std::string auth_url;  ///< without trailing slash
  /// `auth_url` parsed when the table was built; null when it is not usable.
  std::shared_ptr<const upstream::url> server;
  upstream::api_version api_version = upstream::api_version::v3;
  std::string scope;
  std::optional<principal_set> allow;  ///< the org's own list, if any
  sub_org_list sub_organizations;      ///< the config's, with `any_sub_org`
  bool config_key_file = false;        ///< key managed by config (409 on PUT/DELETE)

  /// True when a token obtained under `other` is still good under these
  /// settings: same key bytes, auth server, API version and scope (SPEC §6).
  bool same_exchange_inputs(const org_settings& other) const noexcept;
};

/// What an organization's `key_command` has given so far (key_admin keeps
/// these): the key of its last good run, or why there is none; and the run
/// still going, if one is.
struct command_key {
  platform::shared_key key;
  std::string problem;
  std::shared_ptr<key_command_run> running;
};

/// The organizations, sorted by name.
using org_table = std::map<std::string, std::shared_ptr<const org_settings>>;

/// What to do about an organization without a usable key, for its `no_key`
/// message: it depends on where the key comes from (SPEC §2). A command's key
/// is fixed in its secret store or the daemon's environment, a config
/// `key_file` in the config (the API refuses to replace it); only a key_dir or
/// runtime key is replaced with `actoken key add`. "" when `problem` already
/// says what to do.
std::string no_key_hint(const org_settings& org);

/// Reads one key file through the private-file reader
/// (`platform::read_private_file`, SPEC §2 "Private files"): refused unless a
/// regular file of at most 64 KiB, owned by `daemon_uid` or root, not group-
/// or world-accessible, reached through no symbolic link but a safe one.
/// Returns the key (first line, white space trimmed) or sets `problem` to
/// "key file <path> <the check that failed>". A `systemd_credential` (a file
/// in `$CREDENTIALS_DIRECTORY`) may show a group read bit: systemd writes it
/// root-owned 0400 and grants the service user read access with an ACL, which
/// shows as that bit; the folder itself is private to the service.
platform::shared_key read_key_file(const std::filesystem::path& path, uid_t daemon_uid,
                                   std::string& problem, bool systemd_credential = false);

/// Why `key_dir` may not be read ("key_dir <path> <the check that failed>"),
/// or "" when it may or does not exist: a key_dir owned by another user, or
/// writable by group or others without the sticky bit, is refused whole.
/// `platform::any_owner` as `daemon_uid` judges the mode only.
std::string key_dir_problem(const std::filesystem::path& key_dir, uid_t daemon_uid);

/// Removes the temporary files `persist_key` leaves in `key_dir` when the
/// daemon is killed between writing and renaming one (`.<org>.key.tmp<digits>`,
/// `.<org>.json.tmp<digits>`, regular files owned by `daemon_uid`): they may
/// hold a key. Nothing is touched where the walk to key_dir is refused.
/// Returns how many.
std::size_t remove_stale_key_files(const std::filesystem::path& key_dir, uid_t daemon_uid);

/// Builds the organization table from the config, `<key_dir>/<org>.key` (and
/// `<org>.json`) files, runtime keys and what `key_command`s gave
/// (`commands`, by organization). Reads files; never throws for a bad key
/// file (the organization is then listed with a problem). Nothing is read
/// from a refused key_dir: organizations whose key would come from it are
/// listed without a key, with the reason.
org_table load_org_table(const config& cfg, const std::map<std::string, runtime_key>& runtime,
                         uid_t daemon_uid, const std::map<std::string, command_key>& commands = {});

/// The settings `name` would have if `added` became its key: as
/// `load_org_table` would build them with `added` as its runtime key (the
/// config's per-organization entry still over `added`'s own `auth_url` and
/// `api_version`). Reads no file: a key about to be kept has no file yet.
org_settings settings_with_key(const config& cfg, const std::string& name,
                               const runtime_key& added);

/// Writes `<key_dir>/<org>.key` (and `<org>.json` when `auth_url` or
/// `api_version` is given; else removes it) atomically with mode 0600, in the
/// folder the walk reaches for this process's uid (platform/folder_walk.hpp,
/// SPEC §6), creating missing folders 0700. Throws std::runtime_error naming
/// the path and the reason, also when the walk refuses a folder on the way
/// (a key is never written where another user could take or replace it).
void persist_key(const std::filesystem::path& key_dir, const std::string& org,
                 const platform::secure_buffer& key, const std::optional<std::string>& auth_url,
                 const std::optional<upstream::api_version>& api_version);

/// Removes `<key_dir>/<org>.key` and `<org>.json` through the walk to
/// key_dir; true when a key file existed, false also when key_dir does not.
/// Throws std::runtime_error with the reason when the walk refuses key_dir
/// or a removal fails.
bool remove_persisted_key(const std::filesystem::path& key_dir, const std::string& org);

}  // namespace actoken
