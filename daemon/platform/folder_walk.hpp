#pragma once

/// @file
/// The one way to reach a folder the daemon writes in or deletes from (SPEC §6
/// "Every file the daemon writes or deletes": the socket and its lock, key
/// files stored in key_dir, the cache file, sink files, the audit log). The
/// path is walked from `/` one folder at a time, each opened relative to the
/// one before without following a link (`openat` with `O_NOFOLLOW` and
/// `O_DIRECTORY`) and judged with `fstat` on its own descriptor: owned by root
/// or the daemon's user, writable by neither group nor others, except a folder
/// of root's with the sticky bit on the way (`/tmp`: no one can rename or
/// remove an entry of another's there, so what lies below is judged in turn);
/// the last folder is never writable by group or others, sticky or not. A
/// symbolic link on the way is followed only when it is root's, in a folder
/// only root can write (Debian's `/var/run` -> `/run`). What the walk returns
/// is the last folder's descriptor: every create, read-back, rename and unlink
/// afterwards is relative to it, never by path again, so a folder swapped or a
/// link planted after the walk redirects nothing. OpenSSH's `safe_path()` is
/// the model, done with descriptors as systemd's `chase()` with `CHASE_SAFE`.

#include "common/unique_fd.hpp"

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace actoken::platform {

/// How a walk judges the folders on the way, and what it may create.
struct walk_rules {
  /// Folders owned by this uid or by root pass. `any_owner`
  /// (private_file.hpp): owners are not judged, modes still are (a check run
  /// by root for a daemon that will run as another user).
  uid_t daemon_uid = 0;
  /// Missing folders are created, one at a time from the last one that
  /// exists, each with exactly this mode (whatever the umask) and then judged
  /// like the others; nullopt: a missing folder ends the walk (`missing`).
  std::optional<mode_t> create_mode{};
};

/// What a walk found.
struct walk_result {
  /// The last folder, open (read-only; `O_PATH` when it cannot be read), when
  /// every folder on the way passed; -1 otherwise.
  unique_fd folder;
  /// Unless the walk got there: the path walked so far and the check that
  /// failed, e.g. "/srv/x is writable by its group (mode 0775)", "/a/b is a
  /// symbolic link owned by uid 1000: ...", "/a/b does not exist".
  std::string problem;
  /// True when the walk stopped at a folder that does not exist.
  bool missing = false;

  /// True when `folder` is open.
  bool ok() const noexcept { return folder.get() >= 0; }
};

/// Walks `folder` (made absolute against the working directory, and `.` and
/// `..` resolved by name) from `/` by descriptors, judging each folder as the
/// file comment says. Never throws.
walk_result walk_to_folder(const std::filesystem::path& folder, const walk_rules& rules);

/// The folder holding `file`: its parent, or `.` for a bare name.
std::filesystem::path folder_of(const std::filesystem::path& file);

/// True when `file` ends in a name a file can have (not empty, `.` or `..`).
bool names_a_file(const std::filesystem::path& file);

}  // namespace actoken::platform
