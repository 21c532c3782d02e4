#pragma once

/// @file
/// `actokend --detach` (SPEC §2), the `ssh-agent` way to start a per-user
/// daemon without a service manager: when a genuine daemon already answers
/// on the socket, nothing is started; otherwise the daemon is started in the
/// background, its log lines appended to `actokend.log` in
/// `${XDG_STATE_HOME:-~/.local/state}/actoken`, and waited for until it is
/// ready (at most 5 s). Either way the `actoken env` line for the socket is
/// printed, so `eval "$(actokend --detach)"` in every shell starts one daemon.
/// Two starts at once end well: the second daemon finds the socket's lock
/// taken, says so to its waiting parent, and that parent waits for the first
/// daemon to answer instead of failing.

#include "common/shell_env.hpp"
#include "daemon/platform/background.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace actoken {

/// How long `--detach` waits for the daemon it started to be ready.
inline constexpr std::chrono::seconds detach_ready_limit{5};

/// What a starting daemon tells whoever waits for it.
enum class start_event {
  ready,         ///< listening (SPEC §6: ready means listening)
  socket_taken,  ///< another daemon holds the socket's lock: it will answer there
};

/// Called by the daemon at a `start_event`; empty when nobody waits.
using start_reporter = std::function<void(start_event)>;

/// What `--detach` needs, resolved before anything starts.
struct detach_request {
  std::filesystem::path socket;  ///< absolute: the printed line is used from any folder
  shell_syntax shell = shell_syntax::sh;
  std::filesystem::path log_file;  ///< `user_state_dir(...) / "actokend.log"`
  /// The uids a genuine daemon runs as (SPEC §5): this one, root and the
  /// system daemon's user (`actoken`) when it exists.
  std::vector<uid_t> trusted;
};

/// Why the listener that gave `answer` (to `GET /v1/health`), on a socket in
/// a folder described by `folder`, is not a genuine daemon; "" when it is:
/// the folder is not a link, belongs to a trusted uid and is writable by no
/// one else, the listener runs as a trusted uid, and it answered 200 with
/// `"status": "ok"`. Pure.
std::string genuine_daemon_problem(const platform::folder_stat& folder,
                                   const platform::socket_answer& answer,
                                   const std::vector<uid_t>& trusted);

/// What `--detach` leaves for this process to do.
struct detach_outcome {
  /// Set when this process is done (the line printed, or a failure said on
  /// stderr): exit with it.
  std::optional<int> exit_code;
  /// In the background process, which goes on to run the daemon: to be
  /// called when it is ready, or finds the socket taken.
  start_reporter report;
};

/// Runs `--detach` as the file comment says. Prints to stdout and stderr;
/// forks. Call before any thread exists.
detach_outcome detach(const detach_request& request);

}  // namespace actoken
