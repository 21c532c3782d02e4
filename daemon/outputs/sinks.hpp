#pragma once

/// @file
/// Sinks (SPEC §6 "Sinks"): files the daemon keeps holding a valid token, for
/// tools that read a file and for jobs that outlive one token. Each sink's
/// cache key is kept warm (`token_service::keep_warm`) from start, with no
/// caller asking; each new token is written at once, atomically, in the
/// folder the walk reached (platform/folder_walk.hpp, files.hpp); a file whose token expired with
/// no new one, or whose organization's key was removed or rejected, is deleted (an `appcircle-cli`
/// sink loses only its token: the rest of that file is the user's). Writes happen only when a token
/// changes, never while serving.

#include "daemon/outputs/status_info.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"
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
  /// Writes `token` to `s`'s file and records what came of it.
  void write(sink& s, const std::shared_ptr<const tokens::cached_token>& token);
  /// Takes the token out of `s`'s file (deletes it, or empties an
  /// `appcircle-cli` store's token) and sets `state` and `message`.
  void withdraw(sink& s, std::string state, std::string why);
  /// Walks to `s`'s folder once, reads back an `appcircle-cli` file through
  /// that descriptor and replaces the file there; nullopt, or why not.
  std::optional<std::string> replace(const sink& s, const tokens::cached_token& token) const;
  /// The file operation of `withdraw`, through one walk; nullopt or why not.
  std::optional<std::string> take_token_out(const sink& s) const;
  /// Removes a temporary file of `path`'s a crash left, when the walk allows.
  void remove_stale_temporary_file(const std::filesystem::path& path) const;
  /// How a sink's folder is walked, and how its file is read back (SPEC §6).
  platform::walk_rules folder_rules() const;
  platform::private_file_rules read_back_rules() const;

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
