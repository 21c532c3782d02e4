#pragma once

/// @file
/// The optional encrypted cache file (SPEC §6 `cache_file`): cached tokens
/// survive a restart. Each entry is sealed with AES-256-GCM under a key derived
/// by HKDF-SHA256 from its organization's access key, with the organization,
/// sub-organization, `auth_url`, `api_version` and `scope` bound as associated
/// data, so the file alone yields nothing, and an entry whose key or settings
/// changed (or that was altered or moved) is dropped, as a reload would drop
/// it. Restored tokens keep at most 24 h from when they were obtained, and
/// were never obtained in the future (SPEC §3), whatever an entry says.
///
/// What it does not protect against: whoever can write the file as the
/// daemon's user can put back an older file (a rollback to a token that is
/// still valid); that user can read the keys anyway.
///
/// Encoding and decoding are pure (bytes in, bytes out); only the functions
/// at the end touch the file system, each through the walk to the file's
/// folder (platform/folder_walk.hpp).

#include "daemon/platform/secure_memory.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/upstream/api_version.hpp"
#include "daemon/upstream/token_lifetime.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::persist {

/// One cached token as stored in, or restored from, the file.
struct persisted_token {
  std::string org;           ///< organization name
  std::string sub_org;       ///< sub-organization GUID, "" for the organization itself
  std::string access_token;  ///< the JWT
  wall_time obtained_at;     ///< stored with whole-second precision
  wall_time expires_at;      ///< stored with whole-second precision (rounded down)
};

/// What an organization's entries are sealed under: its key, and the
/// settings its tokens were obtained under (SPEC §6).
struct seal_inputs {
  platform::shared_key key;  ///< an entry is written and read only under a non-empty key
  std::string auth_url;
  upstream::api_version api_version = upstream::api_version::v3;
  std::string scope;
};

/// Returns an organization's current seal inputs, or nullopt when there is
/// no such organization.
using org_lookup = std::function<std::optional<seal_inputs>(const std::string& org)>;

/// The largest cache file `read_cache_file` accepts (SPEC §2 "Private files").
inline constexpr std::size_t max_cache_file_size = 1024 * 1024;

/// Builds the file's bytes: `{"version":2,"entries":[{"org","sub_org","salt",
/// "nonce","ciphertext","tag"}]}` (binary fields in base64). Each entry is
/// sealed under its organization's current settings from `org_of`. Tokens whose
/// organization has no key, or that have expired at `now`, are left out, and
/// so are those that would take the file over `max_cache_file_size` (a file
/// the next start would refuse). Throws std::runtime_error when OpenSSL fails
/// (the message holds no secret).
std::string encode_cache(const std::vector<persisted_token>& tokens, const org_lookup& org_of,
                         wall_time now);

/// What `decode_cache` recovered, and why anything was dropped.
struct decode_result {
  std::vector<persisted_token> tokens;  ///< entries that authenticated and are unexpired
  /// One line per dropped entry (naming its organization) or one line for a
  /// corrupt file; never containing a key or a token. Expired entries are
  /// dropped silently.
  std::vector<std::string> problems;
};

/// Reads the file's bytes. Never throws for bad input: a corrupt or truncated
/// document, or one of another version (version 1, whose entries were not
/// bound to `auth_url`, `api_version` and `scope`, included), gives no tokens
/// and one problem; an entry that does not authenticate under its
/// organization's current settings from `org_of` (the key or a setting
/// changed, tampering, truncation) or whose organization has no key is dropped
/// with a problem line. A restored token's `obtained_at` is at most `now` and
/// its `expires_at` at most `obtained_at + max_token_lifetime`: this is where
/// a restored token is capped.
decode_result decode_cache(std::string_view bytes, const org_lookup& org_of, wall_time now);

/// Replaces `path` atomically with `bytes`, in the folder the walk reaches
/// for `daemon_uid` (platform/folder_walk.hpp, SPEC §6): a temporary file in
/// that folder (created exclusively, mode 0600, not following links), write,
/// fsync, rename, fsync of the folder, all relative to its descriptor. Throws
/// std::runtime_error naming the path and what failed (a folder the walk
/// refuses or that does not exist, a step of the write).
void write_cache_file(const std::filesystem::path& path, std::string_view bytes, uid_t daemon_uid);

/// Reads `path` back from the folder the walk reaches, never through a
/// symbolic link (`platform::read_private_file_in`, with `daemon_uid` and
/// `max_cache_file_size`). Returns nullopt with an empty `problem` when the
/// file or its folder does not exist; nullopt with `problem` set ("cache
/// file <path>: <the folder the walk refused>", "cache file <path> <the check
/// that failed>") when it is refused: a folder on the way the walk refuses,
/// not a regular file (a symbolic link included), group- or
/// world-accessible, owned by neither `daemon_uid` nor root, over the size
/// cap, or unreadable.
std::optional<std::string> read_cache_file(const std::filesystem::path& path, std::string& problem,
                                           uid_t daemon_uid);

/// Why the file at `path` may be neither read nor replaced, as
/// `read_cache_file` would say it, without reading it; "" when it is
/// acceptable or absent (or its folder is). A refused file is never
/// overwritten (SPEC §6).
std::string cache_file_problem(const std::filesystem::path& path, uid_t daemon_uid);

/// Removes the temporary files a daemon killed while writing left beside
/// `path` (platform::remove_stale_temporary_files), in the folder the walk
/// reaches; none when it refuses. Returns how many.
std::size_t remove_stale_cache_files(const std::filesystem::path& path, uid_t daemon_uid);

}  // namespace actoken::persist
