#include "daemon/platform/secure_memory.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

namespace actoken::platform {
namespace {

std::size_t page_size() noexcept {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

// Whole pages, so that unlocking one allocation never unlocks another's page.
std::size_t rounded(std::size_t size) noexcept {
  const auto page = page_size();
  return ((size == 0 ? 1 : size) + page - 1) / page * page;
}

// Whether memory stayed locked, and who hears of the first failure. Any thread
// may allocate (a key command's reader, the main loop).
std::atomic<bool> all_locked{true};
std::mutex report_mutex;
std::function<void(const std::string&)> report_failure;
std::string first_failure;

void note_failure(const char* call, int error) {
  const std::lock_guard lock(report_mutex);
  if (!all_locked.exchange(false)) return;  // reported once, at the first
  first_failure = std::string(call) + ": " + std::generic_category().message(error);
  if (report_failure) report_failure(first_failure);
}

}  // namespace

bool secure_memory_locked() noexcept { return all_locked.load(); }

void on_secure_memory_failure(std::function<void(const std::string&)> report) {
  const std::lock_guard lock(report_mutex);
  report_failure = std::move(report);
  if (!all_locked.load() && report_failure) report_failure(first_failure);
}

void* secure_allocate(std::size_t size) {
  const auto length = rounded(size);
  void* pointer = std::aligned_alloc(page_size(), length);
  if (pointer == nullptr) {
    throw std::bad_alloc();
  }
  // Both are best effort: RLIMIT_MEMLOCK may be small for an unprivileged
  // user; the memory is still wiped on release either way. A failure is
  // reported once and shown in /v1/status, so the operator can raise it.
  if (::mlock(pointer, length) != 0) note_failure("mlock", errno);
  if (::madvise(pointer, length, MADV_DONTDUMP) != 0) note_failure("madvise(MADV_DONTDUMP)", errno);
  return pointer;
}

bool probe_secure_memory() {
  secure_deallocate(secure_allocate(page_size()), page_size());
  return secure_memory_locked();
}

void secure_deallocate(void* pointer, std::size_t size) noexcept {
  if (pointer == nullptr) {
    return;
  }
  const auto length = rounded(size);
  secure_wipe(pointer, length);
  (void)::munlock(pointer, length);
  (void)::madvise(pointer, length, MADV_DODUMP);
  std::free(pointer);
}

void secure_wipe(void* pointer, std::size_t size) noexcept {
  if (pointer != nullptr && size != 0) {
    ::explicit_bzero(pointer, size);
  }
}

bool disable_core_dumps() noexcept { return ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0; }

}  // namespace actoken::platform
