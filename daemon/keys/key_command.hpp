#pragma once

/// @file
/// An organization's `key_command` (SPEC §2): a program whose standard output
/// holds the key, run without a shell in the background on the daemon's
/// io_context. Its output is read straight into locked memory (at most
/// 64 KiB; the key is the first line); it has 10 s, then its process group is
/// killed. Exit status ≠ 0, no key or no answer in time give the reason: a
/// line of its standard error, sanitised, withheld when it holds the key just
/// printed or the key the organization holds. The key never reaches a log, a
/// message, a file or another program's argv.

#include "daemon/platform/child_process.hpp"
#include "daemon/platform/secure_memory.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken {

/// How long a key_command may run before it is killed (SPEC §2).
inline constexpr std::chrono::milliseconds key_command_timeout{10'000};
/// How much of its standard output is read; the rest is discarded.
inline constexpr std::size_t key_command_output_limit = 64 * 1024;
/// How much of its standard error is kept (only the first line is used).
inline constexpr std::size_t key_command_error_limit = 4096;
/// The longest reason taken from its standard error, in bytes.
inline constexpr std::size_t key_command_reason_limit = 200;

/// Said after a key_command's failure (SPEC §2), wherever a person reads it:
/// never "`actoken key add`" (refused for such an organization).
inline constexpr std::string_view key_command_hint =
    "the daemon runs the command with its own environment (PATH, HOME, GNUPGHOME, "
    "DBUS_SESSION_BUS_ADDRESS); after changing that environment, restart the daemon: a reload "
    "keeps the old one";

/// What a finished key_command gave: the key, or why there is none.
struct key_command_result {
  platform::shared_key key;  ///< null when `problem` says why
  std::string problem;
};

/// The line of `error_output` a failure's reason is made of, fit for a log
/// line and an API message (SPEC §2): the characters nothing shows removed
/// first (U+200B, bidi marks, controls, ...), then the first line that says
/// `error`, `fail`, `denied` or `not found` (in any case) or `No ` rather than
/// one that only warns (`gpg: WARNING: ...`), else the first line that says
/// anything; printable ASCII only, at most `key_command_reason_limit` bytes.
/// Withheld whole when it holds `key` (what the command printed) or `held`
/// (the key the organization already holds) in any encoding of
/// upstream/key_echo.hpp, before or after what is not shown is dropped. Pure.
std::string sanitise_command_reason(std::string_view error_output, std::string_view key,
                                    std::string_view held = {});

/// "key_command <argv0>" as messages name a command: the program only, never
/// its arguments (they are the user's, and may be sensitive).
std::string command_label(const std::vector<std::string>& argv);

/// Turns what the command wrote and how it ended into a key or a reason.
/// `ended` is null when it was killed for taking longer than `timeout`;
/// `held`: the key the organization already holds (withheld from the reason
/// too). Pure.
key_command_result interpret_key_command(const std::vector<std::string>& argv,
                                         const platform::secure_buffer& output,
                                         const platform::secure_buffer& error_output,
                                         const std::optional<platform::child_exit>& ended,
                                         std::chrono::milliseconds timeout,
                                         std::string_view held = {});

/// One run of one organization's key_command; see the file comment. Waiters
/// (`wait`) all wake when it ends; `on_done` is called first, so that they
/// find the organization's table already rebuilt with its result.
class key_command_run : public std::enable_shared_from_this<key_command_run> {
 public:
  /// Called once, on the executor, when the run has a result (not when cancelled).
  using done_handler = std::function<void(const key_command_run&)>;

  /// `held`: the key the organization holds as the command runs again (its
  /// last good run's, or the one just rejected), never repeated in a reason.
  key_command_run(boost::asio::any_io_executor executor, std::string org,
                  std::vector<std::string> argv,
                  std::chrono::milliseconds timeout = key_command_timeout,
                  platform::shared_key held = nullptr);
  key_command_run(const key_command_run&) = delete;
  key_command_run& operator=(const key_command_run&) = delete;

  /// Starts the command in the background; returns at once.
  void start(done_handler on_done);
  /// Stops the run: its process group is killed now (also when the
  /// io_context no longer runs, as at shutdown), its waiters wake, and
  /// `on_done` is not called.
  void cancel() noexcept;

  /// True from `start` until the run has ended (or was cancelled).
  bool running() const noexcept { return running_; }
  /// The result, once `running()` is false.
  const key_command_result& result() const noexcept { return result_; }
  const std::string& org() const noexcept { return org_; }
  const std::vector<std::string>& argv() const noexcept { return argv_; }

  /// Completes when the run has ended; at once when it has.
  boost::asio::awaitable<void> wait();

 private:
  boost::asio::awaitable<void> run(std::shared_ptr<key_command_run> self);
  void finish(key_command_result result);

  boost::asio::any_io_executor executor_;
  std::string org_;
  std::vector<std::string> argv_;
  std::chrono::milliseconds timeout_;
  platform::shared_key held_;
  boost::asio::steady_timer deadline_;  // fires at the timeout, or at cancel()
  boost::asio::steady_timer done_;      // cancelled when the run ends: wakes waiters
  done_handler on_done_;
  // The child while the run goes: its pid turns -1 the moment it is reaped,
  // so cancel() never signals a pid that may have been reused.
  const platform::child_process* child_ = nullptr;
  bool running_ = false;
  bool cancelled_ = false;
  key_command_result result_;
};

}  // namespace actoken
