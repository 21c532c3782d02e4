#pragma once

/// @file
/// What `actokend --detach` (SPEC §2) asks of the operating system: a child
/// that leaves the caller's session and terminal, a one-byte report from it
/// on a pipe, and one question to whatever listens on a Unix socket (with the
/// listener's uid from the kernel). Linux calls live in the .cpp; a macOS port
/// would use the same calls but LOCAL_PEERCRED.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace actoken::platform {

/// One side of `start_in_background`.
struct background_start {
  bool in_child = false;  ///< true in the child, which goes on to be the daemon
  pid_t child = -1;       ///< in the parent: the child's pid
  /// The report pipe: in the child its write end, in the parent its read end
  /// (close-on-exec in both, so no program either starts inherits it).
  unique_fd report;
};

/// Forks. The child gets a session of its own (`setsid`: no controlling
/// terminal, no SIGHUP when the caller's terminal closes), `/dev/null` as
/// standard input and output, `log_fd` as standard error, `/` as its working
/// folder, and loses the variables by which a service manager speaks to its
/// own main process (`NOTIFY_SOCKET`, `LISTEN_*`, `WATCHDOG_*`,
/// `JOURNAL_STREAM`): the caller may be a service, the child is not it.
/// Call before any thread exists. Throws std::system_error when the pipe or
/// the fork fails; a child that cannot set itself up exits 1 at once, after a
/// line on `log_fd`.
background_start start_in_background(int log_fd);

/// Writes `byte` to the report pipe `fd`; a parent that is gone is ignored.
void send_report(int fd, char byte) noexcept;

/// What arrived on a report pipe by a deadline.
struct report_wait {
  std::optional<char> byte;  ///< the report, if one came
  bool timed_out = false;    ///< false with no byte: the writer closed it without one
};

/// Waits for one byte on `fd` until `deadline` (steady clock).
report_wait wait_for_report(int fd, std::chrono::steady_clock::time_point deadline) noexcept;

/// Waits for the child `pid` to end and reaps it (blocking).
void reap_child(pid_t pid) noexcept;

/// Kills the child `pid` (SIGKILL) and reaps it.
void kill_child(pid_t pid) noexcept;

/// What one request on a Unix socket got.
struct socket_answer {
  std::string problem;  ///< why nothing usable came back; "" when `reply` holds the answer
  uid_t peer_uid = 0;   ///< the listener's effective uid, from the kernel (SO_PEERCRED)
  std::string reply;    ///< the bytes it sent until it closed (at most 64 KiB)
};

/// Connects to the socket at `path`, sends `request` whole, and reads until
/// the other end closes, all by `deadline`. The peer's uid is read before
/// anything is sent.
socket_answer ask_unix_socket(const std::filesystem::path& path, const std::string& request,
                              std::chrono::steady_clock::time_point deadline);

/// The owner and mode of a folder itself (`lstat`: a symbolic link is reported
/// as such, never followed), or `problem` when it cannot be looked at.
struct folder_stat {
  std::string problem;
  bool is_link = false;
  uid_t owner = 0;
  mode_t mode = 0;
};

/// See `folder_stat`.
folder_stat stat_folder(const std::filesystem::path& folder) noexcept;

/// The last line of the file at `path` with any text in it (at most its last
/// 4 KiB are read), or "" when there is none.
std::string last_line_of(const std::filesystem::path& path);

}  // namespace actoken::platform
