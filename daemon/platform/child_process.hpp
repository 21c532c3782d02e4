#pragma once

/// @file
/// Starting a helper program without a shell (SPEC §2 `key_command`): its
/// standard input `/dev/null`, its standard output and error pipes the
/// daemon reads, no other descriptor of the daemon's, the daemon's
/// environment, a process group of its own (so that a timeout kills what it
/// started too). The child is waited for by its pid only, through a pidfd,
/// never by `waitpid(-1)`: nobody else's exit is taken. Linux calls live in
/// the .cpp.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace actoken::platform {

/// A started child and the daemon's ends of its pipes (non-blocking, close-on-exec).
struct child_process {
  pid_t pid = -1;
  unique_fd stdout_read;
  unique_fd stderr_read;
  /// Readable once the child has exited (`pidfd_open`, Linux ≥ 5.3); -1
  /// where the kernel has none, and then the caller polls `try_reap`.
  unique_fd pidfd;
};

/// Starts `argv` (non-empty; `argv[0]` an absolute path, or a name looked up
/// on the daemon's `PATH` now). Returns the child, or nullopt with `problem`
/// set (e.g. "pass: not found on PATH").
std::optional<child_process> start_child(const std::vector<std::string>& argv,
                                         std::string& problem);

/// Sends SIGKILL to the child's process group (the child and what it started
/// without leaving its group). Safe until the child is reaped: its pid cannot
/// be reused before.
void kill_child_group(const child_process& child) noexcept;

/// How a child ended.
struct child_exit {
  bool exited = false;  ///< true: `code` is the exit status; false: killed by `signal`
  int code = 0;
  int signal = 0;
};

/// True once the child has ended; it is not reaped (`waitid` with
/// `WNOWAIT`), so its pid and process group stay reserved until `try_reap`.
bool has_ended(const child_process& child) noexcept;

/// Reaps the child when it has ended (`waitpid` on its pid, `WNOHANG`);
/// nullopt while it still runs. Call at most once after it returned a value.
std::optional<child_exit> try_reap(const child_process& child) noexcept;

/// Waits for the child to end and reaps it (blocking: for a child just
/// killed with SIGKILL, on a path where nothing can be awaited).
void reap_now(child_process& child) noexcept;

/// "exit status N" or "killed by signal NAME".
std::string describe(const child_exit& ended);

}  // namespace actoken::platform
