#pragma once

/// @file
/// Reading an access key for `actoken key add`: from stdin only (never from an
/// argument, which `ps` would show), without echo on a terminal, into a buffer
/// that is wiped when it goes away; and building the JSON body around it.

#include <cstddef>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace actoken::client {

/// A fixed-capacity byte buffer for a secret. It never reallocates (so no stray
/// copies are left behind), is locked in memory when the OS allows, and is wiped
/// with explicit_bzero when cleared or destroyed.
class secret_buffer {
 public:
  /// Allocates `capacity` bytes up front.
  explicit secret_buffer(std::size_t capacity);
  /// Wipes (and unlocks) the whole capacity.
  ~secret_buffer();
  secret_buffer(const secret_buffer&) = delete;
  secret_buffer& operator=(const secret_buffer&) = delete;

  /// Appends `text`; false (and nothing appended) when it does not fit.
  bool append(std::string_view text);
  /// Where the next bytes may be written directly, e.g. by read(2).
  char* spare() noexcept { return data_.get() + size_; }
  /// How many bytes fit after the current content.
  std::size_t room() const noexcept { return capacity_ - size_; }
  /// Marks `n` bytes written at `spare()` as content (n <= room()).
  void commit(std::size_t n) noexcept;
  /// Drops surrounding white space, moving the rest to the front and wiping the freed tail.
  void trim() noexcept;
  /// Wipes the content.
  void clear() noexcept;

  /// The content, valid until the next change.
  std::string_view view() const noexcept { return {data_.get(), size_}; }
  /// Bytes of content.
  std::size_t size() const noexcept { return size_; }
  /// True when there is no content.
  bool empty() const noexcept { return size_ == 0; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
  bool locked_ = false;
};

/// The longest key `read_key` accepts (keys are a few hundred bytes at most).
inline constexpr std::size_t max_key_size = 8 * 1024;

/// Reads a key from `fd` into `key` (capacity at least `max_key_size + 1`).
/// On a terminal: prompts on `prompt`, turns echo off (restored on return and on
/// SIGINT/SIGTERM/SIGHUP/SIGQUIT) and reads one line. Otherwise: reads to end of
/// input. Surrounding white space is dropped; an empty key, or one with inner
/// white space or control characters, is refused. Returns an error message
/// (never containing the key) or nothing on success.
std::optional<std::string> read_key(int fd, std::ostream& prompt, std::string_view org,
                                    secret_buffer& key);

/// Keeps a process that holds a key out of core dumps and away from ptrace by
/// other users (PR_SET_DUMPABLE 0 on Linux). Best effort: a refusal is ignored.
void protect_process_memory() noexcept;

/// Settings sent with a key (SPEC §4 `PUT /v1/orgs/{org}/key`).
struct key_settings {
  std::optional<std::string> auth_url;     ///< per-organization auth server
  std::optional<std::string> api_version;  ///< "v1", "v2", "v3" or "auto"
  bool persist = true;                     ///< false: keep the key in memory only
  bool verify = true;                      ///< the daemon exchanges it once before keeping it
};

/// Builds `{"key": ..., "auth_url"?, "api_version"?, "persist"?, "verify"?}` into `body`
/// without any intermediate copy of the key. False when `body` is too small.
bool build_key_body(std::string_view key, const key_settings& settings, secret_buffer& body);

}  // namespace actoken::client
