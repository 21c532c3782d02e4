#pragma once

/// @file
/// Key administration (SPEC §4 `PUT` and `DELETE /v1/orgs/{org}/key`): keys
/// added at runtime, keys persisted to key_dir, and the organization table
/// the token service is given, rebuilt from the config, the key files and
/// the runtime keys and what `key_command`s gave. One rule says which keys
/// the API may not change (those of a config `key_file`, and those of a
/// `key_command` but for an ephemeral key put before it, SPEC §2);
/// one order applies every change: the organization's tokens are evicted,
/// then the table is rebuilt. The configuration is passed in with each call;
/// the last one is remembered only to rebuild the table when a key_command
/// ends (the app owns it and outlives this).

#include "common/error.hpp"
#include "daemon/keys/org_table.hpp"
#include "daemon/settings/config.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

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
  /// `executor` runs the key_commands.
  key_admin(boost::asio::any_io_executor executor, tokens::token_service& tokens, uid_t daemon_uid);
  /// Stops the key_commands still running (their process groups are killed).
  ~key_admin();
  key_admin(const key_admin&) = delete;
  key_admin& operator=(const key_admin&) = delete;

  /// Hands the token service the organizations of `cfg`, the key files and
  /// the runtime keys (start, and `reload`, which also ends rests). At start
  /// and on reload, every organization's key_command runs (again) in the
  /// background; meanwhile a key it gave before stays in use.
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
      const std::optional<upstream::api_version>& api_version, bool persist) const;

  /// Removes `org`'s runtime key and key_dir files; nullopt when done.
  std::optional<failure> remove(const config& cfg, const std::string& org);

 private:
  /// `ephemeral`: the change is to an in-memory key (add or remove one). A
  /// caller that does not know yet (a check before a trial exchange) leaves
  /// it true: `put` and `remove` decide with what they are given.
  std::optional<failure> refuse_if_managed_by_config(const std::string& org,
                                                     bool ephemeral = true) const;
  /// The organization's key_command in the last config, or null.
  const std::vector<std::string>* key_command_of(const std::string& org) const;
  void apply_change(const config& cfg, const std::string& org);
  void rebuild(const config& cfg, bool reload);
  /// Starts the key_commands of `cfg`; drops those no longer configured.
  void run_key_commands(const config& cfg);
  /// Starts `org`'s key_command; `keep_key`: its last key stays in use meanwhile.
  void run_key_command(const std::string& org, const std::vector<std::string>& argv, bool keep_key);
  void command_done(const key_command_run& run);
  /// After a rejection of a key a command gave, the rest, then the command again.
  boost::asio::awaitable<void> rerun_after_rest(std::string org, platform::shared_key rejected,
                                                std::chrono::steady_clock::duration rest);

  boost::asio::any_io_executor executor_;
  tokens::token_service& tokens_;
  uid_t daemon_uid_;
  std::map<std::string, runtime_key> runtime_keys_;
  std::map<std::string, command_key> commands_;
  const config* last_config_ = nullptr;
};

}  // namespace actoken
