#pragma once

/// @file
/// The one reader for private files (SPEC §2 "Private files"): key files,
/// `<org>.json` files, config `key_file`s and the cache file are opened,
/// checked and read here, as ssh's StrictModes treats a private key. Opening
/// never blocks (a FIFO or a device cannot stall the daemon); every check is
/// made with `fstat` on the descriptor that is then read; a symbolic link is
/// followed only where no one but the daemon's user or root could have placed
/// it. A refusal names the path and the check that failed, never the content.

#include "daemon/platform/secure_memory.hpp"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>

namespace actoken::platform {

/// The size cap of a private file unless a caller says otherwise.
inline constexpr std::size_t default_private_file_cap = 64 * 1024;

/// What a private file must satisfy.
struct private_file_rules {
  /// The daemon's uid: files and links owned by it or by root are accepted.
  uid_t daemon_uid = 0;
  /// The largest size accepted, in bytes.
  std::size_t max_size = default_private_file_cap;
  /// A systemd credential (a file in `$CREDENTIALS_DIRECTORY`): systemd writes
  /// it root-owned 0400 and grants the service user read access with an ACL,
  /// which shows as a group read bit; that bit alone is then accepted.
  bool systemd_credential = false;
  /// False for a file that is not secret (an `appcircle-cli` sink's config
  /// store, whose mode the user chose): its group and world bits are not
  /// judged. Everything else still is.
  bool owner_only = true;
  /// For `read_private_file_in`: a symbolic link at the name counts as
  /// nothing there (`missing`) rather than a refusal: a sink replaces it.
  bool link_is_missing = false;
};

/// How reading or checking a private file ended.
enum class private_file_status {
  ok,       ///< accepted (and read)
  missing,  ///< nothing at the path
  refused,  ///< something there, but not acceptable or not readable
};

/// The outcome of `read_private_file` and `check_private_file`.
struct private_file_result {
  private_file_status status = private_file_status::ok;
  /// Unless ok: the path and the check that failed, e.g. "/k/acme.key is a
  /// FIFO" or "/k/acme.key has mode 0644: group- or world-readable; chmod 600
  /// it". Never any byte of the file.
  std::string problem;

  bool ok() const noexcept { return status == private_file_status::ok; }
  bool missing() const noexcept { return status == private_file_status::missing; }
  bool refused() const noexcept { return status == private_file_status::refused; }
};

/// Reads the private file at `path` into `out` (emptied first; left empty
/// unless the result is ok). Keys go into a `secure_buffer` so they never
/// touch ordinary memory.
private_file_result read_private_file(const std::filesystem::path& path,
                                      const private_file_rules& rules, secure_buffer& out);

/// The same for files that hold no secret of their own (settings, the
/// encrypted cache file).
private_file_result read_private_file(const std::filesystem::path& path,
                                      const private_file_rules& rules, std::string& out);

/// Opens and checks `path` as `read_private_file` does, without reading it.
private_file_result check_private_file(const std::filesystem::path& path,
                                       const private_file_rules& rules);

/// Reads back `path`, a file the daemon also writes, from the folder open as
/// `folder` (a descriptor `walk_to_folder` gave, folder_walk.hpp; `path`'s
/// last name is the entry, the whole of it what messages say), SPEC §6: opened
/// with `O_NOFOLLOW` and without blocking, never through a symbolic link (a
/// link is refused, "is a symbolic link", unless `rules.link_is_missing`),
/// then judged on the descriptor as `read_private_file` judges: a regular
/// file owned by `rules.daemon_uid` or root, its mode (when
/// `rules.owner_only`), its size. A file refused here is neither imported
/// nor overwritten by the caller.
private_file_result read_private_file_in(int folder, const std::filesystem::path& path,
                                         const private_file_rules& rules, std::string& out);

/// Opens and judges `path` in `folder` as `read_private_file_in` does,
/// without reading it.
private_file_result check_private_file_in(int folder, const std::filesystem::path& path,
                                          const private_file_rules& rules);

/// For `check_private_folder`: the daemon's uid is not known here (a check
/// run by root for a daemon that runs as another user), so any owner passes.
inline constexpr uid_t any_owner = static_cast<uid_t>(-1);

/// Checks a folder of private files (`key_dir`): refused unless it is a folder
/// owned by `daemon_uid` (or anyone, for `any_owner`) or root and, unless
/// sticky, not writable by group or others. `missing` when nothing is there.
private_file_result check_private_folder(const std::filesystem::path& path, uid_t daemon_uid);

}  // namespace actoken::platform
