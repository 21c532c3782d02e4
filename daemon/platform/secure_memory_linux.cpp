#include "daemon/platform/secure_memory.hpp"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

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

}  // namespace

void* secure_allocate(std::size_t size) {
  const auto length = rounded(size);
  void* pointer = std::aligned_alloc(page_size(), length);
  if (pointer == nullptr) {
    throw std::bad_alloc();
  }
  // Both are best effort: RLIMIT_MEMLOCK may be small for an unprivileged
  // user; the memory is still wiped on release either way.
  (void)::mlock(pointer, length);
  (void)::madvise(pointer, length, MADV_DONTDUMP);
  return pointer;
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
