#pragma once

/// @file
/// Memory for secrets: page-aligned, locked (never swapped), excluded from
/// core dumps, and wiped before it is freed. Linux calls live in the .cpp so a
/// port to another OS changes one file.

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::platform {

/// Allocates `size` bytes of locked, non-dumpable memory; throws std::bad_alloc.
void* secure_allocate(std::size_t size);

/// Wipes and frees memory from `secure_allocate`.
void secure_deallocate(void* pointer, std::size_t size) noexcept;

/// Overwrites `size` bytes at `pointer` with zeros in a way the optimiser keeps.
void secure_wipe(void* pointer, std::size_t size) noexcept;

/// True while every secure allocation so far was both locked (`mlock`) and
/// excluded from core dumps (`MADV_DONTDUMP`); false from the first failure
/// on, e.g. when RLIMIT_MEMLOCK is too small (SPEC §6, `/v1/status`
/// `secure_memory`).
bool secure_memory_locked() noexcept;

/// Locks one page and frees it again, so that `secure_memory_locked` (and
/// `/v1/status`) tells the truth from the start rather than from the first
/// key (SPEC §6); a failure is reported as any other. Returns
/// `secure_memory_locked()`.
bool probe_secure_memory();

/// Registers `report`, called once with the reason (e.g. "mlock: Cannot
/// allocate memory") at the first allocation that could not be locked or
/// excluded from dumps; at once when one already failed. Later failures are
/// not reported again. Replaces an earlier registration.
void on_secure_memory_failure(std::function<void(const std::string& reason)> report);

/// Makes the process non-dumpable (no core dumps, no ptrace by other uids).
/// Returns false when the OS refused.
bool disable_core_dumps() noexcept;

/// An allocator whose memory is locked, not dumped, and wiped when freed.
template <class T>
struct secure_allocator {
  using value_type = T;

  secure_allocator() noexcept = default;
  template <class U>
  secure_allocator(const secure_allocator<U>& /*other*/) noexcept {}  // NOLINT: rebind

  T* allocate(std::size_t n) { return static_cast<T*>(secure_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { secure_deallocate(p, n * sizeof(T)); }

  friend bool operator==(const secure_allocator&, const secure_allocator&) noexcept { return true; }
};

/// A growable byte buffer for secrets. A vector, not a string: no small-string
/// buffer inside the object where a short secret would escape the wipe.
class secure_buffer {
 public:
  secure_buffer() = default;
  explicit secure_buffer(std::string_view text) { append(text); }

  /// Appends bytes.
  void append(std::string_view text) { bytes_.insert(bytes_.end(), text.begin(), text.end()); }
  /// Appends one byte.
  void push_back(char c) { bytes_.push_back(c); }
  /// Reserves capacity up front so that growth does not leave copies behind.
  void reserve(std::size_t n) { bytes_.reserve(n); }
  /// The bytes, valid until the next change.
  std::string_view view() const noexcept { return {bytes_.data(), bytes_.size()}; }
  const char* data() const noexcept { return bytes_.data(); }
  /// Writable bytes, for reading straight into the buffer (`resize` first).
  char* data() noexcept { return bytes_.data(); }
  /// Grows (with zeros) or shrinks the buffer; within `reserve`d capacity it
  /// never moves, so no copy is left behind.
  void resize(std::size_t n) { bytes_.resize(n); }
  std::size_t size() const noexcept { return bytes_.size(); }
  bool empty() const noexcept { return bytes_.empty(); }
  /// Wipes and empties the buffer.
  void clear() noexcept {
    secure_wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }

  friend bool operator==(const secure_buffer& a, const secure_buffer& b) noexcept {
    return a.view() == b.view();
  }

 private:
  std::vector<char, secure_allocator<char>> bytes_;
};

/// A secret (an organization's key) shared by everything that uses it;
/// replaced, never mutated.
using shared_key = std::shared_ptr<const secure_buffer>;

}  // namespace actoken::platform
