#pragma once

/// @file
/// Key administration (SPEC §4 `PUT` and `DELETE /v1/orgs/{org}/key`): keys
/// added at runtime, keys persisted to key_dir, and the organization table
/// the token service is given, rebuilt from the config, the key files and
/// the runtime keys. One rule says which keys the API may not change (those
/// of a config `key_file`); one order applies every change: the
/// organization's tokens are evicted, then the table is rebuilt. The
/// configuration is passed in with each call; nothing here keeps it.

#include "common/error.hpp"
#include "daemon/config.hpp"
#include "daemon/keys.hpp"
#include "daemon/tokens/token_service.hpp"

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace actoken {

/// Adds, replaces and removes keys; see the file comment.
class key_admin {
 public:
  key_admin(tokens::token_service& tokens, uid_t daemon_uid);

  /// Hands the token service the organizations of `cfg`, the key files and
  /// the runtime keys (start, and `reload`, which also ends rests).
  void load(const config& cfg, bool reload);

  /// Adds or replaces `org`'s key: written to key_dir (with `auth_url` and
  /// `api_version` in `<org>.json`) when `persist`, else kept in memory.
  /// nullopt when done.
  std::optional<failure> put(const config& cfg, const std::string& org, platform::secure_buffer key,
                             std::optional<std::string> auth_url,
                             std::optional<upstream::api_version> api_version, bool persist);

  /// The settings `org` would have with `key` (see `settings_with_key`), or
  /// the refusal `put` would give before touching anything.
  std::variant<std::shared_ptr<const org_settings>, failure> trial(
      const config& cfg, const std::string& org, const platform::shared_key& key,
      const std::optional<std::string>& auth_url,
      const std::optional<upstream::api_version>& api_version) const;

  /// Removes `org`'s runtime key and key_dir files; nullopt when done.
  std::optional<failure> remove(const config& cfg, const std::string& org);

 private:
  std::optional<failure> refuse_if_managed_by_config(const std::string& org) const;
  void apply_change(const config& cfg, const std::string& org);

  tokens::token_service& tokens_;
  uid_t daemon_uid_;
  std::map<std::string, runtime_key> runtime_keys_;
};

}  // namespace actoken
