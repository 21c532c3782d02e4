#pragma once

/// @file
/// Sinks (SPEC §6 "Sinks"): files the daemon keeps holding a valid token, for
/// tools that read a file and for jobs that outlive one token. Each sink's
/// cache key is kept warm (`token_service::keep_warm`) from start, with no
/// caller asking; each new token is written at once, atomically
/// (platform/sink_files.hpp); a file whose token expired with no new one, or
/// whose organization's key was removed or rejected, is deleted (an
/// `appcircle-cli` sink loses only its token: the rest of that file is the
/// user's). Writes happen only when a token changes, never while serving.

#include "daemon/outputs/status_info.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/settings/config.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken {

/// A sink's new text, or why the file must be left alone.
struct sink_text {
  std::string text;     ///< what to write (holds the token: the caller wipes it)
  std::string problem;  ///< set when nothing may be written
};

/// What sink `format` writes for `token` of `org` (`sub_org_label` as
/// configured, "" for none) at `now`. `existing` is the file as it is, for
/// `appcircle-cli` (nullopt: no file, or a link, which is replaced); an
/// Appcircle config that is not JSON or not an object is refused, never
/// overwritten. Pure.
sink_text render_sink(sink_format format, std::string_view org, std::string_view sub_org_label,
                      const tokens::cached_token& token, wall_time now,
                      std::optional<std::string_view> existing);

/// The text an `appcircle-cli` sink leaves when its token must go: the same
/// config with an empty `AC_ACCESS_TOKEN`; nullopt to leave the file alone.
std::optional<std::string> render_appcircle_without_token(std::string_view existing);

/// Keeps the sinks of every organization; see the file comment.
class sink_keeper {
 public:
  sink_keeper(boost::asio::any_io_executor executor, tokens::token_service& tokens,
              const clock_source& clock, uid_t daemon_uid);
  ~sink_keeper();
  sink_keeper(const sink_keeper&) = delete;
  sink_keeper& operator=(const sink_keeper&) = delete;

  /// Takes the sinks of `cfg` (start, reload): a sink configured as before
  /// keeps its state and file; a new one starts `pending`; the files of
  /// sinks no longer configured are deleted.
  void configure(const config& cfg);
  /// Starts keeping the sinks' tokens warm, in the background: readiness
  /// never waits for it.
  void start();
  /// An organization's key was added, replaced or removed: without a usable
  /// key now, its sink files are deleted at once.
  void key_changed(const std::string& org);
  /// The token service's news: a new token is written, a rejection deletes.
  void on_token(const tokens::token_event& event);
  /// Looks at every sink again now: the cached tokens changed (a flush
  /// evicted some: their cache keys are exchanged anew at once).
  void poke();

  /// The sinks of `org` for `/v1/orgs`.
  std::vector<api::sink_info> status(const std::string& org) const;
  /// Writes and removals that failed (`actoken_sink_failures_total`).
  std::uint64_t failures() const noexcept { return failures_; }

 private:
  struct sink;
  boost::asio::awaitable<void> keep_warm();
  std::chrono::steady_clock::duration pass();
  void write(sink& s, const std::shared_ptr<const tokens::cached_token>& token);
  void withdraw(sink& s, std::string state, std::string why);

  boost::asio::any_io_executor executor_;
  tokens::token_service& tokens_;
  const clock_source& clock_;
  uid_t daemon_uid_;
  std::vector<std::unique_ptr<sink>> sinks_;
  boost::asio::steady_timer timer_;
  bool started_ = false;
  std::uint64_t failures_ = 0;
};

}  // namespace actoken
