#pragma once

/// @file
/// What the audit log says about a peer beyond its credentials: the program
/// it runs and the systemd unit it runs in (SPEC §6 "Audit"). Linux reads
/// them from /proc/<pid>; a macOS port would use proc_pidpath and leave the
/// unit null.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace actoken::platform {

/// The peer process's executable and systemd unit, as seen when it connected.
/// A pid can be reused once its process has gone, so these are read once, at
/// accept, while the connecting process is normally still there; a process
/// that has already exited reads as nulls.
struct process_details {
  /// `/proc/<pid>/exe`; nullopt when it cannot be read (the process has
  /// gone, or belongs to another user and the daemon is neither root nor
  /// allowed to trace it, or /proc hides it: systemd's ProtectProc=).
  std::optional<std::string> exe;
  /// The systemd unit of its cgroup (`session-3.scope`, `ci-runner.service`;
  /// under a user's service manager `user@1003.service/backup.service`),
  /// nullopt when it is in none or the cgroup cannot be read.
  std::optional<std::string> unit;
};

/// Reads the executable and unit of process `pid` (a readlink and one small
/// read of /proc; no name service, nothing that can block for long).
process_details process_details_of(pid_t pid);

/// The systemd unit in the text of a `/proc/<pid>/cgroup` file, from the
/// unified hierarchy's line `0::/...`, else the cgroup v1 `name=systemd`
/// line: the first path component ending in `.service` or `.scope` (the only
/// units that hold processes), slices skipped, as systemd itself reads it (a
/// delegated unit's sub-cgroups are its own, whatever they are named). Under
/// a user's service manager (`user@<uid>.service`), which delegates its
/// cgroup to the user, the user's unit is written after it:
/// `user@1003.service/backup.service`, never the bare `backup.service` a
/// system unit would be. nullopt when there is none (a container's `0::/`).
/// Pure.
std::optional<std::string> systemd_unit_of_cgroup(std::string_view cgroup_file);

}  // namespace actoken::platform
