#pragma once

/// @file
/// The audit log (SPEC §6 "Audit"): one JSON line per `/v1/token` answer
/// (served or refused), key change, flush and reload, saying who asked (uid,
/// user, pid, executable, systemd unit), what for, and what came of it — the
/// token's fingerprint, never the token. Lines go to a file opened
/// append-only (reopened on SIGHUP, for logrotate) or to the daemon's own log.
/// Auditing never stops the service: a line that cannot be written is
/// counted (`actoken_audit_errors_total`) and the failure logged, at most
/// once a minute.

#include "common/unique_fd.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/runtime/clock.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace actoken {

/// One audited event. Empty views are written as null.
struct audit_record {
  /// Who asked; null for a reload by SIGHUP (a signal's sender is not known).
  const platform::peer_credentials* peer = nullptr;
  /// The peer's user name from the `name_book` learnt at load; nullopt for a
  /// uid the config does not name (no name service while serving).
  std::optional<std::string_view> user;
  std::string_view action;  ///< "token", "key_put", "key_delete", "flush" or "reload"
  std::string_view org;
  std::string_view sub_org;  ///< as asked: alias or GUID
  std::string_view result;   ///< "ok" or an error code
  std::string_view source;   ///< "cache" or "exchange" for a served token
  std::string_view token;    ///< the served token's fingerprint
};

/// The `result` of a reload whose new config was refused (the old one is
/// kept): not an error code of the API, whose answer is 200 either way.
inline constexpr std::string_view audit_reload_refused = "config_refused";

/// Appends `record`, stamped `at`, as one JSON line (newline included) with
/// exactly SPEC §6's members:
/// `{"at","peer":{"uid","user","pid","exe","unit"},"action","org","sub_org","result","source","token"}`.
/// Pure.
void append_audit_line(std::string& out, wall_time at, const audit_record& record);

/// Writes audit lines where the config's `audit_log` says. One thread: call
/// it from the io_context's thread only.
class audit_log {
 public:
  /// Lines are batched: those recorded within `flush_delay` of the first go
  /// out in one write (at once past 64 KiB), so that auditing costs a busy
  /// daemon little; a crash loses at most that long's lines.
  audit_log(boost::asio::any_io_executor executor, const clock_source& clock, uid_t daemon_uid);

  /// How long a recorded line may wait to be written.
  static constexpr std::chrono::milliseconds flush_delay{50};
  ~audit_log();
  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  /// The daemon's own log, as `audit_log: "-"` says.
  static constexpr std::string_view daemon_log = "-";

  /// Sets where lines go (nullopt: nowhere; `daemon_log`; a file) and
  /// (re)opens the file, also when the path is unchanged (SIGHUP after
  /// logrotate renamed it). Lines already recorded go to the old file first.
  /// Returns what went wrong, "" when nothing did; it is logged here too.
  /// A file that cannot be opened leaves the one open before in use, if any.
  std::string configure(std::optional<std::filesystem::path> target);

  /// Whether lines are recorded at all (and peers' details worth reading).
  bool enabled() const noexcept { return target_.has_value(); }

  /// Records one line (stamped now).
  void record(const audit_record& record);

  /// Writes the lines recorded so far.
  void flush();

  /// Lines that could not be written.
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  /// Now as RFC 3339 text.
  std::string_view now_text();
  void schedule_flush();
  void write_to_daemon_log(std::string_view line);
  void lost(std::size_t lines, const std::string& why);

  boost::asio::steady_timer flush_timer_;
  const clock_source& clock_;
  uid_t daemon_uid_;
  std::optional<std::filesystem::path> target_;
  bool to_daemon_log_ = false;       ///< `target_` is `daemon_log` (compared once, not per line)
  std::filesystem::path open_path_;  ///< the file `file_` was opened as
  unique_fd file_;
  std::string open_problem_;  ///< why no file is open, while one should be
  bool broken_line_ = false;  ///< a write stopped mid-line: start the next on a new line
  std::string pending_;       ///< lines recorded, not yet written
  bool flush_scheduled_ = false;
  std::uint64_t errors_ = 0;
  wall_time at_second_{};
  std::string at_text_;
  std::optional<mono_time> last_warning_;
};

}  // namespace actoken
