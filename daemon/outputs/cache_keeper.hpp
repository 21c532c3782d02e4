#pragma once

/// @file
/// The cache file (SPEC §6 `cache_file`) as the running daemon keeps it:
/// tokens restored from it at start; a file that exists but is refused as a
/// private file never overwritten (persistence stays off until a reload
/// checks again); rewritten a second after the cached tokens change
/// (coalesced), and at once when asked (a key change, shutdown). Its state
/// is `/v1/status`'s `cache_file`. The encoding is persist/cache_file's.

#include "daemon/outputs/cache_file.hpp"
#include "daemon/outputs/status_info.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace actoken {

/// Keeps the cache file; see the file comment.
class cache_keeper {
 public:
  cache_keeper(boost::asio::any_io_executor executor, tokens::token_service& tokens,
               const clock_source& clock, uid_t daemon_uid);

  /// At start: keeps `path` (or none) and restores the tokens the file holds
  /// whose organization's key and settings are unchanged.
  void restore(std::optional<std::filesystem::path> path);
  /// On reload: keeps `path` (or none) and checks again whether it may be
  /// replaced.
  void reconfigure(std::optional<std::filesystem::path> path);
  /// Writes the file a second from now, once for all changes until then.
  void schedule_write();
  /// Writes the file now.
  void write_now();
  /// The file's state; nullopt when none is configured.
  const std::optional<api::cache_file_info>& status() const noexcept { return status_; }

 private:
  void turn_off(const std::string& problem);
  void write_entries();
  /// Entries are sealed under their organization's key and bound to its
  /// auth_url, api_version and scope (SPEC §6).
  persist::org_lookup seal_lookup() const;
  boost::asio::awaitable<void> delayed_write();

  boost::asio::any_io_executor executor_;
  tokens::token_service& tokens_;
  const clock_source& clock_;
  uid_t daemon_uid_;
  std::optional<std::filesystem::path> path_;
  std::optional<api::cache_file_info> status_;  ///< null when no cache_file is configured
  bool write_pending_ = false;
};

}  // namespace actoken
